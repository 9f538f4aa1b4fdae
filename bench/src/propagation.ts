/**
 * npm run bench:propagation -- --gateways 10 --samples 50 --json
 *
 * How fast a change made at central is enforced at the tills: a card blocked (and re-opened)
 * through central's HTTP API, timed from the request until every gateway has applied it to its
 * ledger (the link's `applied` event, then the card's state read back from the gateway's SQLite).
 * The child's account is at every gateway, so each change goes to all of them. Central runs on
 * its embedded defaults (PGlite, its own aedes broker); the gateways are real Gateway instances
 * with their own SQLite ledgers, linked over MQTT on loopback — all in this one process, so the
 * figures include sharing one event loop. Beside it, the raw baseline of the same run: one MQTT
 * QoS 1 message through the same kind of broker (aedes) to as many subscribers, until all have it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CentralService, parseCentralConfig } from '@kantine/central';
import { Gateway, parseGatewayConfig } from '@kantine/gateway';
import { hashSecret, newSecret } from '@kantine/protocol/credentials';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { summarize } from './stats.ts';

const { values } = parseArgs({
  options: {
    gateways: { type: 'string', default: '10' },
    samples: { type: 'string', default: '50' },
    json: { type: 'boolean', default: false },
  },
});
const gateways = Number(values.gateways);
const samples = Number(values.samples);
if (!Number.isInteger(gateways) || gateways < 1 || gateways > 100) throw new Error('--gateways must be 1..100');
if (!Number.isInteger(samples) || samples < 1 || samples > 10_000) throw new Error('--samples must be 1..10000');
const say = (line: string) => {
  if (!values.json) process.stderr.write(`${line}\n`);
};
const silent = pino({ level: 'silent' });
const CARD = '04000000009A01';
const dir = mkdtempSync(join(tmpdir(), 'kantine-propagation-'));

const central = new CentralService({
  config: parseCentralConfig({
    database: { dir: 'memory://' },
    mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
  }),
  log: silent,
});
const sites: Gateway[] = [];
try {
  await central.start();
  const api = `http://127.0.0.1:${central.httpPort}`;
  say(`starting ${gateways} gateways linked to central…`);
  const siteIds = Array.from({ length: gateways }, (_, i) => `prop-${i}`);
  for (const id of siteIds) {
    const secret = newSecret();
    await central.central.putSite({ id, name: id, place_kinds: ['school'], secret_hash: await hashSecret(secret) });
    const gateway = new Gateway({
      config: parseGatewayConfig({
        site: { id, name: id },
        database: join(dir, `${id}.db`),
        mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0, tls: 'off' },
        http: { host: '127.0.0.1', port: 0 },
        central: { url: `mqtt://127.0.0.1:${central.mqttPort}`, secret },
      }),
      log: silent,
    });
    await gateway.start();
    sites.push(gateway);
  }
  await central.central.putAccount({ id: 'acc-prop', first_name: 'Prop', sites: siteIds });
  await central.central.putCard({ uid: CARD, kind: 'legacy' });
  await central.central.activateCard(CARD, 'acc-prop');
  await Promise.all(sites.map((g) => cardState(g, 'active', 30_000)));

  say(`${samples} changes (block, re-open, …) through central's API…`);
  const all: number[] = [];
  const each: number[] = [];
  for (let i = 0; i < samples; i++) {
    const block = i % 2 === 0;
    const target = block ? 'blocked' : 'active';
    const t0 = performance.now();
    const applied = sites.map((g) => cardState(g, target, 10_000).then(() => performance.now() - t0));
    const res = await fetch(`${api}/api/cards/${CARD}/${block ? 'block' : 'unblock'}`, { method: 'POST' });
    if (res.status !== 204) throw new Error(`central refused: ${res.status} ${await res.text()}`);
    const times = await Promise.all(applied);
    each.push(...times);
    all.push(Math.max(...times));
  }

  say('baseline: one QoS 1 message through aedes to as many subscribers…');
  const baseline = await fanOutBaseline(gateways, samples);

  const every = summarize(all, 1);
  const result = {
    gateways,
    samples,
    p50_ms: every.p50_ms,
    p99_ms: every.p99_ms,
    max_ms: Math.round(Math.max(...all) * 1000) / 1000,
    per_gateway_p50_ms: summarize(each, 1).p50_ms,
    baseline_p50_ms: baseline.p50_ms,
    baseline_p99_ms: baseline.p99_ms,
    target_ms: 2_000,
  };
  process.stdout.write(`${JSON.stringify(result, null, values.json ? 0 : 2)}\n`);
} finally {
  for (const g of sites) await g.stop();
  await central.stop();
  rmSync(dir, { recursive: true, force: true });
}

/** Resolves once the gateway's ledger has the card in `state` (checked after each applied change). */
function cardState(g: Gateway, state: string, timeout_ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const link = g.link;
    if (!link) return reject(new Error('gateway not linked'));
    if (g.ledger.getCard(CARD)?.state === state) return resolve();
    const timer = setTimeout(() => {
      link.off('applied', check);
      reject(new Error(`${g.config.site.id}: card not ${state} within ${timeout_ms} ms`));
    }, timeout_ms);
    const check = () => {
      if (g.ledger.getCard(CARD)?.state !== state) return;
      clearTimeout(timer);
      link.off('applied', check);
      resolve();
    };
    link.on('applied', check);
  });
}

/** The same fan-out with no kantine in it: publish once, wait until every subscriber has it. */
async function fanOutBaseline(n: number, count: number) {
  const broker = await Aedes.createBroker();
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    broker.handle(socket);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const clients: MqttClient[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4 });
      await c.subscribeAsync(`baseline/${i}`, { qos: 1 });
      clients.push(c);
    }
    const times: number[] = [];
    for (let s = 0; s < count; s++) {
      const t0 = performance.now();
      const got = clients.map((c) => new Promise<void>((r) => c.once('message', () => r())));
      // Central publishes one message per site, as here.
      for (let i = 0; i < n; i++) {
        broker.publish(
          {
            cmd: 'publish',
            topic: `baseline/${i}`,
            payload: Buffer.from(`{"s":${s}}`),
            qos: 1,
            retain: false,
            dup: false,
          },
          () => {},
        );
      }
      await Promise.all(got);
      times.push(performance.now() - t0);
    }
    return summarize(times, 1);
  } finally {
    for (const c of clients) await c.endAsync(true);
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  }
}
