/**
 * kantine-gateway reader enrol --till <till> [--reader <id>] [--hours 24] --config F
 * kantine-gateway reader list --config F
 * kantine-gateway reader revoke <id> --config F
 *
 * `enrol` prints a one-time token for a new reader at that till (docs/operations/it-guide.md);
 * the reader spends it on first boot. `revoke` stops a reader: a running gateway closes its
 * connection within seconds and refuses it from then on. Works beside a running gateway.
 */
import { parseArgs } from 'node:util';
import { ID_PATTERN, KantineError } from '@kantine/protocol';
import { withLedger } from './cli-ledger.ts';
import { systemClock } from './clock.ts';
import { DEFAULT_TOKEN_HOURS, Enrolments } from './enrolment.ts';

const USAGE = 'usage: kantine-gateway reader enrol --till <till> [--reader <id>] [--hours N] | list | revoke <id>';

export async function readerCommand(argv: string[], configPath: string): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      till: { type: 'string' },
      reader: { type: 'string' },
      hours: { type: 'string' },
    },
  });
  const [verb, id] = positionals;
  await withLedger(configPath, async (ledger) => {
    switch (verb) {
      case 'enrol': {
        if (!values.till) throw new KantineError('invalid_request', USAGE);
        if (values.reader !== undefined && !new RegExp(ID_PATTERN).test(values.reader)) {
          throw new KantineError('invalid_request', '--reader: a-z, 0-9 and -, at most 63 characters');
        }
        const hours = values.hours === undefined ? DEFAULT_TOKEN_HOURS : Number(values.hours);
        const { token, row } = new Enrolments(ledger, systemClock).create({
          till_id: values.till,
          ...(values.reader ? { reader_id: values.reader } : {}),
          hours,
        });
        process.stdout.write(`token:   ${token}\ntill:    ${row.till_id}\nexpires: ${row.expires_at}\n`);
        if (process.stdout.isTTY) {
          process.stdout.write(
            'Put it in the new reader\'s /etc/kantine/reader.json as "enrol": {"url": "http://<gateway>:<http port>", "token": "…"}; it works once.\n',
          );
        }
        return;
      }
      case 'list': {
        const enrolled = new Map(
          new Enrolments(ledger, systemClock)
            .list()
            .filter((e) => e.used_by)
            .map((e) => [e.used_by, e.used_at]),
        );
        for (const r of ledger.listReaders()) {
          const state = r.revoked_at
            ? `revoked ${r.revoked_at}`
            : enrolled.has(r.id)
              ? `enrolled ${enrolled.get(r.id)}`
              : 'active';
          process.stdout.write(`${r.id}\t${r.till_id ?? '-'}\t${state}\n`);
        }
        return;
      }
      case 'revoke':
        if (!ledger.revokeReader(id ?? '')) throw new KantineError('not_found', `no active reader ${id ?? ''}`);
        process.stdout.write(`${id}\trevoked\n`);
        return;
      default:
        throw new KantineError('invalid_request', USAGE);
    }
  });
}
