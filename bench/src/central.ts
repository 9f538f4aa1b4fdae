/**
 * npm run bench:central -- --sites 4 --accounts 50 --entries 20000 --json
 *
 * Ledger entries ingested per second by central into Postgres: the sites' sales arrive as link
 * messages (200 changes each, as a gateway sends them) and go through central's real up-apply —
 * cursor lock, the entry with its running balance, the share it used up, the copy queued for the
 * account's other sites. Beside it, the raw baseline of the same run: the same rows as plain
 * batched INSERTs (200 a statement) into a bare table, with the same concurrency (one stream
 * per site). Makes its own database on the server given (default: the local test Postgres) and
 * drops it afterwards.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Central, openPostgres } from '@kantine/central';
import { type LinkUp, MAX_CHANGES_PER_MESSAGE, type UpChange } from '@kantine/protocol';
import { v7 as uuidv7 } from 'uuid';

const { values } = parseArgs({
  options: {
    sites: { type: 'string', default: '4' },
    accounts: { type: 'string', default: '50' },
    entries: { type: 'string', default: '20000' },
    postgres: { type: 'string', default: process.env.KANTINE_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test' },
    json: { type: 'boolean', default: false },
  },
});
const sites = Number(values.sites);
const accounts = Number(values.accounts);
const total = Number(values.entries);
if (!Number.isInteger(sites) || sites < 1 || sites > 64) throw new Error('--sites must be 1..64');
if (!Number.isInteger(accounts) || accounts < 1 || accounts > 10_000) throw new Error('--accounts must be 1..10000');
if (!Number.isInteger(total) || total < MAX_CHANGES_PER_MESSAGE) throw new Error('--entries must be at least 200');
const say = (line: string) => {
  if (!values.json) process.stderr.write(`${line}\n`);
};

const name = `kantine_bench_${randomBytes(4).toString('hex')}`;
const admin = await openPostgres(values.postgres);
await admin.query(`CREATE DATABASE ${name}`);
const url = new URL(values.postgres);
url.pathname = `/${name}`;
const db = await openPostgres(url.toString());
try {
  const clock = { now: () => new Date() };
  const central = new Central(db, clock, () => {}); // the down messages go nowhere: ingest only
  await central.migrate();
  say(`setting up ${sites} sites × ${accounts} accounts…`);
  const siteIds = Array.from({ length: sites }, (_, i) => `bench-${i}`);
  for (const id of siteIds) await central.putSite({ id, name: id, place_kinds: ['school'] });
  const accountIds: string[][] = siteIds.map(() => []);
  for (const [s, site] of siteIds.entries()) {
    for (let a = 0; a < accounts; a++) {
      const id = `acc-${s}-${a}`;
      accountIds[s]?.push(id);
      await central.putAccount({ id, first_name: `Barn ${a}`, sites: [site] });
      await central.deposit({ account_id: id, amount_ore: 100_000_000 });
    }
  }

  // The messages each site will send: purchases of its own children, 200 to a message.
  const perSite = Math.floor(total / sites / MAX_CHANGES_PER_MESSAGE) * MAX_CHANGES_PER_MESSAGE;
  const messages: LinkUp[][] = siteIds.map((_, s) => {
    const list: LinkUp[] = [];
    for (let seq = 1; seq <= perSite; seq += MAX_CHANGES_PER_MESSAGE) {
      const changes: UpChange[] = [];
      for (let k = seq; k < seq + MAX_CHANGES_PER_MESSAGE; k++) {
        const ids = accountIds[s] as string[];
        changes.push({
          seq: k,
          kind: 'entry',
          entry: {
            id: uuidv7(),
            account_id: ids[k % ids.length] as string,
            kind: 'purchase',
            amount_ore: -300,
            place_kind: 'school',
            budgets: ['balance'],
            tap_id: uuidv7(),
            lines: [{ product_id: 'frugt', name: 'Frugt', quantity: 1, unit_price_ore: 300 }],
            created_at: new Date().toISOString(),
          },
        });
      }
      list.push({ v: 1, t: 'changes', changes });
    }
    return list;
  });
  const count = perSite * sites;

  // Baseline: the same rows, plain multi-row INSERTs, one stream per site.
  await db.query(
    `CREATE TABLE raw_entries (id text PRIMARY KEY, account_id text NOT NULL, kind text NOT NULL,
       amount_ore bigint NOT NULL, origin text NOT NULL, place_kind text, tap_id text, lines jsonb,
       budgets jsonb, created_at timestamptz NOT NULL)`,
  );
  say(`baseline: ${count} rows as batched INSERTs…`);
  const t0 = performance.now();
  await Promise.all(
    messages.map(async (list, s) => {
      for (const msg of list) {
        if (msg.t !== 'changes') continue;
        const params: unknown[] = [];
        const rows = msg.changes.map((c) => {
          if (c.kind !== 'entry') throw new Error('entries only');
          const e = c.entry;
          params.push(e.id, e.account_id, e.kind, e.amount_ore, siteIds[s], e.place_kind, e.tap_id);
          params.push(JSON.stringify(e.lines), JSON.stringify(e.budgets), e.created_at);
          const b = params.length - 10;
          return `(${Array.from({ length: 10 }, (_, i) => `$${b + i + 1}`).join(',')})`;
        });
        await db.query(`INSERT INTO raw_entries VALUES ${rows.join(',')}`, params);
      }
    }),
  );
  const baselineS = (performance.now() - t0) / 1000;

  say(`central: ${count} entries through the link's up-apply…`);
  const t1 = performance.now();
  await Promise.all(
    messages.map(async (list, s) => {
      for (const msg of list) await central.handleUp(siteIds[s] as string, msg);
    }),
  );
  const centralS = (performance.now() - t1) / 1000;
  const [booked] = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM entries WHERE kind = 'purchase'");
  if (booked?.n !== count) throw new Error(`booked ${booked?.n} of ${count}: the benchmark lost entries`);
  const problems = await central.verify();
  if (problems.length > 0) throw new Error(`central's books do not add up: ${problems.join('; ')}`);

  const result = {
    sites,
    accounts_per_site: accounts,
    entries: count,
    entries_per_s: Math.round(count / centralS),
    baseline_per_s: Math.round(count / baselineS),
    ratio: Math.round((count / centralS / (count / baselineS)) * 1000) / 1000,
    database: 'postgres',
  };
  process.stdout.write(`${JSON.stringify(result, null, values.json ? 0 : 2)}\n`);
} finally {
  await db.close();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.close();
}
