import { type ProtocolError, readerTopic } from '@kantine/protocol';
import test from 'ava';
import type { MqttClient } from 'mqtt';
import { cards, makeTap, purchaseCount, SITE, startSite } from './helpers/site.ts';
import { waitForEvent } from './helpers/wait.ts';

async function sendAndAwaitError(
  client: MqttClient,
  kind: 'tap' | 'cancel' | 'status',
  payload: string,
): Promise<ProtocolError> {
  const errorTopic = readerTopic(SITE, 'reader-1', 'error');
  await client.subscribeAsync(errorTopic, { qos: 0 });
  const got = waitForEvent<[string, Buffer]>(client, 'message', (topic) => topic === errorTopic);
  await client.publishAsync(readerTopic(SITE, 'reader-1', kind), payload, { qos: 1 });
  const [, body] = await got;
  return JSON.parse(body.toString()) as ProtocolError;
}

function ledgerSnapshot(site: Awaited<ReturnType<typeof startSite>>) {
  const db = site.ledger.db;
  return {
    taps: db.prepare('SELECT COUNT(*) AS n FROM taps').get(),
    entries: db.prepare('SELECT COUNT(*) AS n FROM entries').get(),
    balances: db.prepare('SELECT id, balance_ore FROM accounts ORDER BY id').all(),
    basket: site.ledger.baskets.getBasket('till-1'),
  };
}

test('malformed JSON on the tap topic is refused with malformed_json and changes nothing', async (t) => {
  const site = await startSite(t);
  const client = await site.rawClient('reader-1', await site.enrol('reader-1', 'till-1'));
  site.ledger.baskets.setBasket('till-1', [{ product_id: 'yoghurt', quantity: 1 }]);
  const before = ledgerSnapshot(site);
  const rejected = waitForEvent(site.gateway, 'rejected');
  const err = await sendAndAwaitError(client, 'tap', '{"v":1,"tap_id":');
  t.is(err.code, 'malformed_json');
  t.like((await rejected)[0], { code: 'malformed_json' });
  t.deepEqual(ledgerSnapshot(site), before);
});

test('a schema-invalid tap is refused with invalid_payload, names the bad fields and changes nothing', async (t) => {
  const site = await startSite(t);
  const client = await site.rawClient('reader-1', await site.enrol('reader-1', 'till-1'));
  site.ledger.baskets.setBasket('till-1', [{ product_id: 'yoghurt', quantity: 1 }]);
  const before = ledgerSnapshot(site);
  const tap = { ...makeTap('reader-1', cards.alma), card: { kind: 'legacy', uid: 'zz' }, extra: true };
  const err = await sendAndAwaitError(client, 'tap', JSON.stringify(tap));
  t.is(err.code, 'invalid_payload');
  t.is(err.tap_id, tap.tap_id, 'the reader learns which tap was refused');
  t.true(err.details.some((d) => d.startsWith('/card/uid')));
  t.true(err.details.some((d) => d.includes('additional properties')));
  t.deepEqual(ledgerSnapshot(site), before);
});

test('taps with a wrong version, a bad tap id or a money amount smuggled in are refused', async (t) => {
  const site = await startSite(t);
  const client = await site.rawClient('reader-1', await site.enrol('reader-1', 'till-1'));
  site.ledger.baskets.setBasket('till-1', [{ product_id: 'yoghurt', quantity: 1 }]);
  const before = ledgerSnapshot(site);
  const good = makeTap('reader-1', cards.alma);
  const cases: [unknown, string][] = [
    [{ ...good, v: 2 }, 'unsupported_version'],
    [{ ...good, tap_id: 'not-a-uuid' }, 'invalid_payload'],
    [{ ...good, tap_id: '01890a5d-ac96-4ed8-a4b5-6a2a7e3c1d2e' }, 'invalid_payload'], // UUIDv4, not v7
    [{ ...good, amount_ore: 1 }, 'invalid_payload'],
    [{ ...good, attempt: 0 }, 'invalid_payload'],
    [[good], 'invalid_payload'],
    ['"tap"', 'invalid_payload'],
  ];
  for (const [payload, code] of cases) {
    const err = await sendAndAwaitError(client, 'tap', typeof payload === 'string' ? payload : JSON.stringify(payload));
    t.is(err.code as string, code, JSON.stringify(payload));
  }
  t.deepEqual(ledgerSnapshot(site), before);
});

test('a tap whose payload names another reader than its topic is refused with reader_mismatch', async (t) => {
  const site = await startSite(t);
  await site.enrol('reader-2', 'till-2');
  const client = await site.rawClient('reader-1', await site.enrol('reader-1', 'till-1'));
  site.ledger.baskets.setBasket('till-2', [{ product_id: 'yoghurt', quantity: 1 }]);
  const err = await sendAndAwaitError(client, 'tap', JSON.stringify(makeTap('reader-2', cards.alma)));
  t.is(err.code, 'reader_mismatch');
  t.is(purchaseCount(site.ledger), 0);
});

test('an oversized payload is refused unread', async (t) => {
  const site = await startSite(t);
  const client = await site.rawClient('reader-1', await site.enrol('reader-1', 'till-1'));
  const err = await sendAndAwaitError(client, 'tap', JSON.stringify({ pad: 'x'.repeat(20_000) }));
  t.is(err.code, 'invalid_payload');
});

test('a malformed status or cancel is refused with a code too', async (t) => {
  const site = await startSite(t);
  const client = await site.rawClient('reader-1', await site.enrol('reader-1', 'till-1'));
  t.is((await sendAndAwaitError(client, 'status', '{"v":1,"state":"dancing"}')).code, 'invalid_payload');
  t.is((await sendAndAwaitError(client, 'cancel', 'nope')).code, 'malformed_json');
  t.is(site.gateway.readers.size, 0);
});
