import { createServer } from 'node:net';
import { type Decision, readerTopic, type Tap } from '@kantine/protocol';
import { parseReaderConfig, ReaderDaemon, SimulatedPort, type TapResult } from '@kantine/reader';
import { Aedes } from 'aedes';
import test from 'ava';
import mqtt from 'mqtt';
import { cards, makeTap, purchaseCount, RecordingFeedback, rawTap, SITE, silent, startSite } from './helpers/site.ts';
import { tcpProxy } from './helpers/tcp-proxy.ts';
import { waitForEvent } from './helpers/wait.ts';

/** A bare broker with no gateway behind it: the test plays the gateway by hand. */
async function bareBroker(t: import('ava').ExecutionContext) {
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const url = `mqtt://127.0.0.1:${port}`;
  const observer = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  await observer.subscribeAsync(`kantine/${SITE}/reader/+/+`, { qos: 1 });
  t.teardown(async () => {
    await observer.endAsync(true);
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { url, observer };
}

async function startReader(
  t: import('ava').ExecutionContext,
  url: string,
  timing: { answer_timeout_ms: number; resend_interval_ms: number },
) {
  const port = new SimulatedPort();
  const feedback = new RecordingFeedback();
  const daemon = new ReaderDaemon({
    config: parseReaderConfig({
      reader_id: 'reader-1',
      site: SITE,
      broker: { url, secret: 'a-secret-of-enough-length' },
      port: { kind: 'sim' },
      ...timing,
    }),
    port,
    feedback,
    log: silent,
  });
  const connected = waitForEvent(daemon, 'connected');
  await daemon.start();
  await connected;
  t.teardown(() => daemon.stop());
  return { daemon, port, feedback };
}

test('the reader re-sends the same tap id until a decision arrives', async (t) => {
  const { url, observer } = await bareBroker(t);
  const { daemon, port, feedback } = await startReader(t, url, { answer_timeout_ms: 5_000, resend_interval_ms: 100 });
  const taps: Tap[] = [];
  observer.on('message', (topic, payload) => {
    if (!topic.endsWith('/tap')) return;
    const tap = JSON.parse(payload.toString()) as Tap;
    taps.push(tap);
    if (taps.length === 3) {
      const decision: Decision = {
        v: 1,
        tap_id: tap.tap_id,
        reader_id: 'reader-1',
        outcome: 'balance',
        balance_ore: 4_200,
        first_name: 'Alma',
        decided_at: new Date().toISOString(),
      };
      observer.publish(readerTopic(SITE, 'reader-1', 'decision'), JSON.stringify(decision), { qos: 1 });
    }
  });
  const result = waitForEvent<[TapResult]>(daemon, 'result');
  port.tap(cards.alma);
  const [r] = await result;
  t.is(r.kind, 'decision');
  t.true(taps.length >= 3);
  t.is(new Set(taps.map((x) => x.tap_id)).size, 1, 'one tap id for all sends');
  t.deepEqual(
    taps.slice(0, 3).map((x) => x.attempt),
    [1, 2, 3],
  );
  t.regex(taps[0]?.tap_id ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-7/, 'a UUIDv7');
  t.deepEqual(feedback.shown, ['balance']);
});

test('a card held on the reader is one tap', async (t) => {
  const { url, observer } = await bareBroker(t);
  const { daemon, port } = await startReader(t, url, { answer_timeout_ms: 5_000, resend_interval_ms: 5_000 });
  const tapIds: string[] = [];
  // The test plays the gateway and answers every tap at once, so the daemon is free again while
  // the card still lies on the reader: only the port's "once per presentation" keeps it one tap.
  observer.on('message', (topic, payload) => {
    if (!topic.endsWith('/tap')) return;
    const tap = JSON.parse(payload.toString()) as Tap;
    tapIds.push(tap.tap_id);
    const decision: Decision = {
      v: 1,
      tap_id: tap.tap_id,
      reader_id: 'reader-1',
      outcome: 'balance',
      balance_ore: 4_200,
      first_name: 'Alma',
      decided_at: new Date().toISOString(),
    };
    observer.publish(readerTopic(SITE, 'reader-1', 'decision'), JSON.stringify(decision), { qos: 1 });
  });
  const first = waitForEvent<[TapResult]>(daemon, 'result');
  port.present(cards.alma);
  t.is((await first)[0].kind, 'decision');

  // The first tap is over; the card stays (the reader sees it again and again) and is no new tap.
  port.present(cards.alma);
  port.present(cards.alma);
  const another = await waitForEvent(observer, 'message', (topic: string) => topic.endsWith('/tap'), 300).then(
    () => true,
    () => false,
  );
  t.false(another, 'no second tap while the card stays on the reader');
  t.is(tapIds.length, 1);

  // Lifted and laid again, it is a second tap.
  port.remove();
  const second = waitForEvent<[TapResult]>(daemon, 'result');
  port.present(cards.alma);
  const [r] = await second;
  t.is(r.kind, 'decision');
  t.is(tapIds.length, 2);
  t.not(tapIds[0], r.tap_id, 'a new tap id');
  t.is(tapIds[1], r.tap_id);
});

test('with no answer the reader shows "no answer" and cancels, and a late copy of the tap is never charged', async (t) => {
  const { url, observer } = await bareBroker(t);
  const { daemon, port, feedback } = await startReader(t, url, { answer_timeout_ms: 600, resend_interval_ms: 200 });
  const seen: { topic: string; body: unknown }[] = [];
  observer.on('message', (topic, payload) => seen.push({ topic, body: JSON.parse(payload.toString()) }));
  const result = waitForEvent<[TapResult]>(daemon, 'result');
  port.tap(cards.alma);
  const [r] = await result;
  t.is(r.kind, 'no_answer');
  t.deepEqual(feedback.shown, ['no_answer']);
  const cancel = await waitForEvent<[string, Buffer]>(observer, 'message', (topic) => topic.endsWith('/cancel'));
  const tap = seen.find((m) => m.topic.endsWith('/tap'))?.body as Tap;
  t.like(JSON.parse(cancel[1].toString()), { tap_id: tap.tap_id, reason: 'no_answer' });

  // Now the gateway gets the cancel and, later, a delayed copy of the tap.
  const site = await startSite(t);
  const client = await site.rawClient('reader-1', await site.enrol('reader-1', 'till-1'));
  site.ledger.baskets.setBasket('till-1', [{ product_id: 'yoghurt', quantity: 1 }]);
  await client.publishAsync(readerTopic(SITE, 'reader-1', 'cancel'), cancel[1], { qos: 1 });
  const late = await rawTap(client, { ...tap, attempt: 9 });
  t.is(late.outcome, 'declined');
  t.is(late.code, 'tap_cancelled');
  t.is(purchaseCount(site.ledger), 0);
  t.is(site.ledger.accounts.getAccount('acc-alma')?.balance_ore, 10_000);
});

test('a cancel that arrives after the tap was decided gets the stored decision and the sale stands', async (t) => {
  const site = await startSite(t);
  const client = await site.rawClient('reader-1', await site.enrol('reader-1', 'till-1'));
  site.ledger.baskets.setBasket('till-1', [{ product_id: 'yoghurt', quantity: 1 }]);
  const tap = makeTap('reader-1', cards.alma);
  const decided = await rawTap(client, tap);
  t.is(decided.outcome, 'approved');
  const topic = readerTopic(SITE, 'reader-1', 'decision');
  const answer = waitForEvent<[string, Buffer]>(client, 'message', (tp) => tp === topic);
  await client.publishAsync(
    readerTopic(SITE, 'reader-1', 'cancel'),
    JSON.stringify({ v: 1, tap_id: tap.tap_id, reader_id: 'reader-1', reason: 'no_answer' }),
    { qos: 1 },
  );
  t.deepEqual(JSON.parse((await answer)[1].toString()), decided);
  t.is(purchaseCount(site.ledger), 1);
});

test("the gateway learns from a reader's last will when it dies without a word", async (t) => {
  const site = await startSite(t);
  // The reader reaches the broker through a proxy, so the test can pull the cable.
  const proxy = await tcpProxy(site.gateway.mqttPort);
  t.teardown(() => proxy.close());
  const port = new SimulatedPort();
  const daemon = new ReaderDaemon({
    config: parseReaderConfig({
      reader_id: 'reader-1',
      site: SITE,
      broker: { url: `mqtt://127.0.0.1:${proxy.port}`, secret: await site.enrol('reader-1', 'till-1') },
      port: { kind: 'sim' },
    }),
    port,
    feedback: new RecordingFeedback(),
    log: silent,
  });
  const online = waitForEvent<[{ state: string }]>(site.gateway, 'reader', (s) => s.state === 'online');
  await daemon.start();
  t.teardown(() => daemon.stop());
  await online;
  const offline = waitForEvent<[{ state: string; reason?: string }]>(
    site.gateway,
    'reader',
    (s) => s.state === 'offline',
  );
  proxy.cut(); // no DISCONNECT reaches the broker, so it publishes the will
  const [status] = await offline;
  t.is(status.reason, 'connection_lost');
  // and the reader comes back by itself
  await waitForEvent(site.gateway, 'reader', (s: { state: string }) => s.state === 'online', 10_000);
});
