/**
 * kantine-gateway integration add <id> [name …] --config F   (prints the secret once)
 * kantine-gateway integration list --config F
 * kantine-gateway integration revoke <id> --config F
 *
 * Integrations (Node-RED, a lamp, an export) log in to the site's broker as `integration:<id>`
 * and may only subscribe to `kantine/{site}/events/…`. Works beside a running gateway: a new
 * integration can connect at once, and a revoked one is disconnected within seconds.
 */
import { parseArgs } from 'node:util';
import { ID_PATTERN, KantineError } from '@kantine/protocol';
import { hashSecret, newSecret } from '@kantine/protocol/credentials';
import { INTEGRATION_USER_PREFIX } from './acl.ts';
import { withLedger } from './cli-ledger.ts';

export async function integrationCommand(argv: string[], configPath: string): Promise<void> {
  const { positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' } },
  });
  const [verb, id, ...nameParts] = positionals;
  await withLedger(configPath, async (ledger) => {
    switch (verb) {
      case 'list':
        for (const i of ledger.listIntegrations()) {
          const state = i.revoked_at ? `revoked ${i.revoked_at}` : `active since ${i.created_at}`;
          process.stdout.write(`${i.id}\t${i.name}\t${state}\n`);
        }
        return;
      case 'add': {
        const name = nameParts.join(' ').trim() || (id ?? '');
        if (!id || !new RegExp(ID_PATTERN).test(id) || name.length > 80) {
          throw new KantineError(
            'invalid_request',
            'usage: kantine-gateway integration add <id> [name]  (id: a-z, 0-9, -; name at most 80 characters)',
          );
        }
        const secret = newSecret();
        ledger.putIntegration({ id, name, secret_hash: await hashSecret(secret) });
        process.stdout.write(`user name: ${INTEGRATION_USER_PREFIX}${id}\nsecret:    ${secret}\n`);
        if (process.stdout.isTTY) process.stdout.write('The secret is shown only now; keep it in the integration.\n');
        return;
      }
      case 'revoke':
        if (!ledger.revokeIntegration(id ?? ''))
          throw new KantineError('not_found', `no active integration ${id ?? ''}`);
        process.stdout.write(`${id}\trevoked\n`);
        return;
      default:
        throw new KantineError('invalid_request', 'usage: kantine-gateway integration add|list|revoke …');
    }
  });
}
