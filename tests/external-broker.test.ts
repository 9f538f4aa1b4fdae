import test from 'ava';
import { v7 as uuidv7 } from 'uuid';
import { cards, purchaseCount, startSite } from './helpers/site.ts';

// The Mosquitto that runs on the project's machines (and that .ci/run makes sure is running).
const MOSQUITTO_URL = process.env.KANTINE_TEST_MOSQUITTO_URL ?? 'mqtt://127.0.0.1:1883';

test('the gateway decides taps through an external Mosquitto broker', async (t) => {
  // A site id of its own, so parallel runs on one broker never see each other's taps.
  const site = await startSite(t, {
    mqtt: { mode: 'external', url: MOSQUITTO_URL },
    site: `ext-${uuidv7().slice(-12)}`,
  });
  const reader = await site.reader('reader-1');
  site.ledger.setBasket('till-1', [
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
