/**
 * kantine-gateway release publish <release-folder> --config F   (checked with releases.public_key_file)
 * kantine-gateway release target <version>|none [--reader <id>] --config F
 * kantine-gateway release list --config F
 *
 * The site's readers fetch the target release from the gateway, check it and install it into
 * their idle slot (docs/operations/it-guide.md). Works beside a running gateway: readers hear of a
 * new target within seconds.
 */
import { parseArgs } from 'node:util';
import { KantineError } from '@kantine/protocol';
import { withLedger } from './cli-ledger.ts';
import { ReleaseStore } from './releases.ts';

const USAGE = 'usage: kantine-gateway release publish <folder> | target <version>|none [--reader <id>] | list';

export async function releaseCommand(argv: string[], configPath: string): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, reader: { type: 'string' } },
  });
  const [verb, arg] = positionals;
  await withLedger(configPath, async (ledger, config) => {
    const store = new ReleaseStore(ledger, config);
    switch (verb) {
      case 'publish': {
        if (!arg) throw new KantineError('invalid_request', USAGE);
        process.stdout.write(`published\t${store.publish(arg)}\n`);
        return;
      }
      case 'target':
        if (!arg) throw new KantineError('invalid_request', USAGE);
        store.setTarget(arg === 'none' ? undefined : arg, values.reader);
        process.stdout.write(`target\t${arg}${values.reader ? `\t${values.reader}` : ''}\n`);
        return;
      case 'list': {
        // each version, then who runs it: `*` the whole site, or single readers
        const targets = Object.entries(store.targets());
        for (const v of store.list()) {
          const who = targets.filter(([, version]) => version === v).map(([reader]) => reader);
          process.stdout.write(`${v}${who.length ? `\ttarget ${who.join(' ')}` : ''}\n`);
        }
        return;
      }
      default:
        throw new KantineError('invalid_request', USAGE);
    }
  });
}
