/**
 * A webshop order paid by bank card on the child's statement (shopfix): the guardian sees what the
 * child got, as a line "Betalt med kort: …" with the price — but no movement of the canteen card's
 * money (amount 0, the balance as it stood), so the statement still adds up; a refund to the card
 * is a line too. The fake provider is a real process; real Postgres, the dev identity provider.
 */
import { SITE_ZONE } from '@kantine/protocol';
import test from 'ava';
import { DateTime } from 'luxon';
import { call, topupRig } from './helpers/topup.ts';
import { until } from './helpers/wait.ts';

const localDay = (plusDays = 0) => DateTime.now().setZone(SITE_ZONE).plus({ days: plusDays }).toISODate() as string;
const lateOn = (date: string) =>
  DateTime.fromISO(date, { zone: SITE_ZONE }).plus({ days: 1, minutes: -1 }).toJSDate().toISOString();

test('a bank-card order is on the statement as paid by card, outside the running balance', async (t) => {
  t.timeout(120_000);
  const r = await topupRig(t);
  const tomorrow = localDay(1);
  const menu = await call(r, r.admin, 'PUT', `/api/sites/soendervang/menus/kantinen/${tomorrow}`, {
    place_name: 'Kantinen',
    place_kind: 'school',
    order_deadline: lateOn(tomorrow),
    cancel_deadline: lateOn(tomorrow),
    items: [
      { product_id: 'frikadeller', name: 'Frikadeller', price_ore: 3_500, category: 'mad', allergens: [], cap: null },
    ],
  });
  t.is(menu.status, 204, menu.text);
  const anne = r.people.anne;
  const placed = await call(r, anne, 'POST', '/api/accounts/konto-emma/webshop/orders', {
    site_id: 'soendervang',
    place_id: 'kantinen',
    date: tomorrow,
    lines: [{ product_id: 'frikadeller', quantity: 2 }],
    payment: 'bank_card',
  });
  t.is(placed.status, 201, placed.text);
  const order = placed.body.order;
  await r.psp.pay(order.payment_url);
  await until(
    async () => {
      const g = await call(r, anne, 'GET', `/api/accounts/konto-emma/webshop/orders/${order.id}`);
      return g.body.order.state === 'paid' ? true : undefined;
    },
    'Betalt',
    20_000,
  );
  const today = localDay();
  const path = `/api/accounts/konto-emma/statement?from=${today}&to=${today}`;
  const s = (await call(r, anne, 'GET', path)).body;
  const line = s.lines.find((l: { order_id?: string }) => l.order_id === order.id);
  t.truthy(line, JSON.stringify(s.lines));
  t.is(line.text, `Betalt med kort: Webshop ${tomorrow} 2x Frikadeller 35.00 (kr.70,00)`);
  t.is(line.paid_by, 'card');
  t.is(line.card_ore, 7_000);
  t.is(line.amount_ore, 0, 'not a movement of the canteen card');
  t.is(line.balance_after_ore, s.opening_balance_ore + sumBelow(s.lines, line));
  t.is(
    s.opening_balance_ore + s.lines.reduce((n: number, l: { amount_ore: number }) => n + l.amount_ore, 0),
    s.closing_balance_ore,
    'the statement adds up',
  );
  // The portal's statement page shows it, and the CSV has it with 0.
  const page = await call(r, anne, 'GET', `/konti/konto-emma/kontoudtog?fra=${today}&til=${today}`);
  t.is(page.status, 200);
  t.regex(page.text, /Betalt med kort: Webshop/);
  // Its amount is no movement of the account's money: a dash (and words for a screen reader), not "0,00 kr.".
  const row = /<tr>(?:(?!<\/tr>)[\s\S])*Betalt med kort: Webshop[\s\S]*?<\/tr>/.exec(page.text)?.[0] ?? '';
  t.regex(
    row,
    /data-testid="amount-card"><span aria-hidden="true">–<\/span><span class="visually-hidden">Betalt med kort, ikke fra kontoen<\/span><\/td>/,
  );

  // Cancelled: refunded to the card, a line of its own.
  const cancelled = await call(r, anne, 'POST', `/api/accounts/konto-emma/webshop/orders/${order.id}/cancel`);
  t.is(cancelled.body.order.state, 'refunded');
  const after = (await call(r, anne, 'GET', path)).body;
  t.deepEqual(
    after.lines
      .filter((l: { paid_by?: string }) => l.paid_by === 'card')
      .map((l: { text: string; amount_ore: number }) => [l.text, l.amount_ore]),
    [
      [`Refunderet til kort: Webshop ${tomorrow} (kr.70,00)`, 0],
      [`Betalt med kort: Webshop ${tomorrow} 2x Frikadeller 35.00 (kr.70,00)`, 0],
    ],
  );
});

/** The sum of the amounts of the lines older than `line` (the list is newest first). */
function sumBelow(lines: { amount_ore: number }[], line: unknown): number {
  const i = lines.indexOf(line as { amount_ore: number });
  return lines.slice(i + 1).reduce((n, l) => n + l.amount_ore, 0);
}
