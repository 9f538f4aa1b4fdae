/**
 * Issue 7: integrations watch the site's events and can do nothing else; metrics change as taps
 * are made; health and readiness; the tap id on every log line of a tap's path; a reader's health
 * in its status. All against a real gateway with its embedded broker and real reader daemons.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INTEGRATION_USER_PREFIX, Ledger } from '@kantine/gateway';
import {
  decodePayload,
  LinkEvent,
  ReaderEvent,
  readerTopic,
  SaleEvent,
  siteEventTopic,
  TapEvent,
} from '@kantine/protocol';
import test from 'ava';
import mqtt from 'mqtt';
import pino from 'pino';
import type { Static, TSchema } from 'typebox';
import { repoRoot } from './helpers/process.ts';
import { cards, makeTap, products, purchaseCount, SITE, startSite, type TestSite } from './helpers/site.ts';
import { until, waitForEvent } from './helpers/wait.ts';

// Serial: each test runs a gateway, readers and scrypt logins; side by side on two cores the
// readers' 5 s connect budget is not always met.
const serial = test.serial;

/** An integration's MQTT client, recording every message it receives. */
async function integration(site: TestSite, id: string, secret: string) {
  const client = await mqtt.connectAsync(site.url, {
    clientId: `${INTEGRATION_USER_PREFIX}${id}:${Math.random().toString(16).slice(2, 8)}`,
    username: `${INTEGRATION_USER_PREFIX}${id}`,
    password: secret,
    reconnectPeriod: 0,
    protocolVersion: 4,
  });
  const got: { topic: string; payload: unknown }[] = [];
  client.on('message', (topic, payload) => got.push({ topic, payload: JSON.parse(payload.toString()) }));
  return { client, got };
}

async function scrape(site: TestSite): Promise<string> {
  const res = await fetch(`${site.http}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

/** One sample's value from Prometheus text, 0 when absent. */
function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

async function sell(site: TestSite, reader: Awaited<ReturnType<TestSite['reader']>>, card: string) {
  const put = await site.api('till-1', 'PUT', '/basket', {
    lines: [
      { product_id: products.ostehoeps.id, quantity: 1 },
      { product_id: products.yoghurt.id, quantity: 2 },
    ],
  });
  if (put.status !== 200) throw new Error(`basket: ${put.status} ${await put.text()}`);
  return reader.tap(card);
}

serial("an integration receives the site's tap, sale, reader and link events, and nothing personal", async (t) => {
  const site = await startSite(t);
  const secret = await site.gateway.addIntegration('lampe', 'Lampe ved disken');
  const { client, got } = await integration(site, 'lampe', secret);
  t.teardown(() => client.endAsync(true));
  const granted = await client.subscribeAsync(`kantine/${SITE}/events/#`, { qos: 1 });
  t.is(granted[0]?.qos, 1);

  const reader = await site.reader('r-1');
  const sold = await sell(site, reader, cards.alma);
  t.is(sold.kind === 'decision' && sold.decision.outcome, 'approved');
  const declined = await sell(site, reader, cards.blocked);
  t.is(declined.kind === 'decision' && declined.decision.code, 'card_blocked');

  await until(async () => (got.filter((m) => m.topic.endsWith('/tap')).length >= 2 ? true : undefined), 'tap events');
  const taps = got.filter((m) => m.topic === siteEventTopic(SITE, 'tap')).map((m) => decodeAs(TapEvent, m.payload));
  t.deepEqual(
    taps.map((e) => [e.outcome, e.code ?? null, e.till_id]),
    [
      ['approved', null, 'till-1'],
      ['declined', 'card_blocked', 'till-1'],
    ],
  );
  const sales = got.filter((m) => m.topic === siteEventTopic(SITE, 'sale')).map((m) => decodeAs(SaleEvent, m.payload));
  t.is(sales.length, 1, 'only the approved tap is a sale');
  t.is(sales[0]?.amount_ore, 1500);
  t.deepEqual(
    sales[0]?.lines.map((l) => [l.product_id, l.quantity, l.unit_price_ore]),
    [
      ['ostehoeps', 1, 300],
      ['yoghurt', 2, 600],
    ],
  );
  const readerEvents = got.filter((m) => m.topic === siteEventTopic(SITE, 'reader', 'r-1'));
  t.true(readerEvents.length >= 1);
  const online = decodeAs(ReaderEvent, readerEvents[0]?.payload);
  t.is(online.state, 'online');
  t.is(online.till_id, 'till-1');
  const link = decodeAs(LinkEvent, got.find((m) => m.topic === siteEventTopic(SITE, 'link'))?.payload);
  t.is(link.state, 'not_configured', 'retained, so a new integration learns it at once');

  const everything = JSON.stringify(got);
  for (const personal of ['Alma', 'acc-alma', 'balance_ore', 'first_name', cards.alma]) {
    t.false(everything.includes(personal), `events carry no ${personal}`);
  }
});

serial('an integration cannot publish a tap or a decision, nor subscribe outside the events', async (t) => {
  const site = await startSite(t);
  const secret = await site.gateway.addIntegration('eksport', 'Salgseksport');
  await site.reader('r-1');
  const refused: string[] = [];
  site.gateway.on('refused', (e) => refused.push(`${e.what}:${e.integration_id ?? e.reader_id}:${e.topic ?? ''}`));

  const { client } = await integration(site, 'eksport', secret);
  t.teardown(() => client.endAsync(true));
  for (const filter of [
    readerTopic(SITE, 'r-1', 'decision'),
    readerTopic(SITE, 'r-1', 'tap'),
    '#',
    'kantine/+/events/#',
    `kantine/${SITE}/events/`,
  ]) {
    const granted = await client.subscribeAsync(filter, { qos: 1 }).then(
      (g) => g[0]?.qos,
      (err: { packet?: { granted?: number[] } }) => err.packet?.granted?.[0],
    );
    t.is(granted, 128, `subscribe ${filter} is refused (SUBACK 0x80)`);
  }

  // A tap in the integration's name: the broker closes the connection and nothing is charged.
  const closed = waitForEvent(client, 'close');
  const tap = makeTap('r-1', cards.alma);
  client.publish(readerTopic(SITE, 'r-1', 'tap'), JSON.stringify(tap), { qos: 1 });
  await closed;
  t.is(purchaseCount(site.ledger), 0);
  t.is(site.ledger.db.prepare('SELECT COUNT(*) AS n FROM taps').pluck().get(), 0, 'no tap was stored');
  t.true(refused.includes(`publish:eksport:${readerTopic(SITE, 'r-1', 'tap')}`));
  for (const f of ['#', 'kantine/+/events/#']) t.true(refused.includes(`subscribe:eksport:${f}`));

  // A decision, or an event, in the integration's name: also refused.
  for (const topic of [readerTopic(SITE, 'r-1', 'decision'), siteEventTopic(SITE, 'sale')]) {
    const { client: again } = await integration(site, 'eksport', secret);
    const gone = waitForEvent(again, 'close');
    again.publish(topic, '{"v":1}', { qos: 1 });
    await gone;
    t.true(refused.includes(`publish:eksport:${topic}`), topic);
  }

  // A wrong secret, a reader's credentials under the integration prefix, an empty id.
  for (const [username, password] of [
    [`${INTEGRATION_USER_PREFIX}eksport`, 'wrong-secret-0123456789abcdef'],
    [`${INTEGRATION_USER_PREFIX}`, secret],
    [`${INTEGRATION_USER_PREFIX}r-1`, secret],
  ] as const) {
    const err = await mqtt.connectAsync(site.url, { username, password, reconnectPeriod: 0, protocolVersion: 4 }).then(
      (c) => c.endAsync(true).then(() => null),
      (e: Error) => e,
    );
    t.truthy(err, `${username} may not connect`);
  }
});

serial('revoking an integration closes its connection and refuses it after; the CLI does the same', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-int-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const site = await startSite(t);
  const secret = await site.gateway.addIntegration('alarm', 'Alarm');
  const { client } = await integration(site, 'alarm', secret);
  const closed = waitForEvent(client, 'close');
  t.true(site.gateway.revokeIntegration('alarm'));
  await closed;
  await t.throwsAsync(
    mqtt.connectAsync(site.url, {
      username: `${INTEGRATION_USER_PREFIX}alarm`,
      password: secret,
      reconnectPeriod: 0,
      protocolVersion: 4,
    }),
  );
  t.false(site.gateway.revokeIntegration('alarm'), 'a second revoke finds nothing to revoke');

  // The CLI works on the ledger beside the running gateway; the gateway's sweep closes the link.
  const db = site.gateway.config.database;
  const config = join(dir, 'gateway.json');
  writeFileSync(config, JSON.stringify({ site: { id: SITE, name: 'Testskolen' }, database: db }));
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['--import=tsx', 'gateway/src/main.ts', 'integration', ...args, '--config', config], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 30_000,
    });
  const added = cli('add', 'node-red', 'Node-RED', 'på', 'kontoret');
  t.is(added.status, 0, added.stderr);
  const cliSecret = /secret:\s+(\S+)/.exec(added.stdout)?.[1] ?? '';
  t.regex(added.stdout, /user name: integration:node-red/);
  t.regex(cli('list').stdout, /^node-red\tNode-RED på kontoret\tactive since /m);
  const bad = cli('add', 'Node Red');
  t.is(bad.status, 1);
  t.regex(bad.stderr, /invalid_request/);

  const { client: red } = await integration(site, 'node-red', cliSecret);
  const redClosed = waitForEvent(red, 'close', () => true, 15_000);
  t.is(cli('revoke', 'node-red').status, 0);
  await redClosed;
  t.regex(cli('list').stdout, /^node-red\tNode-RED på kontoret\trevoked /m);
  const again = cli('revoke', 'node-red');
  t.is(again.status, 1);
  t.regex(again.stderr, /not_found/);
  const ledger = new Ledger(db, { now: () => new Date() });
  t.teardown(() => ledger.close());
  t.notRegex(JSON.stringify(ledger.integrations.listIntegrations()), new RegExp(cliSecret), 'only the hash is stored');
});

serial('metrics change as taps are made', async (t) => {
  const site = await startSite(t);
  const before = await scrape(site);
  t.is(sample(before, 'kantine_decision_seconds_count'), 0);
  t.is(sample(before, 'kantine_readers_online'), 0);
  t.notRegex(before, /^kantine_central_link_up /m, 'no link metrics on a site not linked');

  const reader = await site.reader('r-1');
  await sell(site, reader, cards.alma);
  await sell(site, reader, cards.blocked);
  await reader.tap(cards.unknown);
  const client = await site.rawClient('r-2', await site.enrol('r-2', 'till-2'));
  client.publish(readerTopic(SITE, 'r-2', 'tap'), '{ not json', { qos: 1 });
  await until(async () =>
    sample(await scrape(site), 'kantine_messages_rejected_total{code="malformed_json"}') ? true : undefined,
  );

  const after = await scrape(site);
  t.is(sample(after, 'kantine_decision_seconds_count'), 3);
  t.true(sample(after, 'kantine_decision_seconds_sum') > 0);
  t.is(sample(after, 'kantine_decisions_total{outcome="approved",code=""}'), 1);
  t.is(sample(after, 'kantine_decisions_total{outcome="declined",code="card_blocked"}'), 1);
  t.is(sample(after, 'kantine_decisions_total{outcome="declined",code="unknown_card"}'), 1);
  t.is(sample(after, 'kantine_readers_online'), 1);
  t.true(sample(after, 'kantine_group_commit_batch_size_count') >= 3);
  t.regex(after, /^kantine_gateway_process_cpu_seconds_total /m, "the process's own metrics are there too");

  // Every metric the Grafana dashboard and the docs' alerts use exists (the link's only when linked:
  // tests/central-link.test.ts).
  const helped = new Set([...after.matchAll(/^# HELP (\S+) /gm)].map((m) => m[1]));
  for (const doc of ['docs/grafana/kantine-gateway.json', 'docs/operations/monitoring.md']) {
    const used = readFileSync(join(repoRoot, doc), 'utf8').match(/kantine_[a-z0-9_]+/g) ?? [];
    for (const name of new Set(used.map((n) => n.replace(/_(bucket|sum|count)$/, '')))) {
      if (name.startsWith('kantine_central_') || name.endsWith('_')) continue;
      t.true(helped.has(name), `${doc} uses ${name}`);
    }
  }

  const refusedBefore = sample(after, 'kantine_mqtt_refused_total{what="connect"}');
  await mqtt
    .connectAsync(site.url, { username: 'r-1', password: 'nope', reconnectPeriod: 0, protocolVersion: 4 })
    .catch(() => undefined);
  t.is(sample(await scrape(site), 'kantine_mqtt_refused_total{what="connect"}'), refusedBefore + 1);
});

serial('healthz answers; readyz says whether the site can decide taps', async (t) => {
  const site = await startSite(t);
  const health = await fetch(`${site.http}/healthz`);
  t.is(health.status, 200);
  t.deepEqual(await health.json(), { ok: true });
  const ready = await fetch(`${site.http}/readyz`);
  t.is(ready.status, 200);
  t.deepEqual(await ready.json(), {
    ready: true,
    checks: { ledger: true, mqtt: true },
    central: 'not_configured',
  });
  // The ledger's database gone from under the process: not ready, and it says which check failed.
  site.ledger.db.close();
  const broken = await fetch(`${site.http}/readyz`);
  t.is(broken.status, 503);
  t.like(await broken.json(), { ready: false, checks: { ledger: false } });
});

serial("every log line of a tap's path carries its tap id", async (t) => {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug' },
    {
      write: (line: string) => {
        lines.push(JSON.parse(line));
      },
    },
  );
  const site = await startSite(t, { log });
  const reader = await site.reader('r-1');
  const client = await site.rawClient('r-2', await site.enrol('r-2', 'till-2'));
  await site.login('till-1');
  const start = lines.length;
  await sell(site, reader, cards.alma);
  await reader.tap(cards.unknown);
  // A tap the gateway refuses before the ledger (it names another reader than its topic).
  const wrong = makeTap('r-1', cards.alma);
  const rejected = waitForEvent(site.gateway, 'rejected');
  client.publish(readerTopic(SITE, 'r-2', 'tap'), JSON.stringify(wrong), { qos: 1 });
  await rejected;

  const tapPath = lines.slice(start).filter((l) => l.part !== 'http');
  t.true(tapPath.length >= 5, `${tapPath.length} lines`);
  for (const l of tapPath) t.is(typeof l.tap_id, 'string', `"${l.msg}" names its tap`);
  t.true(tapPath.some((l) => l.msg === 'tap received'));
  t.true(tapPath.some((l) => l.msg === 'decision' && typeof l.ms === 'number'));
  t.true(tapPath.some((l) => l.msg === 'refused a message from a reader' && l.tap_id === wrong.tap_id));
});

serial('a reader reports its health in its status: uptime, taps, misreads', async (t) => {
  const site = await startSite(t, { readerHealthMs: 200 });
  const reader = await site.reader('r-1');
  await reader.tap(cards.alma);
  const health = await until(async () => {
    const h = site.gateway.readers.get('r-1')?.health;
    return h && h.taps >= 1 ? h : undefined;
  }, 'a status with the tap counted');
  t.is(health.taps, 1);
  t.is(health.no_answer, 0);
  t.is(typeof health.uptime_s, 'number');
  t.truthy(health.last_tap_at);
});

/** Checks a received payload against its schema, as a consumer would. */
function decodeAs<S extends TSchema>(schema: S, payload: unknown): Static<S> {
  return decodePayload(schema, JSON.stringify(payload));
}
