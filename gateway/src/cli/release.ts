/**
 * kantine-gateway release publish <release-folder> --config F   (checked with releases.public_key_file)
 * kantine-gateway release target <version>|none [--reader <id>] --config F
 * kantine-gateway release list --config F
 *
 * The site's readers fetch the target release from the gateway, check it and install it into
 * their idle slot (docs/operations/it-guide.md). Works beside a running gateway: readers hear of a
 * new target within seconds.
 */
import type { Command } from 'commander';
import { ReleaseStore } from '../readers/releases.ts';
import { withLedger } from './with-ledger.ts';

export function releaseCommands(program: Command, configPath: () => string): void {
  const release = program
    .command('release')
    .description('signed reader releases for the readers to fetch (works beside a running gateway)');

  release
    .command('publish')
    .description('check a release folder (built by `kantine release build`) with releases.public_key_file and keep it')
    .argument('<folder>')
    .action((folder: string) =>
      withLedger(configPath(), (ledger, config) => {
        process.stdout.write(`published\t${new ReleaseStore(ledger, config).publish(folder)}\n`);
      }),
    );

  release
    .command('target')
    .description('the version the readers run: the whole site, or one reader; `none` for one reader follows the site')
    .argument('<version>', 'a published version, or none')
    .option('--reader <id>', 'just this reader')
    .action((version: string, o: { reader?: string }) =>
      withLedger(configPath(), (ledger, config) => {
        new ReleaseStore(ledger, config).setTarget(version === 'none' ? undefined : version, o.reader);
        process.stdout.write(`target\t${version}${o.reader ? `\t${o.reader}` : ''}\n`);
      }),
    );

  release
    .command('list')
    .description('the published versions and who targets them (`*` the whole site, or single readers)')
    .action(() =>
      withLedger(configPath(), (ledger, config) => {
        const store = new ReleaseStore(ledger, config);
        // each version, then who runs it: `*` the whole site, or single readers
        const targets = Object.entries(store.targets());
        for (const v of store.list()) {
          const who = targets.filter(([, version]) => version === v).map(([reader]) => reader);
          process.stdout.write(`${v}${who.length ? `\ttarget ${who.join(' ')}` : ''}\n`);
        }
      }),
    );
}
