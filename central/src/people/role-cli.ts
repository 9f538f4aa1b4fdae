/**
 * kantine-central role grant --role office --site <site>   (the CPR number on stdin)
 * kantine-central role grant --role admin|finance
 * kantine-central role revoke --role … [--site …]            (the CPR number on stdin)
 * kantine-central role list                                   (CPR numbers masked)
 *
 * Staff roles are granted to a CPR number, before or after the person's first sign-in. The
 * number is read from stdin (or typed at the prompt), never from the command line: a process's
 * arguments are visible to every user of the machine (`ps`) and kept in shell histories.
 */

import { isAbsolute, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { KantineError } from '@kantine/protocol';
import type { Command } from 'commander';
import { Central } from '../central.ts';
import { operator } from '../cli.ts';
import type { CentralConfig } from '../config.ts';
import { type Db, openPglite, openPostgres } from '../db/db.ts';
import { cprCryptoFor } from './key-config.ts';
import type { GrantableRole } from './people.ts';

const ROLES: readonly GrantableRole[] = ['office', 'admin', 'finance'];

async function withPeople<T>(config: CentralConfig, fn: (central: Central) => Promise<T>): Promise<T> {
  const { database } = config;
  const dir =
    isAbsolute(database.dir) || database.dir.includes('://') ? database.dir : resolve(process.cwd(), database.dir);
  const cpr = cprCryptoFor(config, { baseDir: process.cwd(), dbDir: dir });
  if (!cpr)
    throw new KantineError('cpr_key_invalid', 'an in-memory database keeps no roles: give a config with a database');
  const db: Db = database.url ? await openPostgres(database.url) : await openPglite(dir);
  try {
    const central = new Central(db, { now: () => new Date() }, () => {}, { cpr });
    await central.migrate(); // checks the key against the database (cpr_key_wrong)
    return await fn(central);
  } finally {
    await db.close();
  }
}

/** One line from stdin: the CPR number (a prompt on stderr when a person types it). */
async function readCpr(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('CPR-nummer / CPR number: ');
  const rl = createInterface({ input: process.stdin, terminal: false });
  try {
    for await (const line of rl) {
      if (line.trim()) return line.trim();
    }
  } finally {
    rl.close();
  }
  throw new KantineError('invalid_request', 'no CPR number on stdin (echo DDMMYY-XXXX | kantine-central role …)');
}

function roleOf(o: { role: string; site?: string }): { role: GrantableRole; site: string | null } {
  if (!ROLES.includes(o.role as GrantableRole)) {
    throw new KantineError('invalid_request', `--role ${o.role} is not one of ${ROLES.join(', ')}`);
  }
  return { role: o.role as GrantableRole, site: o.site ?? null };
}

export function roleCommands(program: Command, config: () => CentralConfig): void {
  const role = program
    .command('role')
    .description(
      `staff roles by CPR number (${ROLES.join(', ')}; office for one site), bound when the person signs in. ` +
        'The CPR number is read from stdin, never from the command line.',
    );

  for (const [name, grant] of [
    ['grant', true],
    ['revoke', false],
  ] as const) {
    role
      .command(name)
      .description(`${grant ? 'grant' : 'take away'} a staff role (the CPR number on stdin)`)
      .requiredOption('--role <role>', ROLES.join(', '))
      .option('--site <site>', 'the school (or club) for an office role')
      .action(async (o: { role: string; site?: string }) => {
        const { role: r, site } = roleOf(o);
        const cpr = await readCpr();
        await withPeople(config(), async (central) => {
          let changed = true;
          if (grant) await central.people.grantRole(cpr, r, site);
          else changed = await central.people.revokeRole(cpr, r, site);
          await central.audit.write({
            actor: operator(),
            action: `role ${name}`,
            target: { role: r, ...(site ? { site } : {}) },
            source: 'cli',
          });
          process.stdout.write(
            `${r}${site ? ` ${site}` : ''}\t${grant ? 'granted' : changed ? 'revoked' : 'not held'}\n`,
          );
        });
      });
  }

  role
    .command('list')
    .description('list the staff roles: masked CPR number, role, site, who (once signed in)')
    .action(() =>
      withPeople(config(), async (central) => {
        for (const r of await central.people.listRoles()) {
          process.stdout.write(`${r.cpr_masked}\t${r.role}\t${r.site_id ?? '-'}\t${r.name ?? '(not signed in yet)'}\n`);
        }
      }),
    );
}
