import { type Decision, readerTopic } from '@kantine/protocol';
import test from 'ava';
import mqtt from 'mqtt';
import { v7 as uuidv7 } from 'uuid';
import { cards, makeTap, purchaseCount, startSite } from './helpers/site.ts';
import { waitForEvent } from './helpers/wait.ts';

// The Mosquitto that runs on the project's machines (and that .ci/run makes sure is running).
const MOSQUITTO_URL = process.env.KANTINE_TEST_MOSQUITTO_URL ?? 'mqtt://127.0.0.1:1883';

test('the gateway decides taps through an external Mosquitto broker', async (t) => {
  // A site id of its own, so parallel runs on one broker never see each other's taps.
  const site = await startSite(t, {
    mqtt: { mode: 'external', url: MOSQUITTO_URL },
    site: `ext-${uuidv7().slice(-12)}`,
  });
  const reader = await site.reader('reader-1');
  site.ledger.baskets.setBasket('till-1', [
    { product_id: 'ostehoeps', quantity: 1 },
    { product_id: 'yoghurt', quantity: 1 },
  ]);
  const r = await reader.tap(cards.alma);
  if (r.kind !== 'decision') return t.fail(`no decision: ${r.kind}`);
  t.is(r.decision.outcome, 'approved');
  t.is(r.decision.amount_ore, 900);
  t.is(purchaseCount(site.ledger), 1);

  const declined = await reader.tap(cards.unknown);
  t.is(declined.kind === 'decision' && declined.decision.code, 'unknown_card');
  t.is(site.gateway.readers.get('reader-1')?.state, 'online', 'reader status arrives through Mosquitto too');
});

test('a tap that waits in the external broker while the gateway restarts is decided when it is back', async (t) => {
  const siteId = `ext-${uuidv7().slice(-12)}`;
  const site = await startSite(t, { mqtt: { mode: 'external', url: MOSQUITTO_URL }, site: siteId });
  await site.enrol('reader-1', 'till-1');
  site.ledger.baskets.setBasket('till-1', [{ product_id: 'yoghurt', quantity: 1 }]);
  const reader = await mqtt.connectAsync(MOSQUITTO_URL, { clientId: `raw-${siteId}`, reconnectPeriod: 0 });
  t.teardown(() => reader.endAsync(true));
  const decisions = readerTopic(siteId, 'reader-1', 'decision');
  await reader.subscribeAsync(decisions, { qos: 1 });

  await site.gateway.stop();
  // Sent once, while no gateway is connected: it waits in the gateway's persistent session.
  const tap = makeTap('reader-1', cards.alma);
  await reader.publishAsync(readerTopic(siteId, 'reader-1', 'tap'), JSON.stringify(tap), { qos: 1 });
  const answer = waitForEvent<[string, Buffer]>(reader, 'message', (topic) => topic === decisions, 10_000);
  await site.gateway.start();

  const decision = JSON.parse((await answer)[1].toString()) as Decision;
  t.is(decision.tap_id, tap.tap_id);
  t.is(decision.outcome, 'approved');
  t.is(purchaseCount(site.gateway.ledger), 1);
});
