/**
 * kantine-gateway integration add <id> [name …] --config F   (prints the secret once)
 * kantine-gateway integration list --config F
 * kantine-gateway integration revoke <id> --config F
 *
 * Integrations (Node-RED, a lamp, an export) log in to the site's broker as `integration:<id>`
 * and may only subscribe to `kantine/{site}/events/…`. Works beside a running gateway: a new
 * integration can connect at once, and a revoked one is disconnected within seconds.
 */
import { ID_PATTERN, KantineError } from '@kantine/protocol';
import { hashSecret, newSecret } from '@kantine/protocol/credentials';
import type { Command } from 'commander';
import { INTEGRATION_USER_PREFIX } from '../broker/acl.ts';
import { withLedger } from './with-ledger.ts';

export function integrationCommands(program: Command, configPath: () => string): void {
  const integration = program
    .command('integration')
    .description(
      "integrations (Node-RED and the like) that read the site's events from its broker (works beside a running gateway)",
    );

  integration
    .command('add')
    .description('add an integration and print its user name and secret (shown only this once)')
    .argument('<id>', 'a-z, 0-9 and -')
    .argument('[name...]', 'what it is (at most 80 characters; the id if not given)')
    .action((id: string, nameParts: string[]) =>
      withLedger(configPath(), async (ledger) => {
        const name = nameParts.join(' ').trim() || id;
        if (!new RegExp(ID_PATTERN).test(id) || name.length > 80) {
          throw new KantineError(
            'invalid_request',
            'usage: kantine-gateway integration add <id> [name]  (id: a-z, 0-9, -; name at most 80 characters)',
          );
        }
        const secret = newSecret();
        ledger.integrations.putIntegration({ id, name, secret_hash: await hashSecret(secret) });
        process.stdout.write(`user name: ${INTEGRATION_USER_PREFIX}${id}\nsecret:    ${secret}\n`);
        if (process.stdout.isTTY) process.stdout.write('The secret is shown only now; keep it in the integration.\n');
      }),
    );

  integration
    .command('list')
    .description('list the integrations: id, name, active since or revoked when')
    .action(() =>
      withLedger(configPath(), (ledger) => {
        for (const i of ledger.integrations.listIntegrations()) {
          const state = i.revoked_at ? `revoked ${i.revoked_at}` : `active since ${i.created_at}`;
          process.stdout.write(`${i.id}\t${i.name}\t${state}\n`);
        }
      }),
    );

  integration
    .command('revoke')
    .description('revoke an integration: a connected one is disconnected within seconds')
    .argument('<id>')
    .action((id: string) =>
      withLedger(configPath(), (ledger) => {
        if (!ledger.integrations.revokeIntegration(id))
          throw new KantineError('not_found', `no active integration ${id}`);
        process.stdout.write(`${id}\trevoked\n`);
      }),
    );
}
