/**
 * npm run bench:memory -- --accounts 10000 --entries 1000000 --json
 *
 * Resident memory (RSS, from /proc) of kantine's long-running processes, each started as it runs
 * in production: the gateway (`gateway/src/main.ts`) on a ledger of `--accounts` children with a
 * card each and `--entries` sales (each with its line and its tap, as the till writes them),
 * after it has decided `--taps` taps; a reader daemon (`reader/src/main.ts`, simulated card
 * port) connected to that gateway; a central worker (`central/src/main.ts`) on a fresh Postgres
 * database (`--postgres`, default KANTINE_BENCH_PG). Linux only.
 */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openPostgres } from '@kantine/central';
import { Ledger } from '@kantine/gateway';
import { connectFirst, connectMqtt } from '@kantine/mqtt';
import { TapClient } from '@kantine/reader';
import { makeLoadSite } from '@kantine/tests/helpers/load-site.ts';
import { freePort, spawnCentral, spawnGateway, spawnService, stopGracefully } from '@kantine/tests/helpers/process.ts';

const { values } = parseArgs({
  options: {
    accounts: { type: 'string', default: '10000' },
    entries: { type: 'string', default: '1000000' },
    taps: { type: 'string', default: '2000' },
    postgres: { type: 'string', default: process.env.KANTINE_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test' },
    json: { type: 'boolean', default: false },
  },
});
const accounts = Number(values.accounts);
const entries = Number(values.entries);
const taps = Number(values.taps);
if (!Number.isInteger(accounts) || accounts < 1 || accounts > 1_000_000) throw new Error('--accounts: 1..1000000');
if (!Number.isInteger(entries) || entries < 0 || entries > 20_000_000) throw new Error('--entries: 0..20000000');
if (!Number.isInteger(taps) || taps < 0 || taps > 1_000_000) throw new Error('--taps: 0..1000000');
const say = (line: string) => {
  if (!values.json) process.stderr.write(`${line}\n`);
};

/** Resident and peak resident memory of a process, MiB. */
function rss(pid: number | undefined): { rss_mib: number; peak_mib: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  const mib = (k: number) => Math.round((k / 1024) * 10) / 10;
  return { rss_mib: mib(kib('VmRSS')), peak_mib: mib(kib('VmHWM')) };
}

// ── The gateway on a large ledger ──────────────────────────────────────────────────────────────
const READERS = 4;
say(`building a ledger: ${accounts} accounts, ${entries} entries…`);
const site = await makeLoadSite({ site: 'memskolen', readers: READERS, price_ore: 200, balance_ore: 1_000_000_000 });
{
  const ledger = new Ledger(site.database, { now: () => new Date() });
  const { db } = ledger;
  // Rows as the till writes them (a deposit, then sales with their line and their tap), made in
  // SQL so a million take seconds. Every balance stays the sum of its entries.
  db.transaction(() => {
    db.prepare(
      `WITH RECURSIVE n(i) AS (SELECT ${READERS} UNION ALL SELECT i + 1 FROM n WHERE i < ${accounts - 1})
       INSERT INTO accounts (id, first_name, balance_ore, created_at)
       SELECT 'acc-' || i, 'Barn ' || i, 0, '2026-08-01T08:00:00.000Z' FROM n`,
    ).run();
    db.prepare(
      `INSERT INTO cards (uid, account_id, state) SELECT '06' || printf('%012X', rowid), id, 'active' FROM accounts
       WHERE id NOT IN (SELECT account_id FROM cards WHERE account_id IS NOT NULL)`,
    ).run();
    db.prepare(
      `INSERT INTO entries (id, account_id, kind, amount_ore, balance_after_ore, created_at)
       SELECT 'dep-' || id, id, 'deposit', 100000000, 100000000, '2026-08-01T08:00:00.000Z' FROM accounts
       WHERE id NOT IN (SELECT account_id FROM entries)`,
    ).run();
    db.prepare('UPDATE accounts SET balance_ore = 100000000 WHERE balance_ore = 0').run();
  })();
  const CHUNK = 50_000;
  for (let from = 0; from < entries; from += CHUNK) {
    const to = Math.min(entries, from + CHUNK);
    db.transaction(() => {
      db.exec(`
        CREATE TEMP TABLE IF NOT EXISTS gen (i INTEGER PRIMARY KEY, entry TEXT, tap TEXT, account TEXT, till TEXT, at TEXT);
        DELETE FROM gen;
        WITH RECURSIVE n(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM n WHERE i < ${to - 1})
        INSERT INTO gen SELECT i, printf('e-%09d', i), printf('t-%09d', i), 'acc-' || (i % ${accounts}),
          'till-' || (i % ${READERS}),
          strftime('%Y-%m-%dT%H:%M:%S.000Z', '2026-08-01T09:00:00', '+' || (i / ${accounts}) || ' minutes', '+' || (i % ${accounts}) || ' seconds')
        FROM n;
        INSERT INTO entries (id, account_id, kind, amount_ore, balance_after_ore, tap_id, till_id, place_kind, created_at)
          SELECT entry, account, 'purchase', -200, 100000000 - 200 * (1 + i / ${accounts}), tap, till, 'school', at FROM gen;
        INSERT INTO entry_lines (entry_id, line_no, product_id, name, quantity, unit_price_ore)
          SELECT entry, 1, 'frugt', 'Frugt', 1, 200 FROM gen;
        INSERT INTO taps (tap_id, reader_id, till_id, card_uid, outcome, code, decision, decided_at)
          SELECT tap, 'reader-' || (i % ${READERS}), till, 'x', 'approved', NULL,
            json_object('v', 1, 'tap_id', tap, 'reader_id', 'reader-' || (i % ${READERS}), 'till_id', till,
              'card_kind', 'legacy', 'decided_at', at, 'outcome', 'approved', 'amount_ore', 200,
              'balance_ore', 100000000 - 200 * (1 + i / ${accounts}), 'first_name', 'Barn',
              'lines', json('[{"product_id":"frugt","name":"Frugt","quantity":1,"unit_price_ore":200}]'), 'entry_id', entry),
            at FROM gen;
      `);
    })();
  }
  db.prepare(
    `UPDATE accounts SET balance_ore = (SELECT SUM(amount_ore) FROM entries e WHERE e.account_id = accounts.id)`,
  ).run();
  const mismatched = ledger.reports.verify().length;
  if (mismatched > 0) throw new Error(`${mismatched} balances do not add up`);
  ledger.db.pragma('wal_checkpoint(TRUNCATE)');
  ledger.close();
}
const dbMib = Math.round((statSync(site.database).size / 2 ** 20) * 10) / 10;

say('starting the gateway…');
const gateway = await spawnGateway(site.configPath);
const gatewayStarted = rss(gateway.pid);
const client = connectMqtt({
  url: `mqtt://127.0.0.1:${site.port}`,
  clientId: 'reader-reader-0',
  username: 'reader-0',
  password: site.secret,
  clean: true,
  keepalive_s: 60,
  reconnect_ms: 0,
  manualConnect: true,
});
await connectFirst(client);
const tc = new TapClient(client, 'memskolen', 'reader-0', { answer_timeout_ms: 10_000, resend_interval_ms: 5_000 });
client.on('message', (topic, payload) => tc.handleMessage(topic, payload));
await client.subscribeAsync('kantine/memskolen/reader/reader-0/decision', { qos: 1 });
say(`${taps} taps…`);
let approved = 0;
for (let i = 0; i < taps; i++) {
  const r = await tc.submit({ kind: 'legacy', uid: site.cardUid(0) });
  if (r.kind === 'decision' && r.decision.outcome === 'approved') approved++;
}
const gatewayAfterTaps = rss(gateway.pid);

// ── A reader daemon, connected to that gateway ─────────────────────────────────────────────────
say('starting a reader daemon…');
const readerConfig = join(site.dir, 'reader.json');
writeFileSync(
  readerConfig,
  JSON.stringify({
    reader_id: 'reader-1',
    site: 'memskolen',
    broker: { url: `mqtt://127.0.0.1:${site.port}`, secret: site.secret },
    port: { kind: 'sim' },
  }),
);
const reader = await spawnService('reader/src/main.ts', ['--config', readerConfig], 'NFC reader ready');
await new Promise((r) => setTimeout(r, 3000)); // connected and subscribed
const readerRss = rss(reader.pid);
reader.kill('SIGTERM');
await client.endAsync(true);
await stopGracefully(gateway);
rmSync(site.dir, { recursive: true, force: true });

// ── A central worker on a fresh Postgres database ──────────────────────────────────────────────
say('starting a central worker…');
const name = `kantine_memory_${process.pid}`;
const admin = await openPostgres(values.postgres);
await admin.query(`CREATE DATABASE ${name}`);
const url = new URL(values.postgres);
url.pathname = `/${name}`;
const centralConfig = join(tmpdir(), `${name}.json`);
writeFileSync(
  centralConfig,
  JSON.stringify({
    database: { url: url.toString() },
    mqtt: { mode: 'embedded', host: '127.0.0.1', port: await freePort() },
    http: { host: '127.0.0.1', port: await freePort() },
  }),
);
const central = await spawnCentral(centralConfig);
await new Promise((r) => setTimeout(r, 2000));
const centralRss = rss(central.pid);
await stopGracefully(central);
rmSync(centralConfig, { force: true });
await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
await admin.close();

const result = {
  accounts,
  entries,
  ledger_mib: dbMib,
  gateway_started_rss_mib: gatewayStarted.rss_mib,
  gateway_rss_mib: gatewayAfterTaps.rss_mib,
  gateway_peak_rss_mib: gatewayAfterTaps.peak_mib,
  taps,
  taps_approved: approved,
  reader_rss_mib: readerRss.rss_mib,
  central_rss_mib: centralRss.rss_mib,
  node: process.version,
};
process.stdout.write(`${JSON.stringify(result, null, values.json ? 0 : 2)}\n`);
process.exit(0);
