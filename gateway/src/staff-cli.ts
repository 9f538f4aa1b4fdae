/**
 * kantine-gateway staff add <id> <name> --config F   (the PIN is read from stdin, one line)
 * kantine-gateway staff list --config F
 * kantine-gateway staff remove <id> --config F
 *
 * Canteen staff who log in to the site's tills. Works beside a running gateway (the ledger is
 * SQLite in WAL mode; a new PIN counts from the next login).
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ID_PATTERN, KantineError } from '@kantine/protocol';
import { hashSecret } from '@kantine/protocol/credentials';
import { withLedger } from './cli-ledger.ts';

async function readLine(): Promise<string> {
  const rl = createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    rl.close();
    return line.trim();
  }
  return '';
}

export async function staffCommand(argv: string[], configPath: string): Promise<void> {
  const { positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' } },
  });
  const [verb, id, ...nameParts] = positionals;
  await withLedger(configPath, async (ledger) => {
    switch (verb) {
      case 'list':
        for (const s of ledger.listStaff()) process.stdout.write(`${s.id}\t${s.name}\n`);
        return;
      case 'add': {
        const name = nameParts.join(' ').trim();
        if (!id || !new RegExp(ID_PATTERN).test(id) || !name || name.length > 80) {
          throw new KantineError('invalid_request', 'usage: kantine-gateway staff add <id> <name>  (id: a-z, 0-9, -)');
        }
        if (process.stdin.isTTY) process.stderr.write(`PIN for ${name} (4–8 digits): `);
        const pin = await readLine();
        if (!/^[0-9]{4,8}$/.test(pin)) throw new KantineError('invalid_request', 'a PIN is 4 to 8 digits');
        ledger.putStaff({ id, name, pin_hash: await hashSecret(pin) });
        process.stdout.write(`${id}\t${name}\tPIN set\n`);
        return;
      }
      case 'remove': {
        if (!ledger.removeStaff(id ?? '')) throw new KantineError('not_found', `no staff ${id ?? ''}`);
        process.stdout.write(`${id}\tremoved\n`);
        return;
      }
      default:
        throw new KantineError('invalid_request', 'usage: kantine-gateway staff add|list|remove …');
    }
  });
}
