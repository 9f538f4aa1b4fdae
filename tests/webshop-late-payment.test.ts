/**
 * The webshop's bank card at its edges (shopfix): a payment that arrives after the order deadline
 * is not taken — refunded at the provider, the order "Udløbet – betalingen er refunderet" — even
 * before the upkeep expired the order; and an unpaid order holds its capped items only until its
 * checkout expires (or the deadline), not until some later sweep. The fake provider is a real
 * process; real Postgres, the dev identity provider.
 */
import { SITE_ZONE } from '@kantine/protocol';
import test from 'ava';
import { DateTime } from 'luxon';
import { PSP_API_KEY } from './helpers/psp.ts';
import { call, type TopupRig, topupRig } from './helpers/topup.ts';
import { until } from './helpers/wait.ts';

const localDay = (plusDays = 0) => DateTime.now().setZone(SITE_ZONE).plus({ days: plusDays }).toISODate() as string;
const lateOn = (date: string) =>
  DateTime.fromISO(date, { zone: SITE_ZONE }).plus({ days: 1, minutes: -1 }).toJSDate().toISOString();

async function menu(r: TopupRig, date: string, cap: number | null): Promise<void> {
  const res = await call(r, r.admin, 'PUT', `/api/sites/soendervang/menus/kantinen/${date}`, {
    place_name: 'Kantinen',
    place_kind: 'school',
    order_deadline: lateOn(date),
    cancel_deadline: lateOn(date),
    items: [{ product_id: 'frikadeller', name: 'Frikadeller', price_ore: 3_500, category: 'mad', allergens: [], cap }],
  });
  if (res.status !== 204) throw new Error(res.text);
}

const order = (date: string, quantity = 1) => ({
  site_id: 'soendervang',
  place_id: 'kantinen',
  date,
  lines: [{ product_id: 'frikadeller', quantity }],
  payment: 'bank_card',
});

/** What the provider says was refunded of an intent's payment. */
async function refundedAt(r: TopupRig, intentId: string): Promise<number> {
  const intent = await r.central.payments?.get(intentId);
  const at = await fetch(`${r.psp.url}/v1/payments/${intent?.provider_payment_id}`, {
    headers: { authorization: `Bearer ${PSP_API_KEY}` },
  });
  return ((await at.json()) as { refunded_ore: number }).refunded_ore;
}

/** The order's state as central has it, read without the upkeep that `GET` runs first. */
async function stateOf(r: TopupRig, id: string): Promise<string | undefined> {
  const [row] = await r.central.db.query<{ state: string }>('SELECT state FROM webshop_orders WHERE id = $1', [id]);
  return row?.state;
}

test.serial('a payment that comes after the order deadline is refunded and the order shows expired', async (t) => {
  t.timeout(120_000);
  const r = await topupRig(t);
  const tomorrow = localDay(1);
  await menu(r, tomorrow, null);
  const placed = await call(r, r.people.anne, 'POST', '/api/accounts/konto-emma/webshop/orders', order(tomorrow, 2));
  t.is(placed.status, 201, placed.text);
  const o = placed.body.order;
  // The deadline passes (as it would have a moment ago), and the guardian pays at once on the page
  // left open: the upkeep that expires orders (every ~10 s) has not run yet.
  await r.central.db.query(`UPDATE webshop_orders SET order_deadline = now() - interval '1 second' WHERE id = $1`, [
    o.id,
  ]);
  await r.psp.pay(o.payment_url);
  const settled = await until(
    async () => {
      const s = await stateOf(r, o.id);
      return s === 'paid' || s === 'refunded' ? s : undefined;
    },
    'the payment settled',
    20_000,
  );
  t.is(settled, 'refunded', 'a payment after the deadline is not taken');
  const got = await call(r, r.people.anne, 'GET', `/api/accounts/konto-emma/webshop/orders/${o.id}`);
  t.is(got.body.order.state, 'refunded');
  t.is(got.body.order.cancel_reason, 'expired');
  t.is(got.body.order.state_da, 'Udløbet – betalingen er refunderet');
  t.is(await refundedAt(r, o.payment_intent_id), 7_000, 'the provider gave the money back');
  const [sent] = await r.central.db.query<{ n: string }>(
    `SELECT count(*) AS n FROM down_log WHERE change->>'kind' = 'preorder' AND change->'preorder'->>'id' = $1`,
    [o.id],
  );
  t.is(Number(sent?.n), 0, 'nothing went to the site');
  // The order page says so, in Danish and in English.
  const da = await call(r, r.people.anne, 'GET', `/konti/konto-emma/ordrer/${o.id}`);
  t.is(da.status, 200);
  t.regex(da.text, /Udløbet – betalingen er refunderet/);
  const en = await fetch(`${r.base}/konti/konto-emma/ordrer/${o.id}`, {
    headers: { cookie: `${r.people.anne.cookie}; kantine_lang=en` },
  });
  t.regex(await en.text(), /Expired – the payment was refunded/);
  // A second report of the same payment changes nothing (one refund).
  const intent = await r.central.payments?.get(o.payment_intent_id);
  await r.central.payments?.settle(intent?.provider_payment_id as string);
  t.is(await refundedAt(r, o.payment_intent_id), 7_000);
  t.deepEqual(await r.central.money.verify(), []);
});

test.serial('an unpaid order holds a capped item only until its checkout expires', async (t) => {
  t.timeout(120_000);
  const r = await topupRig(t);
  const tomorrow = localDay(1);
  await menu(r, tomorrow, 1);
  const anne = r.people.anne;
  const first = await call(r, anne, 'POST', '/api/accounts/konto-emma/webshop/orders', order(tomorrow));
  t.is(first.status, 201, first.text);
  // While its checkout is open, the one left is held for it.
  const held = await call(r, anne, 'POST', '/api/accounts/konto-emma/webshop/orders', order(tomorrow));
  t.is(held.status, 409, held.text);
  t.is(held.body.code, 'webshop_sold_out');
  // The checkout expires (payments' `expire_after_minutes`, 60 by default) long before the order
  // deadline: from then on the item is free again, whether or not the reconciler got to it.
  await r.central.db.query(`UPDATE payment_intents SET expires_at = now() - interval '1 second' WHERE id = $1`, [
    first.body.order.payment_intent_id,
  ]);
  const second = await call(r, anne, 'POST', '/api/accounts/konto-emma/webshop/orders', order(tomorrow));
  t.is(second.status, 201, second.text);
  const gone = await call(r, anne, 'GET', `/api/accounts/konto-emma/webshop/orders/${first.body.order.id}`);
  t.is(gone.body.order.state, 'cancelled');
  t.is(gone.body.order.cancel_reason, 'expired');
  t.is(gone.body.order.state_da, 'Udløbet');
  // Paid late on the page left open: refunded, so the item is not sold twice.
  await r.psp.pay(first.body.order.payment_url);
  await until(
    async () => ((await stateOf(r, first.body.order.id)) === 'refunded' ? true : undefined),
    'the late payment refunded',
    20_000,
  );
  t.is(await refundedAt(r, first.body.order.payment_intent_id), 3_500);
  await r.psp.pay(second.body.order.payment_url);
  await until(
    async () => ((await stateOf(r, second.body.order.id)) === 'paid' ? true : undefined),
    'the second order paid',
    20_000,
  );
  t.deepEqual(await r.central.money.verify(), []);
});
