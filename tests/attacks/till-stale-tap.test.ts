/**
 * A sale that stands after the reader said "no answer" (issue 16, finding 19): a child who taps
 * again would pay twice. A tap decided later than the readers' answer timeout after it was read
 * is declined `tap_stale` and charges nothing.
 */
import test from 'ava';
import { cards, makeTap, purchaseCount, rawTap, startSite } from '../helpers/site.ts';

/** Site with a yoghurt in till 1's standing basket (every tap is a sale) and a raw reader on it. */
async function sellingSite(t: import('ava').ExecutionContext) {
  const site = await startSite(t);
  const secret = await site.enrol('reader-1', 'till-1');
  const client = await site.rawClient('reader-1', secret);
  site.ledger.baskets.setBasket('till-1', [{ product_id: 'yoghurt', quantity: 1 }], true);
  return { site, client };
}

test("a copy of a tap older than the reader's answer timeout is declined tap_stale and charges nothing", async (t) => {
  const { site, client } = await sellingSite(t);
  const timeout = site.gateway.config.readers.answer_timeout_ms;
  const late = await rawTap(client, { ...makeTap('reader-1', cards.alma), age_ms: timeout, attempt: 7 });
  t.is(late.outcome, 'declined');
  t.is(late.code, 'tap_stale');
  t.is(purchaseCount(site.ledger), 0);
  t.is(site.ledger.accounts.getAccount('acc-alma')?.balance_ore, 10_000);
  // Its id keeps that answer: a repeat, however fresh it claims to be, changes nothing.
  const again = await rawTap(client, { ...makeTap('reader-1', cards.alma, late.tap_id), age_ms: 0 });
  t.is(again.code, 'tap_stale');
  t.is(purchaseCount(site.ledger), 0);
  // The child taps again: a new tap, in time, pays once.
  const fresh = await rawTap(client, { ...makeTap('reader-1', cards.alma), age_ms: 40 });
  t.is(fresh.outcome, 'approved');
  t.is(site.ledger.accounts.getAccount('acc-alma')?.balance_ore, 10_000 - 600);
});

test("a tap is judged by the reader's monotonic age, not by a Pi clock hours off", async (t) => {
  const { site, client } = await sellingSite(t);
  const hours = 5 * 3600_000;
  for (const skew of [-hours, hours]) {
    const tap = { ...makeTap('reader-1', cards.alma), read_at: new Date(Date.now() + skew).toISOString(), age_ms: 30 };
    t.is((await rawTap(client, tap)).outcome, 'approved', `clock ${skew > 0 ? 'ahead' : 'behind'}`);
  }
  t.is(purchaseCount(site.ledger), 2);
});

test("a reader that sends no age is judged by its read time against the gateway's clock", async (t) => {
  const { site, client } = await sellingSite(t);
  const { age_ms: _, ...old } = makeTap('reader-1', cards.alma);
  const tenSecondsAgo = { ...old, read_at: new Date(Date.now() - 10_000).toISOString() };
  const d = await rawTap(client, tenSecondsAgo);
  t.is(d.code, 'tap_stale');
  t.is(purchaseCount(site.ledger), 0);
});
