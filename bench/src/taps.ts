/**
 * npm run bench:taps -- --readers 20 --seconds 10 --json
 *
 * Durable tap decisions through the real gateway process, beside the raw baseline measured in
 * the same run: an MQTT QoS1 echo through the same broker, answered in the gateway process with
 * no ledger work. Simulated readers (the reader's own TapClient) run in this process, each in a
 * closed loop: tap, wait for the decision, tap again. `--rate N`: open loop instead, N taps (and N
 * echoes) a second spread evenly over the readers, each sent on time whether or not the previous
 * one was answered. `--sun`: a third phase of the same taps made with NTAG 424 DNA cards (SUN
 * messages from programmed card twins, verified by the gateway), beside the legacy UID taps.
 */
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Ntag424, Ntag424Card, personalizeCard, readCard } from '@kantine/card';
import { Ledger } from '@kantine/gateway';
import { connectFirst, connectMqtt, type MqttClient } from '@kantine/mqtt';
import type { CardRead } from '@kantine/protocol';
import { TapClient } from '@kantine/reader';
import { makeLoadSite } from '@kantine/tests/helpers/load-site.ts';
import { freePort, spawnGateway, stopGracefully } from '@kantine/tests/helpers/process.ts';
import { cpuPerOp, summarize } from './stats.ts';

const SITE = 'benchskolen';
const WARMUP_S = 1;

const { values } = parseArgs({
  options: {
    readers: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
    // Writes a V8 CPU profile of the gateway process into this folder.
    profile: { type: 'string' },
    // Open loop: taps (and echoes) per second over all readers.
    rate: { type: 'string' },
    // Also measure taps with NTAG 424 DNA cards (SUN verified by the gateway).
    sun: { type: 'boolean', default: false },
  },
});
const readers = Number(values.readers);
const seconds = Number(values.seconds);
if (!Number.isInteger(readers) || readers < 1 || readers > 500) throw new Error('--readers must be 1..500');
if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 600) throw new Error('--seconds must be in (0, 600]');
const rate = values.rate === undefined ? undefined : Number(values.rate);
if (rate !== undefined && (!Number.isFinite(rate) || rate <= 0 || rate > 20_000)) {
  throw new Error('--rate must be in (0, 20000] taps/s');
}
const say = (line: string) => {
  if (!values.json) process.stderr.write(`${line}\n`);
};

// One till per reader with a standing basket, one child per till with money for any run. HTTP on a
// known loopback port (plain: nothing but this bench talks to it), for the group commits' sizes.
const httpPort = await freePort();
const site = await makeLoadSite({
  site: SITE,
  readers,
  price_ore: 200,
  balance_ore: 1_000_000_000,
  config: { bench_echo: true, http: { host: '127.0.0.1', port: httpPort, tls: 'off' } },
});
const { database, configPath, port, secret } = site;
const uid = site.cardUid;

// --sun: one kantine card per reader (a twin programmed as IT would, in a batch of its own),
// registered for the reader's child; each tap reads it afresh, so every SUN message is new.
const SUN_BATCH = 'BENCH-01';
const SUN_KEYS = { appMaster: Buffer.alloc(16, 0x21), sdmMaster: Buffer.alloc(16, 0x22) };
const sunUid = (i: number) => `05${i.toString(16).toUpperCase().padStart(12, '0')}`;
const sunCards: Ntag424Card[] = [];
const onReader = (card: Ntag424Card) => {
  card.reset();
  return async (apdu: Buffer) => card.transmit(apdu);
};
if (values.sun) {
  const ledger = new Ledger(database, { now: () => new Date() });
  ledger.accounts.putBatch({ id: SUN_BATCH, sdm_master: SUN_KEYS.sdmMaster });
  for (let i = 0; i < readers; i++) {
    const card = new Ntag424Card(sunUid(i));
    const r = await personalizeCard(new Ntag424(onReader(card)), {
      batch: SUN_BATCH,
      keys: SUN_KEYS,
      urlBase: 'https://kort.kantine.example/t',
    });
    if (r.outcome !== 'programmed') throw new Error('a bench card was not fresh');
    ledger.accounts.putCard({
      uid: sunUid(i),
      account_id: site.accountId(i),
      state: 'active',
      kind: 'ntag424',
      batch_id: SUN_BATCH,
    });
    sunCards.push(card);
  }
  ledger.close();
}

// The gateway logs at its production level (info: a line per decline or repeated tap); the logs are drained.
const gateway = await spawnGateway(
  configPath,
  { LOG_LEVEL: 'info' },
  values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : [],
);
const clients: MqttClient[] = [];
for (let i = 0; i < readers; i++) {
  const client = connectMqtt({
    url: `mqtt://127.0.0.1:${port}`,
    clientId: `reader-reader-${i}`, // `reader-<reader id>`, as the daemon's
    username: `reader-${i}`,
    password: secret,
    clean: true,
    keepalive_s: 60,
    reconnect_ms: 0,
    manualConnect: true,
  });
  await connectFirst(client);
  clients.push(client);
}

/**
 * What one operation does: `prepare` (not timed: reading a card twin), then `op` (timed: from the
 * send until its answer).
 */
interface Op {
  prepare?: (i: number) => Promise<unknown>;
  /** Resolves false for an op that never went out (a reader refused it): it has no latency. */
  op: (i: number, prepared: unknown) => Promise<unknown>;
}

/** Runs an op in a closed loop on every client for `s` seconds; returns each op's latency. */
async function closedLoop(s: number, { prepare, op }: Op): Promise<number[]> {
  const latencies: number[] = [];
  const until = performance.now() + s * 1000;
  await Promise.all(
    clients.map(async (_c, i) => {
      while (performance.now() < until) {
        const prepared = await prepare?.(i);
        const t0 = performance.now();
        if ((await op(i, prepared)) !== false) latencies.push(performance.now() - t0);
      }
    }),
  );
  return latencies;
}

/**
 * Runs an op in an open loop for `s` seconds: `perSecond` ops a second in all, spread evenly
 * over the readers (each reader every readers/perSecond s, the readers' turns staggered), each
 * sent on its turn whether or not earlier ones were answered. Returns each op's latency, from its
 * send until its answer; waits for the last answers.
 */
async function openLoop(s: number, perSecond: number, { prepare, op }: Op): Promise<number[]> {
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const start = performance.now();
  const until = start + s * 1000;
  const interval = (clients.length * 1000) / perSecond;
  await Promise.all(
    clients.map(async (_c, i) => {
      for (let k = 0; ; k++) {
        const due = start + (i * interval) / clients.length + k * interval;
        if (due >= until) break;
        const prepared = await prepare?.(i);
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        const t0 = performance.now();
        pending.push(
          op(i, prepared).then((sent) => {
            if (sent !== false) latencies.push(performance.now() - t0);
          }),
        );
      }
    }),
  );
  await Promise.all(pending);
  return latencies;
}

/** The gateway's group commits so far (its `/metrics`): how many, and how many taps they held. */
async function groupCommits(): Promise<{ count: number; taps: number }> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const sample = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    count: sample('kantine_group_commit_batch_size_count'),
    taps: sample('kantine_group_commit_batch_size_sum'),
  };
}
/** Taps per group commit while `run` ran (the scrapes fall outside its CPU window). */
async function withBatches<T>(run: () => Promise<T>): Promise<T & { batch_mean: number }> {
  const before = await groupCommits();
  const result = await run();
  const after = await groupCommits();
  const batch_mean = Math.round(((after.taps - before.taps) / Math.max(1, after.count - before.count)) * 10) / 10;
  return { ...result, batch_mean };
}

const load = (s: number, o: Op) => (rate === undefined ? closedLoop(s, o) : openLoop(s, rate, o));

// ── Baseline: QoS1 echo through the same broker, no ledger ────────────────────────────────────
const echoWaiters = clients.map(() => new Map<string, () => void>());
await Promise.all(
  clients.map(async (c, i) => {
    const res = `kantine-bench/${SITE}/reader-${i}/echo/res`;
    await c.subscribeAsync(res, { qos: 1 });
    c.on('message', (topic, payload) => {
      if (topic !== res) return;
      const id = payload.toString();
      echoWaiters[i]?.get(id)?.();
      echoWaiters[i]?.delete(id);
    });
  }),
);
let echoSeq = 0;
const echoOp = (i: number) =>
  new Promise<void>((resolve) => {
    const id = `${i}-${echoSeq++}-${'x'.repeat(180)}`; // about the size of a tap
    echoWaiters[i]?.set(id, resolve);
    clients[i]?.publish(`kantine-bench/${SITE}/reader-${i}/echo/req`, id, { qos: 1 });
  });

// ── Decisions: the reader's own TapClient, durable decisions ──────────────────────────────────
const tapClients = clients.map((c, i) => {
  const tc = new TapClient(c, SITE, `reader-${i}`, { answer_timeout_ms: 10_000, resend_interval_ms: 5_000 });
  c.on('message', (topic, payload) => tc.handleMessage(topic, payload));
  return tc;
});
await Promise.all(clients.map((c, i) => c.subscribeAsync(`kantine/${SITE}/reader/reader-${i}/decision`, { qos: 1 })));
let unanswered = 0;
const submit = async (i: number, card: CardRead) => {
  // An open loop can outrun the gateway: a reader holds at most a few taps open and refuses more,
  // as the reader daemon does. Such a tap counts as not approved.
  let r: Awaited<ReturnType<TapClient['submit']>> | undefined;
  try {
    r = await tapClients[i]?.submit(card);
  } catch {
    unanswered++;
    return false;
  }
  if (r?.kind !== 'decision' || r.decision.outcome !== 'approved') unanswered++;
  return true;
};
const echo: Op = { op: echoOp };
const tap: Op = { op: (i) => submit(i, { kind: 'legacy', uid: uid(i) }) };
// A SUN tap: the card twin is read (not timed: on a till that is the card's own time, measured
// by bench:card), then the read is sent; the gateway verifies its MAC and counter.
const sunTap: Op = {
  prepare: (i) => readCard(onReader(sunCards[i] as Ntag424Card)),
  op: (i, read) => submit(i, read as CardRead),
};

const mode = rate === undefined ? 'closed loop' : `open loop, ${rate} /s`;
say(`warming up (${WARMUP_S} s each)…`);
await closedLoop(WARMUP_S, echo);
await closedLoop(WARMUP_S, tap);
if (values.sun) await closedLoop(WARMUP_S, sunTap);
say(`echo baseline, ${readers} readers, ${seconds} s, ${mode}…`);
const gatewayPid = gateway.pid ?? 0;
const echoStats = await cpuPerOp(gatewayPid, async () => summarize(await load(seconds, echo), seconds));
say(`durable decisions, ${readers} readers, ${seconds} s, ${mode}…`);
unanswered = 0;
const decisionStats = await withBatches(() =>
  cpuPerOp(gatewayPid, async () => summarize(await load(seconds, tap), seconds)),
);
const notApproved = unanswered;
let sunStats: typeof decisionStats | undefined;
if (values.sun) {
  say(`durable decisions with NTAG 424 SUN cards, ${readers} readers, ${seconds} s, ${mode}…`);
  unanswered = 0;
  sunStats = await withBatches(() => cpuPerOp(gatewayPid, async () => summarize(await load(seconds, sunTap), seconds)));
}

for (const c of clients) await c.endAsync(true);
await stopGracefully(gateway);

// Read back from the ledger: every tap recorded, every balance equal to its entries.
const ledger = new Ledger(database, { now: () => new Date() });
const taps = (ledger.db.prepare('SELECT COUNT(*) AS n FROM taps').get() as { n: number }).n;
const mismatched = ledger.reports.verify().length;
ledger.close();
rmSync(site.dir, { recursive: true, force: true });

const result = {
  readers,
  seconds,
  ...(rate === undefined ? {} : { rate }),
  decisions_per_s: decisionStats.per_s,
  decision_p50_ms: decisionStats.p50_ms,
  decision_p99_ms: decisionStats.p99_ms,
  echo_per_s: echoStats.per_s,
  echo_p50_ms: echoStats.p50_ms,
  echo_p99_ms: echoStats.p99_ms,
  decision_gateway_cpu_us: decisionStats.gateway_cpu_us,
  decision_batch_mean: decisionStats.batch_mean,
  decision_client_cpu_us: decisionStats.client_cpu_us,
  echo_gateway_cpu_us: echoStats.gateway_cpu_us,
  echo_client_cpu_us: echoStats.client_cpu_us,
  throughput_ratio: Math.round((decisionStats.per_s / echoStats.per_s) * 100) / 100,
  p99_ratio: Math.round((decisionStats.p99_ms / echoStats.p99_ms) * 100) / 100,
  cpu_ratio: Math.round((decisionStats.gateway_cpu_us / echoStats.gateway_cpu_us) * 100) / 100,
  ...(sunStats
    ? {
        sun_decisions_per_s: sunStats.per_s,
        sun_decision_p50_ms: sunStats.p50_ms,
        sun_decision_p99_ms: sunStats.p99_ms,
        sun_decision_gateway_cpu_us: sunStats.gateway_cpu_us,
        sun_decision_batch_mean: sunStats.batch_mean,
        sun_decision_client_cpu_us: sunStats.client_cpu_us,
        sun_not_approved: unanswered,
      }
    : {}),
  taps_recorded: taps,
  not_approved: notApproved,
  balances_mismatched: mismatched,
  node: process.version,
};
process.stdout.write(`${JSON.stringify(result, null, values.json ? 0 : 2)}\n`);
process.exit(0);
