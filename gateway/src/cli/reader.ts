/**
 * kantine-gateway reader enrol --till <till> [--reader <id>] [--hours 24] --config F
 * kantine-gateway reader list --config F
 * kantine-gateway reader revoke <id> --config F
 *
 * `enrol` prints a one-time token for a new reader at that till (docs/operations/it-guide.md);
 * the reader spends it on first boot. `revoke` stops a reader: a running gateway closes its
 * connection within seconds and refuses it from then on. Works beside a running gateway.
 */
import { ID_PATTERN, KantineError } from '@kantine/protocol';
import type { Command } from 'commander';
import { systemClock } from '../clock.ts';
import { DEFAULT_TOKEN_HOURS, Enrolments } from '../readers/enrolment.ts';
import { withLedger } from './with-ledger.ts';

export function readerCommands(program: Command, configPath: () => string): void {
  const reader = program
    .command('reader')
    .description("the site's card readers: enrolment tokens, the list, revocation (works beside a running gateway)");

  reader
    .command('enrol')
    .description('print a one-time token a new reader at that till spends on first boot')
    .requiredOption('--till <till>', 'the till the reader sits at')
    .option('--reader <id>', "the reader's id (a-z, 0-9 and -; chosen by the gateway if not given)")
    .option('--hours <n>', 'how long the token is good for', String(DEFAULT_TOKEN_HOURS))
    .action((o: { till: string; reader?: string; hours: string }) =>
      withLedger(configPath(), (ledger) => {
        if (o.reader !== undefined && !new RegExp(ID_PATTERN).test(o.reader)) {
          throw new KantineError('invalid_request', '--reader: a-z, 0-9 and -, at most 63 characters');
        }
        const { token, row } = new Enrolments(ledger, systemClock).create({
          till_id: o.till,
          ...(o.reader ? { reader_id: o.reader } : {}),
          hours: Number(o.hours),
        });
        process.stdout.write(`token:   ${token}\ntill:    ${row.till_id}\nexpires: ${row.expires_at}\n`);
        if (process.stdout.isTTY) {
          process.stdout.write(
            'Put it in the new reader\'s /etc/kantine/reader.json as "enrol": {"url": "http://<gateway>:<http port>", "token": "…"}; it works once.\n',
          );
        }
      }),
    );

  reader
    .command('list')
    .description('list the readers: id, till, and active, enrolled when or revoked when')
    .action(() =>
      withLedger(configPath(), (ledger) => {
        const enrolled = new Map(
          new Enrolments(ledger, systemClock)
            .list()
            .filter((e) => e.used_by)
            .map((e) => [e.used_by, e.used_at]),
        );
        for (const r of ledger.readers.listReaders()) {
          const state = r.revoked_at
            ? `revoked ${r.revoked_at}`
            : enrolled.has(r.id)
              ? `enrolled ${enrolled.get(r.id)}`
              : 'active';
          process.stdout.write(`${r.id}\t${r.till_id ?? '-'}\t${state}\n`);
        }
      }),
    );

  reader
    .command('revoke')
    .description('stop a reader: a running gateway closes its connection within seconds and refuses it from then on')
    .argument('<id>')
    .action((id: string) =>
      withLedger(configPath(), (ledger) => {
        if (!ledger.readers.revokeReader(id)) throw new KantineError('not_found', `no active reader ${id}`);
        process.stdout.write(`${id}\trevoked\n`);
      }),
    );
}
