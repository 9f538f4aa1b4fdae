/**
 * The webshop's bank card (issue 20): an order waits as "Afventer betaling" until the provider's
 * verified payment (the fake provider, a real process), then is "Betalt" and goes to its site;
 * cancelled before the cancel deadline it is refunded at the provider; an unpaid one expires at
 * the order deadline. Real Postgres, the dev identity provider.
 */
import { SITE_ZONE } from '@kantine/protocol';
import test from 'ava';
import { DateTime } from 'luxon';
import { APPROVED_CARD, PSP_API_KEY } from './helpers/psp.ts';
import { call, topupRig } from './helpers/topup.ts';
import { until } from './helpers/wait.ts';

const localDay = (plusDays = 0) => DateTime.now().setZone(SITE_ZONE).plus({ days: plusDays }).toISODate() as string;
const lateOn = (date: string) =>
  DateTime.fromISO(date, { zone: SITE_ZONE }).plus({ days: 1, minutes: -1 }).toJSDate().toISOString();

const ITEMS = [
  { product_id: 'frikadeller', name: 'Frikadeller', price_ore: 3_500, category: 'mad', allergens: ['aeg'], cap: null },
];

test.serial(
  'a bank-card order waits for the verified payment, is paid, goes to its site, and is refunded at the provider when cancelled',
  async (t) => {
    t.timeout(120_000);
    const r = await topupRig(t);
    const tomorrow = localDay(1);
    const menu = await call(r, r.admin, 'PUT', `/api/sites/soendervang/menus/kantinen/${tomorrow}`, {
      place_name: 'Kantinen',
      place_kind: 'school',
      order_deadline: lateOn(tomorrow),
      cancel_deadline: lateOn(tomorrow),
      items: ITEMS,
    });
    t.is(menu.status, 204, menu.text);
    const anne = r.people.anne;
    // Emma has no money on her card: the bank card pays.
    const placed = await call(r, anne, 'POST', '/api/accounts/konto-emma/webshop/orders', {
      site_id: 'soendervang',
      place_id: 'kantinen',
      date: tomorrow,
      lines: [{ product_id: 'frikadeller', quantity: 2 }],
      payment: 'bank_card',
    });
    t.is(placed.status, 201, placed.text);
    const order = placed.body.order;
    t.is(order.state, 'awaiting_payment');
    t.is(order.state_da, 'Afventer betaling');
    t.truthy(order.payment_url);
    t.truthy(order.payment_intent_id);
    // Nothing is sent to the site while unpaid.
    const queued = async () =>
      (
        await r.central.db.query<{ n: number | string }>(
          `SELECT count(*) AS n FROM down_log WHERE site_id = 'soendervang' AND change->>'kind' = 'preorder'`,
        )
      )[0]?.n;
    t.is(Number(await queued()), 0);

    // The browser pays on the provider's page and comes back to the portal's order page.
    const paid = await r.psp.pay(order.payment_url, APPROVED_CARD);
    t.regex(paid.location ?? '', new RegExp(`/konti/konto-emma/ordrer/${order.id}(\\?|$)`));
    const done = await until(
      async () => {
        const g = await call(r, anne, 'GET', `/api/accounts/konto-emma/webshop/orders/${order.id}`);
        return g.body.order.state === 'paid' ? g.body.order : undefined;
      },
      'Betalt',
      20_000,
    );
    t.is(done.state_da, 'Betalt');
    t.is(done.entry_id, null, 'the canteen card is not touched');
    t.is(Number(await queued()), 1, 'the paid order is on its way to the site');

    // Cancelled before the deadline: refunded at the provider.
    const cancelled = await call(r, anne, 'POST', `/api/accounts/konto-emma/webshop/orders/${order.id}/cancel`);
    t.is(cancelled.status, 200, cancelled.text);
    t.is(cancelled.body.order.state, 'refunded');
    const intent = await r.central.payments?.get(order.payment_intent_id);
    const at = await fetch(`${r.psp.url}/v1/payments/${intent?.provider_payment_id}`, {
      headers: { authorization: `Bearer ${PSP_API_KEY}` },
    });
    t.is(((await at.json()) as { refunded_ore: number }).refunded_ore, 7_000);
  },
);

test.serial('an unpaid bank-card order expires at the order deadline', async (t) => {
  t.timeout(120_000);
  const r = await topupRig(t);
  const today = localDay();
  const deadline = new Date(Date.now() + 3_000).toISOString();
  const menu = await call(r, r.admin, 'PUT', `/api/sites/soendervang/menus/kantinen/${today}`, {
    place_name: 'Kantinen',
    place_kind: 'school',
    order_deadline: deadline,
    cancel_deadline: deadline,
    items: ITEMS,
  });
  t.is(menu.status, 204, menu.text);
  const placed = await call(r, r.people.anne, 'POST', '/api/accounts/konto-emma/webshop/orders', {
    site_id: 'soendervang',
    place_id: 'kantinen',
    date: today,
    lines: [{ product_id: 'frikadeller', quantity: 1 }],
    payment: 'bank_card',
  });
  t.is(placed.status, 201, placed.text);
  const expired = await until(
    async () => {
      const g = await call(r, r.people.anne, 'GET', `/api/accounts/konto-emma/webshop/orders/${placed.body.order.id}`);
      return g.body.order.state === 'cancelled' ? g.body.order : undefined;
    },
    'expired',
    20_000,
  );
  t.is(expired.cancel_reason, 'expired');
  t.is(expired.state_da, 'Udløbet');
  t.is(expired.payment_url, null);
});
