/**
 * npx tsx bench/src/central-profile.ts --sites 4 --accounts 50 --entries 20000 [--explain]
 *
 * Where central's booking of a site's message spends its time: the same load as bench:central's
 * central side, through a Db of this script's own that times each round trip (BEGIN, the
 * lock-and-read, the write, COMMIT, anything else) and the Node CPU of the run. `--explain` loads
 * auto_explain in each session and prints Postgres' own execution time of each statement (its
 * plans with `--plans`).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { Central, type Db, openPostgres } from '@kantine/central';
import { type LinkUp, MAX_CHANGES_PER_MESSAGE, type UpChange } from '@kantine/protocol';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';

const { values } = parseArgs({
  options: {
    sites: { type: 'string', default: '4' },
    accounts: { type: 'string', default: '50' },
    entries: { type: 'string', default: '20000' },
    postgres: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
    explain: { type: 'boolean', default: false },
    plans: { type: 'boolean', default: false },
    'explain-at': { type: 'string', default: '0' },
    'cpu-prof': { type: 'string' },
  },
});
const sites = Number(values.sites);
const accounts = Number(values.accounts);
const total = Number(values.entries);

const run = randomBytes(4).toString('hex');
const name = `kantine_prof_${run}`;
const admin = await openPostgres(values.postgres);
await admin.query(`CREATE DATABASE ${name}`);
const url = new URL(values.postgres);
url.pathname = `/${name}`;

const int8 = (s: string): number => Number(s);
const pool = new pg.Pool({
  connectionString: url.toString(),
  max: 8,
  types: {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === 20 ? int8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
  },
});
const label = (t: string): string => {
  const s = t.trim();
  if (/^WITH\s+a AS/.test(s)) return 'lock+read';
  if (/^WITH\s+v AS/.test(s)) return 'write';
  if (/^SELECT site_batch_record/.test(s)) return 'lock+read';
  if (/^WITH\s+e AS/.test(s)) return 'write';
  return s.split(/\s+/).slice(0, 3).join(' ');
};
const stats = new Map<string, { n: number; ms: number }>();
const pgExec = new Map<string, { n: number; ms: number }>();
let recording = false;
const note = (m: Map<string, { n: number; ms: number }>, k: string, ms: number) => {
  if (!recording) return;
  const s = m.get(k) ?? { n: 0, ms: 0 };
  s.n++;
  s.ms += ms;
  m.set(k, s);
};
const lastLabel = new WeakMap<pg.PoolClient, string>();
const timed = async (client: pg.PoolClient | pg.Pool, t: string, p?: readonly unknown[]) => {
  const t0 = performance.now();
  if ('release' in client) lastLabel.set(client, label(t));
  const r = await client.query(t, p as unknown[]);
  note(stats, label(t), performance.now() - t0);
  return r.rows;
};
pool.on('error', () => {});
pool.on('connect', (client) => {
  if (!values.explain) return;
  client.on('notice', (msg) => {
    const text = String(msg.message);
    const m = /^duration: ([\d.]+) ms/.exec(text);
    const k = lastLabel.get(client as pg.PoolClient) ?? '?';
    if (m) note(pgExec, k, Number(m[1]));
    if (values.plans && recording && (k === 'write' || k === 'lock+read') && Math.random() < 0.03)
      process.stderr.write(`--- ${k}\n${text}\n`);
  });
  void client.query(
    `LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;
     SET auto_explain.log_timing = ${values.plans ? 'on' : 'off'}; SET auto_explain.log_level = notice;
     SET auto_explain.log_nested_statements = off; SET auto_explain.log_triggers = on; SET client_min_messages = notice`,
  );
});
let explainLeft = Number(values['explain-at']);
const explainOne = async (client: pg.PoolClient, t: string, p?: readonly unknown[]) => {
  const k = label(t);
  if (k !== 'lock+read' && k !== 'write') return;
  if (k === 'lock+read' && --explainLeft !== 0) return;
  if (k === 'write' && explainLeft !== 0) return;
  if (k === 'write') explainLeft = -1;
  await client.query('SAVEPOINT x');
  const rows = await client.query(`EXPLAIN (ANALYZE, BUFFERS, SUMMARY) ${t}`, p as unknown[]);
  process.stderr.write(`=== ${k}\n${rows.rows.map((r) => r['QUERY PLAN']).join('\n')}\n`);
  await client.query('ROLLBACK TO SAVEPOINT x');
};
const db: Db = {
  kind: 'postgres',
  query: async (t, p) => (await timed(pool, t, p)) as never,
  async transaction(fn) {
    for (let attempt = 1; ; attempt++) {
      const client = await pool.connect();
      try {
        await timed(client, 'BEGIN');
        const result = await fn({
          query: async (t, p) => {
            if (explainLeft >= 0) await explainOne(client, t, p);
            return (await timed(client, t, p)) as never;
          },
        });
        await timed(client, 'COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        const code = (err as { code?: string }).code;
        if (code && ['40001', '40P01'].includes(code) && attempt < 5) continue;
        throw err;
      } finally {
        client.release();
      }
    }
  },
  close: () => pool.end(),
};

try {
  const central = new Central(db, { now: () => new Date() }, () => {});
  await central.migrate();
  const siteIds = Array.from({ length: sites }, (_, i) => `prof-${run}-${i}`);
  for (const id of siteIds) await central.sites.put({ id, name: id, place_kinds: ['school'] });
  const accountIds: string[][] = siteIds.map(() => []);
  for (const [s, site] of siteIds.entries())
    for (let a = 0; a < accounts; a++) {
      const id = `acc-${s}-${a}`;
      accountIds[s]?.push(id);
      await central.accounts.put({ id, first_name: `Barn ${a}`, sites: [site] });
      await central.money.deposit({ account_id: id, amount_ore: 100_000_000 });
    }
  const perSite = Math.floor(total / sites / MAX_CHANGES_PER_MESSAGE) * MAX_CHANGES_PER_MESSAGE;
  const messages = siteIds.map((_, s) => {
    const list: LinkUp[] = [];
    const ids = accountIds[s] as string[];
    let seq = 0;
    for (let m = 0; m < perSite / MAX_CHANGES_PER_MESSAGE; m++) {
      const changes: UpChange[] = [];
      for (let k = 0; k < MAX_CHANGES_PER_MESSAGE; k++) {
        seq++;
        changes.push({
          seq,
          kind: 'entry',
          entry: {
            id: uuidv7(),
            account_id: ids[seq % ids.length] as string,
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
  const msgs = count / MAX_CHANGES_PER_MESSAGE;
  const session = new Session();
  if (values['cpu-prof']) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
  }
  recording = true;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    messages.map(async (list, s) => {
      for (const msg of list) await central.link.handleUp(siteIds[s] as string, msg);
    }),
  );
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  recording = false;
  if (values['cpu-prof']) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(values['cpu-prof'], JSON.stringify(profile));
    session.disconnect();
  }
  const out: Record<string, unknown> = {
    sites,
    messages: msgs,
    entries_per_s: Math.round(count / (wall / 1000)),
    wall_ms_per_message_per_stream: +((wall * sites) / msgs).toFixed(2),
    node_cpu_ms_per_message: +((cpu.user + cpu.system) / 1000 / msgs).toFixed(2),
    round_trips_ms_per_message: Object.fromEntries(
      [...stats].map(([k, s]) => [k, { n_per_msg: +(s.n / msgs).toFixed(2), ms: +(s.ms / msgs).toFixed(2) }]),
    ),
  };
  if (values.explain)
    out.postgres_exec_ms_per_message = Object.fromEntries([...pgExec].map(([k, s]) => [k, +(s.ms / msgs).toFixed(2)]));
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} finally {
  await pool.end();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.close();
}
