import { readerTopic } from '@kantine/protocol';
import test from 'ava';
import mqtt from 'mqtt';
import { cards, makeTap, purchaseCount, SITE, startSite } from './helpers/site.ts';
import { waitForEvent } from './helpers/wait.ts';

test("a reader publishing on another reader's topic is refused, logged and disconnected", async (t) => {
  const site = await startSite(t);
  const secret1 = await site.enrol('reader-1', 'till-1');
  await site.enrol('reader-2', 'till-2');
  site.ledger.baskets.setBasket('till-2', [{ product_id: 'yoghurt', quantity: 1 }]);
  const intruder = await site.rawClient('reader-1', secret1);

  const refused = waitForEvent(site.gateway, 'refused');
  const closed = waitForEvent(intruder, 'close');
  // reader-1 tries to pay reader-2's basket by publishing as reader-2
  intruder.publish(readerTopic(SITE, 'reader-2', 'tap'), JSON.stringify(makeTap('reader-2', cards.alma)), { qos: 1 });
  const [event] = await refused;
  t.like(event, { what: 'publish', reader_id: 'reader-1', topic: readerTopic(SITE, 'reader-2', 'tap') });
  await closed;
  t.is(purchaseCount(site.ledger), 0);
  t.truthy(site.ledger.baskets.getBasket('till-2'));
});

test('a reader may not publish decisions, even its own', async (t) => {
  const site = await startSite(t);
  const secret = await site.enrol('reader-1', 'till-1');
  const client = await site.rawClient('reader-1', secret);
  const refused = waitForEvent(site.gateway, 'refused');
  client.publish(readerTopic(SITE, 'reader-1', 'decision'), '{}', { qos: 1 });
  const [event] = await refused;
  t.like(event, { what: 'publish', topic: readerTopic(SITE, 'reader-1', 'decision') });
});

test("a reader may subscribe to its own decisions but not another reader's, nor wildcards", async (t) => {
  const site = await startSite(t);
  const secret = await site.enrol('reader-1', 'till-1');
  await site.enrol('reader-2', 'till-2');
  const client = await site.rawClient('reader-1', secret);
  // MQTT.js rejects a SUBACK holding any 0x80; the SUBACK itself is on the error.
  const err = await t.throwsAsync<Error & { packet: { granted: number[] } }>(
    client.subscribeAsync(
      [
        readerTopic(SITE, 'reader-1', 'decision'),
        readerTopic(SITE, 'reader-2', 'decision'),
        `kantine/${SITE}/reader/+/decision`,
        '#',
      ],
      { qos: 1 },
    ),
  );
  t.deepEqual(err?.packet.granted, [1, 128, 128, 128]);
});

test('a reader with a wrong secret or an unknown id cannot connect', async (t) => {
  const site = await startSite(t);
  await site.enrol('reader-1', 'till-1');
  for (const [username, password] of [
    ['reader-1', 'not-the-secret-at-all'],
    ['reader-9', 'whatever-whatever'],
    ['', ''],
  ] as const) {
    const err = await t.throwsAsync(
      mqtt.connectAsync(site.url, { username, password, reconnectPeriod: 0, connectTimeout: 3_000 }),
    );
    t.regex(String(err?.message), /Bad username or password|Not authorized|connack/i, `${username}`);
  }
});

test('reader secrets are stored only as scrypt hashes', async (t) => {
  const site = await startSite(t);
  const secret = await site.enrol('reader-1', 'till-1');
  const row = site.ledger.db.prepare("SELECT secret_hash FROM readers WHERE id = 'reader-1'").get() as {
    secret_hash: string;
  };
  t.regex(row.secret_hash, /^scrypt\$16384\$8\$1\$/);
  t.false(row.secret_hash.includes(secret));
  const dump = site.ledger.db.serialize().toString('latin1');
  t.false(dump.includes(secret), 'the secret appears nowhere in the database file');
});
