/**
 * npx tsx bench/src/central-profile.ts --sites 4 --accounts 50 --entries 20000 [--explain [--plans]]
 *   [--cpu-prof file]
 *
 * Where central's booking of a site's message spends its time: the same load as bench:central's
 * central side, through central's own Postgres handle (`openPostgres`), each statement timed from
 * when it is written to its answer (BEGIN, the lock-and-read, the write, COMMIT, anything else),
 * and the Node CPU of the run. `--explain` loads auto_explain in each session and prints Postgres'
 * own execution time of each statement (with `--plans`, a sample of plans, the functions' inner
 * statements too).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { Central, openPostgres } from '@kantine/central';
import { type LinkUp, MAX_CHANGES_PER_MESSAGE, type UpChange } from '@kantine/protocol';
import type pg from 'pg';
import { v7 as uuidv7 } from 'uuid';

const { values } = parseArgs({
  options: {
    sites: { type: 'string', default: '4' },
    accounts: { type: 'string', default: '50' },
    entries: { type: 'string', default: '20000' },
    postgres: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
    explain: { type: 'boolean', default: false },
    plans: { type: 'boolean', default: false },
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

const label = (t: string): string => {
  const s = t.trim();
  if (/^SELECT site_batch_record/.test(s)) return 'lock+read';
  if (/^SELECT site_batch_write/.test(s)) return 'write';
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
// Each statement timed from the moment it is written to its answer: on a pipelined connection a
// transaction's BEGIN and first statement, and its last statement and COMMIT, overlap.
const onConnect = (client: pg.PoolClient) => {
  const query = client.query.bind(client) as (t: string, p?: unknown[], cb?: unknown) => Promise<pg.QueryResult>;
  const sent: string[] = []; // labels of the statements awaiting an answer, in order
  (client as unknown as { query: typeof query }).query = async (t: string, p?: unknown[], cb?: unknown) => {
    if (cb !== undefined) return query(t, p, cb); // the pool's own (a callback): not a transaction's
    const k = label(t);
    sent.push(k);
    const t0 = performance.now();
    try {
      return await query(t, p);
    } finally {
      note(stats, k, performance.now() - t0);
      sent.shift();
    }
  };
  if (!values.explain) return;
  client.on('notice', (msg) => {
    const text = String(msg.message);
    const m = /^duration: ([\d.]+) ms/.exec(text);
    const k = sent[0] ?? '?';
    // With --plans the functions' own statements are logged too: counted apart, not twice.
    const nested = (k === 'write' || k === 'lock+read') && !/Query Text: SELECT site_batch/.test(text);
    if (m) note(pgExec, nested ? `${k}: a statement inside` : k, Number(m[1]));
    if (values.plans && recording && (k === 'write' || k === 'lock+read') && Math.random() < 0.03)
      process.stderr.write(`--- ${k}\n${text}\n`);
  });
  void query(
    `LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;
     SET auto_explain.log_timing = ${values.plans ? 'on' : 'off'}; SET auto_explain.log_level = notice;
     SET auto_explain.log_nested_statements = ${values.plans ? 'on' : 'off'}; SET auto_explain.log_triggers = on;
     SET client_min_messages = notice`,
  );
};
const db = await openPostgres(url.toString(), { onConnect });

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
  await db.close();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.close();
}
