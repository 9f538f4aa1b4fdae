/**
 * kantine-central token add --scope <scope> --name <name>   (prints the token once)
 * kantine-central token list
 * kantine-central token revoke <id>
 * kantine-central audit [--limit n] [--since <time>] [--json]
 * kantine-central role grant|revoke|list   (staff roles by CPR number: central/src/people/role-cli.ts)
 *
 * Run on a host with the worker's config: they open its database directly (Postgres: beside
 * running workers; PGlite: only while central is stopped, `database_in_use` otherwise). Token
 * changes are written to the audit log as the operator's (the local user's) doing.
 */
import { userInfo } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { KantineError } from '@kantine/protocol';
import type { Command } from 'commander';
import { AuditService } from './audit/audit.ts';
import type { ServiceActor } from './auth/actor.ts';
import { SCOPES, type Scope, TokenService } from './auth/tokens.ts';
import type { CentralConfig } from './config.ts';
import { type Db, openPglite, openPostgres } from './db/db.ts';
import { migrate } from './db/schema.ts';
import { Store } from './db/tx.ts';

async function withStore<T>(
  config: CentralConfig,
  fn: (s: { tokens: TokenService; audit: AuditService }) => Promise<T>,
): Promise<T> {
  const { database } = config;
  const dir =
    isAbsolute(database.dir) || database.dir.includes('://') ? database.dir : resolve(process.cwd(), database.dir);
  const db: Db = database.url ? await openPostgres(database.url) : await openPglite(dir);
  try {
    await migrate(db);
    const store = new Store(db, { now: () => new Date() }, () => {});
    return await fn({ tokens: new TokenService(store), audit: new AuditService(store) });
  } finally {
    await db.close();
  }
}

export function operator(): ServiceActor {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no user name (a container without one): the audit says unknown
  }
  return { kind: 'service', token_id: null, token_name: user, scope: 'operator' };
}

const when = (d: Date | string | null) => (d ? new Date(d).toISOString() : '-');

export function tokenCommands(program: Command, config: () => CentralConfig): void {
  const token = program
    .command('token')
    .description(`the API's tokens: one per user or system, each with one scope (${SCOPES.join(', ')})`);

  token
    .command('add')
    .description('make a token and print it (shown only this once; central keeps only its SHA-256)')
    .requiredOption('--scope <scope>', `what it may do: ${SCOPES.join(', ')}`)
    .requiredOption('--name <name>', 'who or what holds it, e.g. "it-anne" or "økonomi-system"')
    .action(async (o: { scope: string; name: string }) => {
      if (!SCOPES.includes(o.scope as Scope)) {
        throw new KantineError('invalid_request', `--scope ${o.scope} is not one of ${SCOPES.join(', ')}`);
      }
      await withStore(config(), async ({ tokens, audit }) => {
        const made = await tokens.add(o.scope as Scope, o.name);
        await audit.write({
          actor: operator(),
          action: 'token add',
          target: { token: made.id, scope: o.scope },
          source: 'cli',
        });
        process.stdout.write(`id:    ${made.id}\nscope: ${o.scope}\ntoken: ${made.token}\n`);
        if (process.stdout.isTTY) process.stdout.write('The token is shown only now; give it to its holder.\n');
      });
    });

  token
    .command('list')
    .description('list the tokens: id, scope, name, created, last used, revoked (never the token)')
    .action(() =>
      withStore(config(), async ({ tokens }) => {
        for (const r of await tokens.list()) {
          process.stdout.write(
            `${r.id}\t${r.scope}\t${r.name}\tcreated ${when(r.created_at)}\tlast used ${when(r.last_used_at)}\t${
              r.revoked_at ? `revoked ${when(r.revoked_at)}` : 'active'
            }\n`,
          );
        }
      }),
    );

  token
    .command('revoke')
    .description('revoke a token: every worker refuses it from its next request')
    .argument('<id>', 'the id `token list` shows')
    .action((id: string) =>
      withStore(config(), async ({ tokens, audit }) => {
        const row = await tokens.revoke(id);
        await audit.write({ actor: operator(), action: 'token revoke', target: { token: id }, source: 'cli' });
        process.stdout.write(`${row.id}\t${row.name}\trevoked\n`);
      }),
    );
}

export function auditCommand(program: Command, config: () => CentralConfig): void {
  program
    .command('audit')
    .description('list the audit log: who (token id, name, scope) changed what, when, from where')
    .option('--limit <n>', 'the newest n entries (at most 10000)', '1000')
    .option('--since <time>', 'from this time on (ISO 8601, e.g. 2026-12-01T00:00:00Z)')
    .option('--json', 'one JSON object per line')
    .action((o: { limit: string; since?: string; json?: boolean }) =>
      withStore(config(), async ({ audit }) => {
        const limit = Number(o.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
          throw new KantineError('invalid_request', `--limit ${o.limit} is not a whole number from 1 to 10000`);
        }
        const since = o.since === undefined ? undefined : new Date(o.since);
        if (since && Number.isNaN(since.getTime())) {
          throw new KantineError('invalid_request', `--since ${o.since} is not a time (e.g. 2026-12-01T00:00:00Z)`);
        }
        for (const r of await audit.list({ limit, ...(since ? { since } : {}) })) {
          if (o.json) {
            process.stdout.write(`${JSON.stringify({ ...r, at: when(r.at) })}\n`);
          } else {
            process.stdout.write(
              `${when(r.at)}\t${r.scope}\t${r.token_name}${r.token_id ? ` (${r.token_id})` : ''}\t${r.action}\t${JSON.stringify(
                r.target,
              )}\t${r.status ?? '-'}\t${r.source ?? '-'}\t${r.request_id ?? '-'}\n`,
            );
          }
        }
      }),
    );
}
