/**
 * npm run bench:central -- --sites 4 --accounts 50 --entries 20000 [--workers 2] --json
 *
 * Ledger entries ingested per second by central into Postgres: the sites' sales arrive as link
 * messages (200 changes each, as a gateway sends them) and go through central's real up-apply —
 * the message booked as one set: accounts, then cards, then sites locked in that order, every
 * change checked against central's record, the entries with their running balances, the shares
 * they used up, the copies queued for the accounts' other sites and the cursor, in one statement.
 * Beside it, the raw baseline of the same run: the same rows as plain batched INSERTs (200 a
 * statement) into a bare table, with the same concurrency (one stream per site). The two take
 * turns (`--rounds`), so a machine busy with other work weighs on both alike.
 *
 * `--workers N` then runs the same kind of load through real central worker processes on this
 * Postgres and a standard broker (`--mqtt`, default the Mosquitto at 127.0.0.1:1883) sharing the
 * sites' up topics by a shared subscription (`$share`): first one worker, then N, in the same
 * run. Each site sends as a gateway does — at most 5 messages unacknowledged (`--in-flight`),
 * re-sending from central's ack after a gap. Makes its own database on the server given (default: the local
 * test Postgres) and drops it afterwards.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Central, openPostgres } from '@kantine/central';
import { connectFirst, connectMqtt } from '@kantine/mqtt';
import { type LinkUp, linkTopic, MAX_CHANGES_PER_MESSAGE, type UpChange } from '@kantine/protocol';
import { spawnCentral, stopGracefully } from '@kantine/tests/helpers/process.ts';
import { v7 as uuidv7 } from 'uuid';

const { values } = parseArgs({
  options: {
    sites: { type: 'string', default: '4' },
    accounts: { type: 'string', default: '50' },
    entries: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '4' },
    workers: { type: 'string', default: '0' },
    'in-flight': { type: 'string', default: '5' },
    postgres: { type: 'string', default: process.env.KANTINE_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test' },
    mqtt: { type: 'string', default: process.env.KANTINE_BENCH_MQTT ?? 'mqtt://127.0.0.1:1883' },
    json: { type: 'boolean', default: false },
  },
});
const sites = Number(values.sites);
const accounts = Number(values.accounts);
const total = Number(values.entries);
const rounds = Number(values.rounds);
const workers = Number(values.workers);
if (!Number.isInteger(sites) || sites < 1 || sites > 64) throw new Error('--sites must be 1..64');
if (!Number.isInteger(accounts) || accounts < 1 || accounts > 10_000) throw new Error('--accounts must be 1..10000');
if (!Number.isInteger(total) || total < MAX_CHANGES_PER_MESSAGE) throw new Error('--entries must be at least 200');
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) throw new Error('--rounds must be 1..100');
if (!Number.isInteger(workers) || workers < 0 || workers > 16) throw new Error('--workers must be 0..16');
// A gateway keeps at most 5 messages unacknowledged (its MAX_IN_FLIGHT of 5 × 200 changes).
const inFlight = Number(values['in-flight']);
if (!Number.isInteger(inFlight) || inFlight < 1 || inFlight > 5) throw new Error('--in-flight must be 1..5');
const say = (line: string) => {
  if (!values.json) process.stderr.write(`${line}\n`);
};

// A site re-sends from central's ack when nothing moved for this long (a lost or gapped message).
const RESEND_MS = 1_000;
// One phase through the workers ends within this, or the benchmark fails (nothing hangs).
const PHASE_TIMEOUT_MS = 600_000;

const run = randomBytes(4).toString('hex');
const name = `kantine_bench_${run}`;
const admin = await openPostgres(values.postgres);
await admin.query(`CREATE DATABASE ${name}`);
const url = new URL(values.postgres);
url.pathname = `/${name}`;
const db = await openPostgres(url.toString());
const dir = mkdtempSync(join(tmpdir(), 'kantine-bench-central-'));
const children: ChildProcess[] = [];
try {
  const clock = { now: () => new Date() };
  const central = new Central(db, clock, () => {}); // the down messages go nowhere: ingest only
  await central.migrate();
  say(`setting up ${sites} sites × ${accounts} accounts…`);
  // The run's own site ids: the workers' broker may be shared with other runs.
  const siteIds = Array.from({ length: sites }, (_, i) => `bench-${run}-${i}`);
  for (const id of siteIds) await central.sites.put({ id, name: id, place_kinds: ['school'] });
  const accountIds: string[][] = siteIds.map(() => []);
  for (const [s, site] of siteIds.entries()) {
    for (let a = 0; a < accounts; a++) {
      const id = `acc-${s}-${a}`;
      accountIds[s]?.push(id);
      await central.accounts.put({ id, first_name: `Barn ${a}`, sites: [site] });
      await central.money.deposit({ account_id: id, amount_ore: 100_000_000 });
    }
  }

  // The messages each site sends: purchases of its own children, 200 to a message, numbered on
  // from the site's last change.
  const perSite = Math.floor(total / sites / MAX_CHANGES_PER_MESSAGE) * MAX_CHANGES_PER_MESSAGE;
  const lastSeq = siteIds.map(() => 0);
  const makeMessages = (): Extract<LinkUp, { t: 'changes' }>[][] =>
    siteIds.map((_, s) => {
      const list: Extract<LinkUp, { t: 'changes' }>[] = [];
      const ids = accountIds[s] as string[];
      for (let m = 0; m < perSite / MAX_CHANGES_PER_MESSAGE; m++) {
        const changes: UpChange[] = [];
        for (let k = 0; k < MAX_CHANGES_PER_MESSAGE; k++) {
          const seq = (lastSeq[s] as number) + 1;
          lastSeq[s] = seq;
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
  const messages = makeMessages();
  const count = perSite * sites;

  // The raw baseline and central's up-apply take turns, round by round, one stream per site.
  await db.query(
    `CREATE TABLE raw_entries (id text PRIMARY KEY, account_id text NOT NULL, kind text NOT NULL,
       amount_ore bigint NOT NULL, origin text NOT NULL, place_kind text, tap_id text, lines jsonb,
       budgets jsonb, created_at timestamptz NOT NULL)`,
  );
  const roundOf = (list: readonly LinkUp[], r: number) =>
    list.slice(Math.floor((list.length * r) / rounds), Math.floor((list.length * (r + 1)) / rounds));
  let baselineS = 0;
  let centralS = 0;
  // This process's CPU on each side (the benchmark's own message-building included in both).
  let baselineCpuMs = 0;
  let centralCpuMs = 0;
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  say(`${count} entries in ${rounds} rounds: batched INSERTs, then central's up-apply…`);
  for (let r = 0; r < rounds; r++) {
    const c0 = cpuMs();
    const t0 = performance.now();
    await Promise.all(
      messages.map(async (list, s) => {
        for (const msg of roundOf(list, r)) {
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
    const t1 = performance.now();
    const c1 = cpuMs();
    await Promise.all(
      messages.map(async (list, s) => {
        for (const msg of roundOf(list, r)) await central.link.handleUp(siteIds[s] as string, msg);
      }),
    );
    baselineS += (t1 - t0) / 1000;
    centralS += (performance.now() - t1) / 1000;
    baselineCpuMs += c1 - c0;
    centralCpuMs += cpuMs() - c1;
  }
  let booked = count;
  await checkBooks(central, booked);

  const result: Record<string, unknown> = {
    sites,
    accounts_per_site: accounts,
    entries: count,
    entries_per_s: Math.round(count / centralS),
    baseline_per_s: Math.round(count / baselineS),
    ratio: Math.round((count / centralS / (count / baselineS)) * 1000) / 1000,
    rounds,
    // Node's CPU per message of 200 on each side: on a machine of few cores it competes with Postgres.
    node_cpu_ms_per_message: +(centralCpuMs / (count / MAX_CHANGES_PER_MESSAGE)).toFixed(2),
    baseline_node_cpu_ms_per_message: +(baselineCpuMs / (count / MAX_CHANGES_PER_MESSAGE)).toFixed(2),
    database: 'postgres',
  };

  if (workers > 0) {
    // Real worker processes on this database and the standard broker: one, then `workers`.
    const group = `kantine-bench-${run}`;
    const startWorker = async (i: number) => {
      const path = join(dir, `central-${i}.json`);
      writeFileSync(
        path,
        JSON.stringify({
          database: { url: url.toString() },
          mqtt: { mode: 'external', url: values.mqtt, share_group: group },
          http: { host: '127.0.0.1', port: 0 },
        }),
      );
      children.push(await spawnCentral(path));
    };
    const phases: {
      workers: number;
      entries: number;
      entries_per_s: number;
      in_flight: number;
      resent_messages: number;
    }[] = [];
    for (const n of [...new Set([1, workers])]) {
      while (children.length < n) await startWorker(children.length);
      say(`${count} entries through ${n} central worker(s) on ${values.mqtt}…`);
      const { seconds, resent } = await throughWorkers(siteIds, makeMessages(), values.mqtt);
      booked += count;
      phases.push({
        workers: n,
        entries: count,
        entries_per_s: Math.round(count / seconds),
        in_flight: inFlight,
        resent_messages: resent,
      });
    }
    for (const c of children.splice(0)) await stopGracefully(c);
    await checkBooks(central, booked);
    result.workers = phases;
    result.mqtt = values.mqtt;
  }
  process.stdout.write(`${JSON.stringify(result, null, values.json ? 0 : 2)}\n`);
} finally {
  for (const c of children) await stopGracefully(c);
  rmSync(dir, { recursive: true, force: true });
  await db.close();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.close();
}

/** Every entry sent is booked once, and central's books add up. */
async function checkBooks(central: Central, expected: number): Promise<void> {
  const [booked] = await central.db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM entries WHERE kind = 'purchase'",
  );
  if (booked?.n !== expected) throw new Error(`booked ${booked?.n} of ${expected}: the benchmark lost entries`);
  const problems = await central.money.verify();
  if (problems.length > 0) throw new Error(`central's books do not add up: ${problems.join('; ')}`);
}

/**
 * Each site sends its messages over the broker as a gateway does, and waits until central has
 * acknowledged its last change. Returns the seconds from the first send to the last ack.
 */
async function throughWorkers(
  siteIds: readonly string[],
  messages: readonly Extract<LinkUp, { t: 'changes' }>[][],
  brokerUrl: string,
): Promise<{ seconds: number; resent: number }> {
  let resent = 0;
  const clients = await Promise.all(
    siteIds.map(async (site) => {
      const client = connectMqtt({ url: brokerUrl, clientId: `bench-${site}`, clean: true, manualConnect: true });
      await connectFirst(client);
      await client.subscribeAsync(linkTopic(site, 'down'), { qos: 1 });
      return client;
    }),
  );
  try {
    const t0 = performance.now();
    await Promise.all(
      siteIds.map(
        (site, s) =>
          new Promise<void>((resolve, reject) => {
            const client = clients[s];
            const list = messages[s] ?? [];
            if (!client || list.length === 0) return resolve();
            const lastOf = (m: (typeof list)[number]) => m.changes[m.changes.length - 1]?.seq ?? 0;
            const firstOf = (m: (typeof list)[number]) => m.changes[0]?.seq ?? 0;
            const goal = lastOf(list[list.length - 1] as (typeof list)[number]);
            let acked = firstOf(list[0] as (typeof list)[number]) - 1;
            let next = 0; // the next message to send
            let moved = performance.now();
            let gapAt = 0;
            const send = () => {
              while (next < list.length && next - list.findIndex((m) => lastOf(m) > acked) < inFlight) {
                client.publish(linkTopic(site, 'up'), JSON.stringify(list[next]), { qos: 1 });
                next++;
              }
            };
            const resendFromAck = () => {
              const from = list.findIndex((m) => lastOf(m) > acked);
              if (from >= 0 && from < next) {
                resent += next - from;
                next = from;
              }
              send();
            };
            const timer = setInterval(() => {
              if (performance.now() - moved > RESEND_MS) {
                moved = performance.now();
                resendFromAck();
              }
              if (performance.now() - t0 > PHASE_TIMEOUT_MS) {
                clearInterval(timer);
                reject(new Error(`site ${site}: central acknowledged ${acked} of ${goal} in time`));
              }
            }, 100);
            client.on('message', (_topic, payload) => {
              const msg = JSON.parse(payload.toString()) as {
                t: string;
                up_cursor?: number;
                gap?: boolean;
                changes?: { seq: number }[];
              };
              // What central sends down (the accounts, their grants) is acknowledged, as a gateway
              // does, so the workers do not keep re-sending it.
              const downSeq = msg.changes?.[msg.changes.length - 1]?.seq;
              if (msg.t === 'changes' && downSeq !== undefined)
                client.publish(linkTopic(site, 'up'), JSON.stringify({ v: 1, t: 'ack', down_cursor: downSeq }), {
                  qos: 1,
                });
              if (msg.t !== 'ack' || msg.up_cursor === undefined) return;
              if (msg.up_cursor > acked) {
                acked = msg.up_cursor;
                moved = performance.now();
              }
              if (acked >= goal) {
                clearInterval(timer);
                resolve();
              } else if (msg.gap) {
                // As a gateway: re-send from central's cursor, at most every quarter of RESEND_MS.
                if (performance.now() - gapAt >= RESEND_MS / 4) {
                  gapAt = performance.now();
                  resendFromAck();
                }
              } else send();
            });
            send();
          }),
      ),
    );
    return { seconds: (performance.now() - t0) / 1000, resent };
  } finally {
    await Promise.all(clients.map((c) => c.endAsync()));
  }
}
