/**
 * kantine-gateway release publish <release-folder> --config F   (checked with releases.public_key_file)
 * kantine-gateway release target <version>|none --config F
 * kantine-gateway release list --config F
 *
 * The site's readers fetch the target release from the gateway, check it and install it into
 * their idle slot (docs/operations/it-guide.md). Works beside a running gateway: readers hear of a
 * new target within seconds.
 */
import { parseArgs } from 'node:util';
import { KantineError } from '@kantine/protocol';
import { systemClock } from './clock.ts';
import { loadGatewayConfig } from './config.ts';
import { Ledger } from './ledger.ts';
import { ReleaseStore } from './releases.ts';

const USAGE = 'usage: kantine-gateway release publish <folder> | target <version>|none | list';

export async function releaseCommand(argv: string[], configPath: string): Promise<void> {
  const { positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' } },
  });
  const [verb, arg] = positionals;
  const config = loadGatewayConfig(configPath);
  const ledger = new Ledger(config.database, systemClock);
  try {
    const store = new ReleaseStore(ledger, config);
    switch (verb) {
      case 'publish': {
        if (!arg) throw new KantineError('invalid_request', USAGE);
        process.stdout.write(`published\t${store.publish(arg)}\n`);
        return;
      }
      case 'target':
        if (!arg) throw new KantineError('invalid_request', USAGE);
        store.setTarget(arg === 'none' ? undefined : arg);
        process.stdout.write(`target\t${arg}\n`);
        return;
      case 'list': {
        const target = store.target;
        for (const v of store.list()) process.stdout.write(`${v}${v === target ? '\ttarget' : ''}\n`);
        return;
      }
      default:
        throw new KantineError('invalid_request', USAGE);
    }
  } finally {
    ledger.close();
  }
}
