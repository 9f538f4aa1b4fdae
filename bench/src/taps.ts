/**
 * npm run bench:taps -- --readers 20 --seconds 10 --json
 *
 * Durable tap decisions through the real gateway process, beside the raw baseline measured in
 * the same run: an MQTT QoS1 echo through the same broker, answered in the gateway process with
 * no ledger work. Simulated readers (the reader's own TapClient) run in this process, each in a
 * closed loop: tap, wait for the decision, tap again.
 */
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Ledger, makeLoadSite, spawnGateway, stopGracefully } from '@kantine/gateway';
import { setNoDelay, TapClient } from '@kantine/reader';
import mqtt, { type MqttClient } from 'mqtt';
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
  },
});
const readers = Number(values.readers);
const seconds = Number(values.seconds);
if (!Number.isInteger(readers) || readers < 1 || readers > 500) throw new Error('--readers must be 1..500');
if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 600) throw new Error('--seconds must be in (0, 600]');
const say = (line: string) => {
  if (!values.json) process.stderr.write(`${line}\n`);
};

// One till per reader with a standing basket, one child per till with money for any run.
const site = await makeLoadSite({
  site: SITE,
  readers,
  price_ore: 200,
  balance_ore: 1_000_000_000,
  config: { bench_echo: true },
});
const { database, configPath, port, secret } = site;
const uid = site.cardUid;

// The gateway logs at its production level (info: one line per decision); the logs are drained.
const gateway = await spawnGateway(
  configPath,
  { LOG_LEVEL: 'info' },
  values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : [],
);
const clients: MqttClient[] = [];
for (let i = 0; i < readers; i++) {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: `reader-${i}`,
    username: `reader-${i}`,
    password: secret,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  setNoDelay(client);
  clients.push(client);
}

/** Runs `op` in a closed loop on every client for `s` seconds; returns each op's latency. */
async function closedLoop(s: number, op: (i: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  const until = performance.now() + s * 1000;
  await Promise.all(
    clients.map(async (_c, i) => {
      while (performance.now() < until) {
        const t0 = performance.now();
        await op(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return latencies;
}

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
const echo = (i: number) =>
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
const tap = async (i: number) => {
  const r = await tapClients[i]?.submit({ kind: 'legacy', uid: uid(i) });
  if (r?.kind !== 'decision' || r.decision.outcome !== 'approved') unanswered++;
};

say(`warming up (${WARMUP_S} s each)…`);
await closedLoop(WARMUP_S, echo);
await closedLoop(WARMUP_S, tap);
say(`echo baseline, ${readers} readers, ${seconds} s…`);
const gatewayPid = gateway.pid ?? 0;
const echoStats = await cpuPerOp(gatewayPid, async () => summarize(await closedLoop(seconds, echo), seconds));
say(`durable decisions, ${readers} readers, ${seconds} s…`);
const decisionStats = await cpuPerOp(gatewayPid, async () => summarize(await closedLoop(seconds, tap), seconds));

for (const c of clients) await c.endAsync(true);
await stopGracefully(gateway);

// Read back from the ledger: every tap recorded, every balance equal to its entries.
const ledger = new Ledger(database, { now: () => new Date() });
const taps = (ledger.db.prepare('SELECT COUNT(*) AS n FROM taps').get() as { n: number }).n;
const mismatched = ledger.verify().length;
ledger.close();
rmSync(site.dir, { recursive: true, force: true });

const result = {
  readers,
  seconds,
  decisions_per_s: decisionStats.per_s,
  decision_p50_ms: decisionStats.p50_ms,
  decision_p99_ms: decisionStats.p99_ms,
  echo_per_s: echoStats.per_s,
  echo_p50_ms: echoStats.p50_ms,
  echo_p99_ms: echoStats.p99_ms,
  decision_gateway_cpu_us: decisionStats.gateway_cpu_us,
  decision_client_cpu_us: decisionStats.client_cpu_us,
  echo_gateway_cpu_us: echoStats.gateway_cpu_us,
  echo_client_cpu_us: echoStats.client_cpu_us,
  throughput_ratio: Math.round((decisionStats.per_s / echoStats.per_s) * 100) / 100,
  p99_ratio: Math.round((decisionStats.p99_ms / echoStats.p99_ms) * 100) / 100,
  taps_recorded: taps,
  not_approved: unanswered,
  balances_mismatched: mismatched,
  node: process.version,
};
process.stdout.write(`${JSON.stringify(result, null, values.json ? 0 : 2)}\n`);
process.exit(0);
