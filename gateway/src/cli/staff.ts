/**
 * kantine-gateway staff add <id> <name> --config F   (the PIN is read from stdin, one line)
 * kantine-gateway staff list --config F
 * kantine-gateway staff remove <id> --config F
 * kantine-gateway staff pair-screen <name> [--hours 1] --config F
 *
 * Canteen staff who log in to the site's tills. Works beside a running gateway (the ledger is
 * SQLite in WAL mode): a removed member of staff, or a new PIN, ends their open sessions at the
 * next request.
 */
import { hostname } from 'node:os';
import { createInterface } from 'node:readline';
import { ID_PATTERN, KantineError } from '@kantine/protocol';
import { hashSecret } from '@kantine/protocol/credentials';
import type { Command } from 'commander';
import { loadGatewayConfig } from '../config.ts';
import { PAIRING_HOURS_DEFAULT, SCREEN_NAME_PATTERN, ScreenKeys } from '../http/screens.ts';
import { withLedger } from './with-ledger.ts';

async function readLine(): Promise<string> {
  const rl = createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    rl.close();
    return line.trim();
  }
  return '';
}

export function staffCommands(program: Command, configPath: () => string): void {
  const staff = program
    .command('staff')
    .description('the canteen staff who log in to the tills (works beside a running gateway)');

  staff
    .command('add')
    .description('add a member of staff or set a new PIN; the PIN (4 to 8 digits) is read from stdin, one line')
    .argument('<id>', 'a-z, 0-9 and -')
    .argument('<name...>', 'the name the kiosk shows (at most 80 characters)')
    .action((id: string, nameParts: string[]) =>
      withLedger(configPath(), async (ledger) => {
        const name = nameParts.join(' ').trim();
        if (!new RegExp(ID_PATTERN).test(id) || !name || name.length > 80) {
          throw new KantineError('invalid_request', 'usage: kantine-gateway staff add <id> <name>  (id: a-z, 0-9, -)');
        }
        if (process.stdin.isTTY) process.stderr.write(`PIN for ${name} (4–8 digits): `);
        const pin = await readLine();
        if (!/^[0-9]{4,8}$/.test(pin)) throw new KantineError('invalid_request', 'a PIN is 4 to 8 digits');
        ledger.staff.putStaff({ id, name, pin_hash: await hashSecret(pin) });
        process.stdout.write(`${id}\t${name}\tPIN set\n`);
      }),
    );

  staff
    .command('list')
    .description('list the staff: id and name, one a line')
    .action(() =>
      withLedger(configPath(), (ledger) => {
        for (const s of ledger.staff.listStaff()) process.stdout.write(`${s.id}\t${s.name}\n`);
      }),
    );

  staff
    .command('pair-screen')
    .description(
      'make a link that pairs a till screen: open it on that screen (it works once per screen, for an hour); only paired screens see the login and may log in',
    )
    .argument('<name>', 'the screen, e.g. kasse-1-skaerm (a-z, 0-9 and -)')
    .option('--hours <n>', 'how long the link works', String(PAIRING_HOURS_DEFAULT))
    .action((name: string, opts: { hours: string }) => {
      const hours = Number(opts.hours);
      if (!new RegExp(SCREEN_NAME_PATTERN).test(name) || !Number.isFinite(hours) || hours <= 0 || hours > 24) {
        throw new KantineError('invalid_request', 'usage: kantine-gateway staff pair-screen <name> [--hours 1..24]');
      }
      const config = loadGatewayConfig(configPath());
      const code = ScreenKeys.open(config.database).pairingCode(name, new Date(Date.now() + hours * 3_600_000));
      const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? hostname() : config.http.host;
      const scheme = config.http.tls === 'off' ? 'http' : 'https';
      process.stdout.write(`${scheme}://${host}:${config.http.port}/api/kiosk/pair?code=${code}\n`);
    });

  staff
    .command('remove')
    .description('remove a member of staff')
    .argument('<id>')
    .action((id: string) =>
      withLedger(configPath(), (ledger) => {
        if (!ledger.staff.removeStaff(id)) throw new KantineError('not_found', `no staff ${id}`);
        process.stdout.write(`${id}\tremoved\n`);
      }),
    );
}
