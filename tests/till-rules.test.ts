/**
 * The rules of the card at the till, decided in a real SQLite ledger with an injected clock:
 * their order, every decline code they give, spend limits across day, week and month edges of
 * Europe/Copenhagen, allergies, automatic top-up, voids and the end-of-day report.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatStatementLine, Ledger } from '@kantine/gateway';
import type { Decision } from '@kantine/protocol';
import test, { type ExecutionContext } from 'ava';
import { decideTap } from './helpers/decide.ts';
import { makeTap } from './helpers/site.ts';

/** A clock the test sets; every rule reads time only from it. */
class TestClock {
  constructor(private t: Date) {}
  now(): Date {
    return this.t;
  }
  set(iso: string): void {
    this.t = new Date(iso);
  }
}

const uid = {
  mia: '04AA0000000001', // may use school and club; 500 kr
  leo: '04AA0000000002', // school only, no sweets, allergic to nuts, 30 kr, automatic top-up 200 kr
  blocked: '04AA0000000003',
  replaced: '04AA0000000004',
  stock: '04AA0000000005',
} as const;

/**
 * A school canteen and a club: a till at each, products in categories with allergens. Mia has
 * limits at school (20 kr a day, 50 kr a week, 150 kr a month); Leo has school only, no sweets,
 * a nut allergy and an automatic top-up agreement.
 */
function site(t: ExecutionContext, at = '2026-11-23T11:30:00+01:00') {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-rules-'));
  const clock = new TestClock(new Date(at));
  const ledger = new Ledger(join(dir, 'l.db'), clock);
  t.teardown(() => {
    ledger.close();
    rmSync(dir, { recursive: true, force: true });
  });
  ledger.catalogue.upsertPlace({ id: 'kantinen', name: 'Kantinen', kind: 'school' });
  ledger.catalogue.upsertPlace({ id: 'klubben', name: 'Klubben', kind: 'club' });
  ledger.catalogue.upsertTill({ id: 'skole-1', place_id: 'kantinen', name: 'Kasse 1' });
  ledger.catalogue.upsertTill({ id: 'klub-1', place_id: 'klubben', name: 'Klubkassen' });
  ledger.catalogue.upsertProduct({
    id: 'bolle',
    place_id: 'kantinen',
    name: 'Stor Grovbolle',
    category: 'mad',
    price_ore: 500,
    allergens: ['gluten'],
  });
  ledger.catalogue.upsertProduct({
    id: 'yoghurt',
    place_id: 'kantinen',
    name: 'Yoghurt',
    category: 'mad',
    price_ore: 600,
    allergens: ['maelk'],
  });
  ledger.catalogue.upsertProduct({
    id: 'noeddebar',
    place_id: 'kantinen',
    name: 'Nøddebar',
    category: 'mad',
    price_ore: 1_000,
    allergens: ['noedder'],
  });
  ledger.catalogue.upsertProduct({
    id: 'chokolade',
    place_id: 'kantinen',
    name: 'Chokolade',
    category: 'slik',
    price_ore: 800,
  });
  ledger.catalogue.upsertProduct({ id: 'frugt', place_id: null, name: 'Frugt', category: 'mad', price_ore: 300 });
  ledger.catalogue.upsertProduct({
    id: 'perler',
    place_id: 'klubben',
    name: 'Perler',
    category: 'materialer',
    price_ore: 1_500,
  });

  ledger.accounts.putAccount({ id: 'mia', first_name: 'Mia' });
  ledger.entries.deposit({ account_id: 'mia', amount_ore: 50_000 });
  ledger.accounts.setSpendLimit('mia', { place_kind: 'school', period: 'day', limit_ore: 2_000 });
  ledger.accounts.setSpendLimit('mia', { place_kind: 'school', period: 'week', limit_ore: 5_000 });
  ledger.accounts.setSpendLimit('mia', { place_kind: 'school', period: 'month', limit_ore: 15_000 });
  ledger.accounts.putAccount({
    id: 'leo',
    first_name: 'Leo',
    place_kinds: ['school'],
    denied_categories: ['slik'],
    allergies: ['noedder'],
    auto_topup_ore: 20_000,
  });
  ledger.entries.deposit({ account_id: 'leo', amount_ore: 3_000 });
  ledger.accounts.putCard({ uid: uid.mia, account_id: 'mia', state: 'active' });
  ledger.accounts.putCard({ uid: uid.leo, account_id: 'leo', state: 'active' });
  ledger.accounts.putCard({ uid: uid.blocked, account_id: 'leo', state: 'blocked' });
  ledger.accounts.putCard({ uid: uid.replaced, account_id: 'mia', state: 'replaced' });
  ledger.accounts.putCard({ uid: uid.stock, account_id: null, state: 'stock' });

  /** Puts a basket on a till (product id → quantity) and taps a card there; returns the decision. */
  const buy = (till: string, card: string, basket: Record<string, number>): Decision => {
    ledger.baskets.setBasket(
      till,
      Object.entries(basket).map(([product_id, quantity]) => ({ product_id, quantity })),
    );
    const d = ledger.transaction(() => decideTap(ledger, makeTap('reader-1', card), till)).decision;
    ledger.baskets.clearBasket(till);
    return d;
  };
  const outcome = (d: Decision) => (d.outcome === 'declined' ? d.code : d.outcome);
  return { ledger, clock, buy, outcome };
}

test('the first rule that fails is the answer: card, then place, category, limits, funds, allergy', (t) => {
  const { ledger, buy, outcome } = site(t);
  // Leo breaks many rules at once; each answer names the first, and lifting it shows the next.
  ledger.accounts.putCard({ uid: uid.leo, account_id: 'leo', state: 'blocked' });
  t.is(outcome(buy('klub-1', uid.leo, { perler: 1 })), 'card_blocked');
  ledger.accounts.putCard({ uid: uid.leo, account_id: 'leo', state: 'active' });
  t.is(outcome(buy('klub-1', uid.leo, { perler: 1 })), 'place_not_allowed');
  ledger.accounts.setSpendLimit('leo', { place_kind: 'school', period: 'day', limit_ore: 1_000 });
  t.is(outcome(buy('skole-1', uid.leo, { chokolade: 5, noeddebar: 1 })), 'category_not_allowed');
  t.is(outcome(buy('skole-1', uid.leo, { noeddebar: 2 })), 'limit_exceeded_day');
  ledger.accounts.setSpendLimit('leo', { place_kind: 'school', period: 'day', limit_ore: null });
  t.is(outcome(buy('skole-1', uid.leo, { noeddebar: 4 })), 'insufficient_funds');
  t.is(outcome(buy('skole-1', uid.leo, { noeddebar: 1 })), 'allergen_check');
  t.is(outcome(buy('skole-1', uid.leo, { bolle: 1 })), 'approved');
  t.is(ledger.accounts.getAccount('leo')?.balance_ore, 2_500);
});

test('card states are checked in order: replaced, then not activated, then blocked, each with its own code', (t) => {
  const { buy, outcome } = site(t);
  t.is(outcome(buy('skole-1', uid.replaced, { frugt: 1 })), 'card_replaced');
  t.is(outcome(buy('skole-1', uid.stock, { frugt: 1 })), 'card_not_active');
  t.is(outcome(buy('skole-1', uid.blocked, { frugt: 1 })), 'card_blocked');
  t.is(outcome(buy('skole-1', '04FFFFFFFFFFFF', { frugt: 1 })), 'unknown_card');
});

test('declines a purchase at a kind of place the guardians did not allow, and a balance check still works there', (t) => {
  const { ledger, buy, outcome } = site(t);
  const d = buy('klub-1', uid.leo, { frugt: 1 });
  t.is(outcome(d), 'place_not_allowed');
  t.is(d.amount_ore, 300);
  t.is(ledger.accounts.getAccount('leo')?.balance_ore, 3_000, 'nothing charged');
  const check = ledger.transaction(() => decideTap(ledger, makeTap('reader-1', uid.leo), 'klub-1')).decision;
  t.is(check.outcome, 'balance');
  t.is(check.balance_ore, 3_000);
});

test('declines a basket holding a product category the child is not permitted, whatever else is in it', (t) => {
  const { ledger, buy, outcome } = site(t);
  t.is(outcome(buy('skole-1', uid.leo, { bolle: 1, chokolade: 1 })), 'category_not_allowed');
  t.is(outcome(buy('skole-1', uid.mia, { bolle: 1, chokolade: 1 })), 'approved', 'Mia may buy sweets');
  t.is(ledger.accounts.getAccount('leo')?.balance_ore, 3_000);
});

test('the daily limit at school counts today’s school purchases and ends at midnight in Copenhagen', (t) => {
  const { clock, buy, outcome } = site(t, '2026-11-23T08:00:00+01:00');
  t.is(outcome(buy('skole-1', uid.mia, { yoghurt: 2 })), 'approved'); // 12 kr of 20
  t.is(outcome(buy('klub-1', uid.mia, { perler: 1 })), 'approved', 'club purchases do not count at school');
  const d = buy('skole-1', uid.mia, { yoghurt: 1, frugt: 1 }); // 12 + 9 > 20
  t.is(outcome(d), 'limit_exceeded_day');
  t.is(d.limit_ore, 2_000);
  t.is(d.spent_ore, 1_200);
  t.is(outcome(buy('skole-1', uid.mia, { bolle: 1, frugt: 1 })), 'approved', '12 + 8 = 20 is within the limit');
  clock.set('2026-11-23T23:59:59.999+01:00');
  t.is(outcome(buy('skole-1', uid.mia, { frugt: 1 })), 'limit_exceeded_day', 'still the same day');
  clock.set('2026-11-24T00:00:00+01:00'); // 23:00 UTC the day before
  t.is(outcome(buy('skole-1', uid.mia, { frugt: 1 })), 'approved', 'a new day in Copenhagen');
});

test('the weekly limit runs Monday to Sunday in Copenhagen', (t) => {
  const { ledger, clock, buy, outcome } = site(t);
  ledger.accounts.setSpendLimit('mia', { place_kind: 'school', period: 'day', limit_ore: null });
  // Monday 23 November to Sunday 29 November 2026.
  clock.set('2026-11-23T10:00:00+01:00');
  t.is(outcome(buy('skole-1', uid.mia, { noeddebar: 3 })), 'approved'); // 30 kr
  clock.set('2026-11-29T23:59:00+01:00'); // Sunday night
  t.is(outcome(buy('skole-1', uid.mia, { noeddebar: 2 })), 'approved'); // 50 kr: the limit exactly
  t.is(outcome(buy('skole-1', uid.mia, { frugt: 1 })), 'limit_exceeded_week');
  clock.set('2026-11-30T00:00:00+01:00'); // Monday 00:00
  t.is(outcome(buy('skole-1', uid.mia, { frugt: 1 })), 'approved');
});

test('the monthly limit runs from the first of the month, across summer-time changes', (t) => {
  const { ledger, clock, buy, outcome } = site(t);
  ledger.accounts.setSpendLimit('mia', { place_kind: 'school', period: 'day', limit_ore: null });
  ledger.accounts.setSpendLimit('mia', { place_kind: 'school', period: 'week', limit_ore: null });
  // October 2026: summer time ends on Sunday 25 October (03:00 CEST → 02:00 CET).
  for (const day of ['2026-10-01T07:30:00+02:00', '2026-10-12T12:00:00+02:00', '2026-10-25T01:30:00+02:00']) {
    clock.set(day);
    t.is(outcome(buy('skole-1', uid.mia, { noeddebar: 5 })), 'approved'); // 3 × 50 kr = the limit
  }
  clock.set('2026-10-31T23:59:59+01:00');
  t.is(outcome(buy('skole-1', uid.mia, { frugt: 1 })), 'limit_exceeded_month');
  clock.set('2026-11-01T00:00:00+01:00'); // 23:00 UTC on 31 October
  t.is(outcome(buy('skole-1', uid.mia, { frugt: 1 })), 'approved');
});

test('the daily limit holds on the 25-hour day when summer time ends', (t) => {
  const { clock, buy, outcome } = site(t);
  clock.set('2026-10-25T00:10:00+02:00'); // 22:10 UTC on the 24th: already the 25th in Copenhagen
  t.is(outcome(buy('skole-1', uid.mia, { noeddebar: 2 })), 'approved');
  clock.set('2026-10-25T23:50:00+01:00'); // 25 hours later than midnight, the same local day
  t.is(outcome(buy('skole-1', uid.mia, { frugt: 1 })), 'limit_exceeded_day');
});

test('a voided sale gives the money back with a compensating entry and no longer counts against a limit', (t) => {
  const { ledger, buy, outcome } = site(t);
  const sale = buy('skole-1', uid.mia, { noeddebar: 2 });
  t.is(outcome(buy('skole-1', uid.mia, { frugt: 1 })), 'limit_exceeded_day');
  const v = ledger.entries.voidSale({
    till_id: 'skole-1',
    entry_id: sale.entry_id as string,
    reason: 'Tastet forkert',
    staff_id: 'anne',
  });
  t.is(v.amount_ore, 2_000);
  t.is(v.balance_ore, 50_000);
  t.is(ledger.accounts.getAccount('mia')?.balance_ore, 50_000);
  t.deepEqual(ledger.reports.verify(), [], 'balances still equal their entries');
  const rows = ledger.db
    .prepare("SELECT kind, amount_ore, voids_entry_id FROM entries WHERE account_id = 'mia' ORDER BY seq")
    .all();
  t.deepEqual(rows, [
    { kind: 'deposit', amount_ore: 50_000, voids_entry_id: null },
    { kind: 'purchase', amount_ore: -2_000, voids_entry_id: null },
    { kind: 'void', amount_ore: 2_000, voids_entry_id: sale.entry_id },
  ]);
  t.is(outcome(buy('skole-1', uid.mia, { frugt: 1 })), 'approved', 'the voided sale is not spent');
});

test('a sale is voided once, only at its own till, only on its day, and the refusal changes nothing', (t) => {
  const { ledger, clock, buy } = site(t);
  const sale = buy('skole-1', uid.mia, { bolle: 1 });
  const entry_id = sale.entry_id as string;
  t.throws(() => ledger.entries.voidSale({ till_id: 'klub-1', entry_id, reason: 'x', staff_id: null }), {
    message: /no sale/,
  });
  t.throws(() => ledger.entries.voidSale({ till_id: 'skole-1', entry_id: 'nope', reason: 'x', staff_id: null }), {
    message: /no sale/,
  });
  ledger.entries.voidSale({ till_id: 'skole-1', entry_id, reason: 'Fortrudt', staff_id: null });
  const again = t.throws(() => ledger.entries.voidSale({ till_id: 'skole-1', entry_id, reason: 'x', staff_id: null }));
  t.is((again as { code?: string }).code, 'sale_already_voided');
  const other = buy('skole-1', uid.mia, { frugt: 1 });
  clock.set('2026-11-24T08:00:00+01:00');
  const late = t.throws(() =>
    ledger.entries.voidSale({ till_id: 'skole-1', entry_id: other.entry_id as string, reason: 'x', staff_id: null }),
  );
  t.is((late as { code?: string }).code, 'void_too_late');
  t.is(ledger.accounts.getAccount('mia')?.balance_ore, 50_000 - 300);
});

test('the end-of-day report adds up like a till roll: products, sales, voids, net, declines', (t) => {
  const { ledger, clock, buy } = site(t, '2026-11-23T11:00:00+01:00');
  buy('skole-1', uid.mia, { bolle: 1, yoghurt: 1 });
  const second = buy('skole-1', uid.mia, { bolle: 1 });
  buy('skole-1', uid.leo, { chokolade: 1 }); // declined: category
  buy('klub-1', uid.mia, { perler: 1 }); // another till
  ledger.entries.voidSale({
    till_id: 'skole-1',
    entry_id: second.entry_id as string,
    reason: 'Forkert vare',
    staff_id: 'anne',
  });
  clock.set('2026-11-24T07:00:00+01:00');
  buy('skole-1', uid.mia, { frugt: 1 }); // the next day
  const r = ledger.reports.tillReport('skole-1', '2026-11-23');
  t.deepEqual(r.products, [
    { product_id: 'bolle', name: 'Stor Grovbolle', quantity: 2, total_ore: 1_000 },
    { product_id: 'yoghurt', name: 'Yoghurt', quantity: 1, total_ore: 600 },
  ]);
  t.deepEqual(r.sales, { count: 2, total_ore: 1_600 });
  t.is(r.voids.length, 1);
  t.like(r.voids[0], { amount_ore: 500, reason: 'Forkert vare', staff_id: 'anne' });
  t.is(r.voids_total_ore, 500);
  t.is(r.net_ore, 1_100);
  t.deepEqual(r.declines, [{ code: 'category_not_allowed', count: 1 }]);
  t.throws(() => ledger.reports.tillReport('skole-1', '23-11-2026'), { message: /not a date/ });
});

test('staff confirm an allergen for this child and this basket; the next tap pays, a changed basket asks again', (t) => {
  const { ledger } = site(t);
  const tap = () => ledger.transaction(() => decideTap(ledger, makeTap('reader-1', uid.leo), 'skole-1'));
  const basket = ledger.baskets.setBasket('skole-1', [{ product_id: 'noeddebar', quantity: 1 }]);
  const held = tap();
  t.is(held.decision.code, 'allergen_check');
  t.deepEqual(held.allergens, ['noedder']);
  t.is(held.account_id, 'leo');
  t.is(ledger.accounts.getAccount('leo')?.balance_ore, 3_000, 'nothing charged while staff check');
  t.false(ledger.baskets.confirmAllergens('skole-1', 'another-basket', 'leo'), 'only the basket staff saw');
  t.true(ledger.baskets.confirmAllergens('skole-1', basket.basket_id, 'leo'));
  ledger.baskets.setBasket('skole-1', [{ product_id: 'noeddebar', quantity: 2 }]);
  t.is(tap().decision.code, 'allergen_check', 'a new basket is checked again');
  const b2 = ledger.baskets.getBasket('skole-1');
  ledger.baskets.confirmAllergens('skole-1', b2?.basket_id as string, 'leo');
  t.is(tap().decision.outcome, 'approved');
  t.is(ledger.accounts.getAccount('leo')?.balance_ore, 1_000);
});

test('a purchase leaving less than 50 kr queues one automatic top-up, never blocks the sale, and its result comes back', (t) => {
  const { ledger, buy, outcome } = site(t);
  t.is(outcome(buy('skole-1', uid.mia, { frugt: 1 })), 'approved');
  t.deepEqual(ledger.topups.pending(), [], 'Mia has no agreement');
  const first = buy('skole-1', uid.leo, { bolle: 1 }); // 30 → 25 kr: under 50 kr
  t.is(outcome(first), 'approved');
  const [req, ...more] = ledger.topups.pending();
  t.deepEqual(more, []);
  t.like(req, { account_id: 'leo', entry_id: first.entry_id, amount_ore: 20_000, state: 'pending' });
  t.is(outcome(buy('skole-1', uid.leo, { bolle: 1 })), 'approved', 'the next sale does not wait for central');
  t.is(ledger.topups.pending().length, 1, 'one open request per account');

  t.throws(() => ledger.topups.settle(req?.id as string, { outcome: 'deposited', deposit_id: 'central-dep-1' }), {
    message: /not booked here/,
  });
  t.is(ledger.topups.pending().length, 1, 'an answer before its deposit changes nothing');
  // Central's deposit arrives as any entry of central's; the answer only marks the request.
  ledger.entries.bookCentralEntry({
    id: 'central-dep-1',
    account_id: 'leo',
    kind: 'deposit',
    amount_ore: 20_000,
    origin: 'central',
    created_at: new Date().toISOString(),
  });
  const done = ledger.topups.settle(req?.id as string, { outcome: 'deposited', deposit_id: 'central-dep-1' });
  t.is(done.state, 'deposited');
  t.is(ledger.accounts.getAccount('leo')?.balance_ore, 2_000 + 20_000);
  ledger.topups.settle(req?.id as string, { outcome: 'deposited', deposit_id: 'central-dep-1' });
  t.is(ledger.accounts.getAccount('leo')?.balance_ore, 22_000, 'a repeated answer deposits nothing more');
  t.deepEqual(ledger.reports.verify(), []);

  ledger.accounts.putAccount({ id: 'leo', first_name: 'Leo', place_kinds: ['school'], auto_topup_ore: 20_000 });
  ledger.entries.deposit({ account_id: 'leo', amount_ore: 1 }); // keep the balance odd to see it unchanged
  // Spend down under 50 kr again: a new request; this time the payment card has expired.
  buy('skole-1', uid.leo, { noeddebar: 18 });
  const [second] = ledger.topups.pending();
  const failed = ledger.topups.settle(second?.id as string, { outcome: 'failed', reason: 'payment_card_expired' });
  t.like(failed, { state: 'failed', reason: 'payment_card_expired' });
  t.is(ledger.accounts.getAccount('leo')?.balance_ore, 22_001 - 18_000);
  t.throws(() => ledger.topups.settle('nope', { outcome: 'failed', reason: 'x' }), { message: /no top-up/ });
});

test('a top-up request central never answers stops blocking after 30 minutes, and a late answer still counts', (t) => {
  const { ledger, buy, outcome, clock } = site(t);
  t.is(outcome(buy('skole-1', uid.leo, { bolle: 1 })), 'approved'); // 30 → 25 kr: asks
  const [lost] = ledger.topups.pending();
  t.truthy(lost);
  clock.set('2026-11-23T11:50:00+01:00');
  t.is(outcome(buy('skole-1', uid.leo, { bolle: 1 })), 'approved');
  t.deepEqual(
    ledger.topups.pending().map((r) => r.id),
    [lost?.id],
    'twenty minutes on, the open request still stands',
  );
  clock.set('2026-11-23T12:01:00+01:00');
  const third = buy('skole-1', uid.leo, { bolle: 1 });
  t.is(outcome(third), 'approved');
  const [next, ...more] = ledger.topups.pending();
  t.deepEqual(more, []);
  t.like(next, { account_id: 'leo', entry_id: third.entry_id, state: 'pending' });
  t.not(next?.id, lost?.id, 'after 30 minutes unanswered, a new request goes up');
  // Central's answer to the first after all: the deposit is central's entry, the request is marked.
  ledger.entries.bookCentralEntry({
    id: 'central-dep-late',
    account_id: 'leo',
    kind: 'deposit',
    amount_ore: 20_000,
    origin: 'central',
    created_at: new Date().toISOString(),
  });
  t.like(ledger.topups.settle(lost?.id as string, { outcome: 'deposited', deposit_id: 'central-dep-late' }), {
    state: 'deposited',
  });
  t.is(ledger.accounts.getAccount('leo')?.balance_ore, 1_500 + 20_000);
  t.deepEqual(ledger.reports.verify(), []);
});

test('a paid pre-order is listed for its child at its place today and handed out once', (t) => {
  const { ledger, clock } = site(t);
  const lines = [{ product_id: 'bolle', name: 'Stor Grovbolle', quantity: 2, unit_price_ore: 500 }];
  ledger.preorders.putPreorder({ id: 'web-1', account_id: 'mia', place_id: 'kantinen', lines, for_date: '2026-11-23' });
  ledger.preorders.putPreorder({ id: 'web-2', account_id: 'mia', place_id: 'kantinen', lines, for_date: '2026-11-24' });
  ledger.preorders.putPreorder({ id: 'web-3', account_id: 'mia', place_id: 'klubben', lines, for_date: '2026-11-23' });
  t.deepEqual(
    ledger.preorders.openPreorders('mia', 'kantinen').map((o) => o.id),
    ['web-1'],
    'not tomorrow’s, not the club’s',
  );
  t.is(ledger.preorders.openPreorders('mia', 'kantinen')[0]?.total_ore, 1_000);
  const e = t.throws(() => ledger.preorders.handOutPreorder('web-1', 'klub-1', 'anne'));
  t.is((e as { code?: string }).code, 'preorder_not_found', 'not at another place');
  t.like(ledger.preorders.handOutPreorder('web-1', 'skole-1', 'anne'), { state: 'handed_out', handed_out_by: 'anne' });
  const again = t.throws(() => ledger.preorders.handOutPreorder('web-1', 'skole-1', 'anne'));
  t.is((again as { code?: string }).code, 'preorder_handed_out');
  clock.set('2026-11-24T09:00:00+01:00');
  t.deepEqual(
    ledger.preorders.openPreorders('mia', 'kantinen').map((o) => o.id),
    ['web-2'],
  );
});

test('a basket holds only products this till’s place sells', (t) => {
  const { ledger } = site(t);
  const e = t.throws(() => ledger.baskets.setBasket('skole-1', [{ product_id: 'perler', quantity: 1 }]));
  t.is((e as { code?: string }).code, 'unknown_product');
  t.truthy(
    ledger.baskets.setBasket('klub-1', [{ product_id: 'frugt', quantity: 1 }]),
    'site-wide products sell everywhere',
  );
  t.deepEqual(
    ledger.catalogue.listProducts('klubben').map((p) => p.id),
    ['frugt', 'perler'],
  );
});

test('a statement lists every sale with its line items and the running balance, like the portal in the seeds', (t) => {
  const { ledger, clock, buy } = site(t, '2015-08-18T18:24:00+02:00');
  ledger.accounts.putAccount({ id: 'ida', first_name: 'Ida' });
  ledger.accounts.putCard({ uid: '04AA00000000FF', account_id: 'ida', state: 'active' });
  ledger.entries.deposit({ account_id: 'ida', amount_ore: 4_950 });
  ledger.entries.deposit({ account_id: 'ida', amount_ore: 10_000 });
  const sale = buy('skole-1', '04AA00000000FF', { bolle: 1 });
  t.is(sale.outcome, 'approved');
  clock.set('2015-08-18T18:30:00+02:00');
  ledger.entries.voidSale({
    till_id: 'skole-1',
    entry_id: sale.entry_id as string,
    reason: 'Forkert vare',
    staff_id: null,
  });
  ledger.catalogue.upsertProduct({
    id: 'ostehoeps',
    place_id: 'kantinen',
    name: 'Ostehøps',
    category: 'mad',
    price_ore: 300,
  });
  buy('skole-1', '04AA00000000FF', { ostehoeps: 1, yoghurt: 1, bolle: 1 });
  const lines = ledger.reports.statement('ida', '2015-08-18', '2015-08-18').map(formatStatementLine);
  t.deepEqual(lines, [
    '18-08-2015 18:30\tHævet 1x Ostehøps 3.00 1x Yoghurt 6.00 1x Stor Grovbolle 5.00\tkr.-14,00\tkr.135,50',
    '18-08-2015 18:30\tAnnulleret: Forkert vare\tkr.5,00\tkr.149,50',
    '18-08-2015 18:24\tHævet 1x Stor Grovbolle 5.00\tkr.-5,00\tkr.144,50',
    '18-08-2015 18:24\tIndsat\tkr.100,00\tkr.149,50',
    '18-08-2015 18:24\tIndsat\tkr.49,50\tkr.49,50',
  ]);
  t.deepEqual(ledger.reports.statement('ida', '2015-08-19', '2015-08-31'), []);
  t.throws(() => ledger.reports.statement('ida', '18-08-2015', '2015-08-31'), { message: /not a date/ });
});
