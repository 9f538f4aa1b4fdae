/**
 * Money central does not credit goes back (issue 19, rules 4 and 10): a payment the provider took
 * for another amount than the intent asked is refunded at the provider (once, by its key) and
 * shown to finance in reconciliation; an intent that expires while its checkout is open is
 * cancelled at the provider, so the page left open cannot be paid — and a top-up paid after its
 * intent expired anyway (the cancel unanswered) is refunded, not credited. A webhook sent again
 * for a settled intent is verified but costs no provider call. The fake payment provider runs as
 * its own process and misbehaves on demand.
 */
import type { Central } from '@kantine/central';
import test from 'ava';
import { DateTime } from 'luxon';
import { balance, call, startTopup, type TopupRig, topupRig } from './helpers/topup.ts';
import { until } from './helpers/wait.ts';

const today = () => DateTime.now().setZone('Europe/Copenhagen').toISODate() as string;

async function paymentOf(central: Central, intent: string): Promise<string> {
  const i = await central.payments?.get(intent);
  if (!i?.provider_payment_id) throw new Error(`intent ${intent} has no provider payment`);
  return i.provider_payment_id;
}

/** The payment as the provider has it (its own API). */
async function atProvider(r: TopupRig, payment: string): Promise<{ state: string; refunded_ore: number }> {
  return (await r.psp.admin('GET', `/v1/payments/${payment}`)).body as { state: string; refunded_ore: number };
}

/** How many API requests central made to the provider, by `METHOD /path`. */
async function calls(r: TopupRig): Promise<Record<string, number>> {
  return (await r.psp.admin('GET', '/admin/calls')).body as Record<string, number>;
}

async function failureOf(r: TopupRig, intent: string, want: string): Promise<void> {
  await until(
    async () => ((await r.central.payments?.get(intent))?.failure === want ? true : undefined),
    `intent ${intent} ${want}`,
    20_000,
  );
}

test.serial(
  'the provider took another amount than asked: not credited, refunded at the provider once, shown to finance',
  async (t) => {
    t.timeout(120_000);
    const r = await topupRig(t);
    const s = await startTopup(r, r.people.anne, 'konto-noah', 10_000);
    const payment = await paymentOf(r.central, s.intent_id);
    t.is((await r.psp.admin('POST', `/admin/payments/${payment}`, { take_amount_ore: 12_000 })).status, 204);
    await r.psp.pay(s.checkout_url);

    await failureOf(r, s.intent_id, 'amount_mismatch_refunded');
    const intent = await r.central.payments?.get(s.intent_id);
    t.is(intent?.state, 'failed');
    t.is(await balance(r.central, 'konto-noah'), 0, 'never credited');
    t.like(await atProvider(r, payment), { state: 'paid', refunded_ore: 12_000 });

    // Asked again (a webhook, the reconciler): no second refund.
    await r.central.payments?.settle(payment);
    await r.central.payments?.reconcile();
    t.is((await calls(r))[`POST /v1/payments/${payment}/refunds`], 1);
    t.like(await atProvider(r, payment), { refunded_ore: 12_000 });

    // Finance sees it: the row with its reason; no difference, as the money went back.
    const report = await call(r, r.finance, 'GET', `/api/payments/reconciliation?date=${today()}`);
    t.is(report.status, 200, report.text);
    const row = report.body.payments.find((p: { intent_id: string }) => p.intent_id === s.intent_id);
    t.like(row, { state: 'failed', reason: 'amount_mismatch_refunded', entry_id: null });
    t.deepEqual(report.body.differences, []);
    const check = await call(r, r.finance, 'POST', `/api/payments/reconciliation/check?date=${today()}`);
    t.is(check.status, 200, check.text);
    t.like(
      check.body.payments.find((p: { intent_id: string }) => p.intent_id === s.intent_id),
      { provider_state: 'refunded', provider_amount_ore: 12_000 },
    );
    const csv = await call(r, r.finance, 'GET', `/api/payments/reconciliation?date=${today()}&format=csv`);
    t.true(csv.text.split('\r\n')[0]?.endsWith(',difference,reason'));
    t.true(csv.text.split('\r\n').some((l) => l.includes(s.intent_id) && l.endsWith(',amount_mismatch_refunded')));
    t.deepEqual(await r.central.money.verify(), []);
  },
);

test.serial(
  'a mismatch whose refund the provider does not answer: a difference for finance until the reconciler refunds it',
  async (t) => {
    t.timeout(120_000);
    let offset = 0;
    const clock = { now: () => new Date(Date.now() + offset) };
    const r = await topupRig(t, { payments: { check_after_s: 60 }, clock });
    const s = await startTopup(r, r.people.anne, 'konto-noah', 10_000);
    const payment = await paymentOf(r.central, s.intent_id);
    await r.psp.admin('POST', `/admin/payments/${payment}`, { take_amount_ore: 9_000 });
    await r.psp.admin('POST', '/admin/faults', { api: { mode: '5xx', count: 1, match: '/refunds' } });
    await r.psp.pay(s.checkout_url);
    await failureOf(r, s.intent_id, 'amount_mismatch');
    t.like(await atProvider(r, payment), { refunded_ore: 0 });
    const report = await call(r, r.finance, 'GET', `/api/payments/reconciliation?date=${today()}`);
    t.is(report.body.differences.length, 1);
    t.regex(report.body.differences[0].problem, /another amount than asked; not credited/);
    // Asking the provider (it holds 90 kr. of an intent for 100): still that one difference, not
    // one more for the money held nor one for the amount.
    const check = await call(r, r.finance, 'POST', `/api/payments/reconciliation/check?date=${today()}`);
    t.is(check.status, 409, check.text);
    t.is(check.body.details.length, 1, check.text);
    t.regex(
      check.body.details[0],
      new RegExp(`^${s.intent_id}: the provider took another amount than asked; not credited`),
    );

    offset = 5 * 60_000;
    await r.central.payments?.reconcile();
    await failureOf(r, s.intent_id, 'amount_mismatch_refunded');
    t.like(await atProvider(r, payment), { refunded_ore: 9_000 });
    t.is(await balance(r.central, 'konto-noah'), 0);
    const after = await call(r, r.finance, 'GET', `/api/payments/reconciliation?date=${today()}`);
    t.deepEqual(after.body.differences, []);
  },
);

test.serial('an intent that expires is cancelled at the provider: the page left open cannot be paid', async (t) => {
  t.timeout(120_000);
  let offset = 0;
  const clock = { now: () => new Date(Date.now() + offset) };
  const r = await topupRig(t, { payments: { expire_after_minutes: 30, check_after_s: 60 }, clock });
  const s = await startTopup(r, r.people.anne, 'konto-noah', 10_000);
  const payment = await paymentOf(r.central, s.intent_id);
  offset = 31 * 60_000;
  await r.central.payments?.reconcile();
  const intent = await r.central.payments?.get(s.intent_id);
  t.is(intent?.state, 'expired');
  t.is(intent?.failure, 'cancelled_at_provider');
  t.like(await atProvider(r, payment), { state: 'cancelled' });
  t.is((await r.psp.pay(s.checkout_url)).status, 409, 'the page says the payment is finished');
  t.is(await balance(r.central, 'konto-noah'), 0);
  // Nothing more to ask: the reconciler leaves it.
  const before = (await calls(r))[`GET /v1/payments/${payment}`] ?? 0;
  offset += 3 * 3600_000;
  await r.central.payments?.reconcile();
  t.is((await calls(r))[`GET /v1/payments/${payment}`] ?? 0, before);
});

test.serial('a top-up paid after its intent expired (the cancel unanswered) is refunded, not credited', async (t) => {
  t.timeout(120_000);
  let offset = 0;
  const clock = { now: () => new Date(Date.now() + offset) };
  const r = await topupRig(t, { payments: { expire_after_minutes: 30, check_after_s: 60 }, clock });
  const s = await startTopup(r, r.people.anne, 'konto-noah', 10_000);
  const payment = await paymentOf(r.central, s.intent_id);
  await r.psp.admin('POST', '/admin/faults', { api: { mode: '5xx', count: 1, match: '/cancel' } });
  offset = 31 * 60_000;
  await r.central.payments?.reconcile();
  t.like(await r.central.payments?.get(s.intent_id), { state: 'expired', failure: null });
  // The guardian had the page open and pays now; the webhook says so.
  t.is((await r.psp.pay(s.checkout_url)).status, 303);
  await failureOf(r, s.intent_id, 'paid_late_refunded');
  t.is((await r.central.payments?.get(s.intent_id))?.state, 'expired');
  t.is(await balance(r.central, 'konto-noah'), 0);
  t.like(await atProvider(r, payment), { state: 'paid', refunded_ore: 10_000 });
  const check = await call(r, r.finance, 'POST', `/api/payments/reconciliation/check?date=${today()}`);
  t.is(check.status, 200, check.text);
  t.like(
    check.body.payments.find((p: { intent_id: string }) => p.intent_id === s.intent_id),
    { reason: 'paid_late_refunded', provider_state: 'refunded' },
  );
});

test.serial('a webhook sent again for a settled intent is verified but asks the provider nothing', async (t) => {
  t.timeout(120_000);
  const r = await topupRig(t);
  await r.psp.admin('POST', '/admin/faults', { webhooks: { mode: 'duplicate', count: 1 } });
  const paid = await startTopup(r, r.people.anne, 'konto-noah', 10_000);
  await r.psp.pay(paid.checkout_url);
  const paidPayment = await paymentOf(r.central, paid.intent_id);
  await until(async () => ((await balance(r.central, 'konto-noah')) === 10_000 ? true : undefined), 'credited');
  const declined = await startTopup(r, r.people.anne, 'konto-noah', 2_000);
  await r.psp.admin('POST', '/admin/faults', { webhooks: { mode: 'duplicate', count: 1 } });
  await r.psp.pay(declined.checkout_url, '4000000000000002');
  const declinedPayment = await paymentOf(r.central, declined.intent_id);
  await until(async () => {
    const hooks = (await r.psp.admin('GET', '/admin/webhooks')).body as {
      events: { payment_id: string; deliveries: number }[];
    };
    const e = hooks.events
      .filter((x) => x.payment_id === paidPayment || x.payment_id === declinedPayment)
      .map((x) => x.deliveries);
    return e.length === 2 && e.every((d) => d === 2) ? true : undefined;
  }, 'each delivered twice');
  t.is((await r.central.payments?.get(declined.intent_id))?.state, 'failed');
  const c = await calls(r);
  t.is(c[`GET /v1/payments/${paidPayment}`], 1, 'the paid one was fetched once');
  t.is(c[`GET /v1/payments/${declinedPayment}`], 1, 'the declined one was fetched once');
  const [hooks] = await r.central.db.query<{ n: number }>(
    'SELECT SUM(deliveries)::int AS n FROM payment_webhooks WHERE payment_id = ANY($1)',
    [[paidPayment, declinedPayment]],
  );
  t.is(hooks?.n, 4, 'all four deliveries were verified and recorded');
  t.is(await balance(r.central, 'konto-noah'), 10_000);
});

test.serial(
  'a top-up paid after the canteen card was blocked is refunded, not credited — and stays so when the card is unblocked before the refund is answered',
  async (t) => {
    t.timeout(120_000);
    let offset = 0;
    const clock = { now: () => new Date(Date.now() + offset) };
    const r = await topupRig(t, { payments: { check_after_s: 60 }, clock });
    const uid = '04B10C0ED00001';
    await r.central.cards.put({ uid, kind: 'legacy' });
    await r.central.cards.activate(uid, 'konto-noah');
    const s = await startTopup(r, r.people.anne, 'konto-noah', 10_000);
    const payment = await paymentOf(r.central, s.intent_id);
    // The card is lost and blocked while the provider's page is open; the guardian pays anyway.
    t.is((await call(r, r.admin, 'POST', `/api/cards/${uid}/block`)).status, 204);
    await r.psp.admin('POST', '/admin/faults', { api: { mode: '5xx', count: 1, match: '/refunds' } });
    t.is((await r.psp.pay(s.checkout_url)).status, 303);
    await failureOf(r, s.intent_id, 'paid_blocked');
    t.is((await r.central.payments?.get(s.intent_id))?.state, 'failed');
    t.is(await balance(r.central, 'konto-noah'), 0, 'no deposit to a blocked account');
    t.like(await atProvider(r, payment), { state: 'paid', refunded_ore: 0 });
    const report = await call(r, r.finance, 'GET', `/api/payments/reconciliation?date=${today()}`);
    t.deepEqual(
      report.body.differences.map((d: { problem: string }) => d.problem),
      ['paid after the canteen card was blocked; not credited, its refund is not yet confirmed'],
    );
    // Asking the provider: it holds the money — the same difference, named once.
    const unconfirmed = await call(r, r.finance, 'POST', `/api/payments/reconciliation/check?date=${today()}`);
    t.is(unconfirmed.status, 409, unconfirmed.text);
    t.deepEqual(unconfirmed.body.details, [
      `${s.intent_id}: paid after the canteen card was blocked; not credited, its refund is not yet confirmed`,
    ]);
    // The guardian's page says why, and that the money goes back.
    const page = await call(r, r.people.anne, 'GET', `/konti/konto-noah/indbetal/${s.intent_id}`);
    t.is(page.status, 200);
    t.regex(page.text, /Kantinekortet var spærret, da betalingen blev bekræftet/);
    t.notRegex(page.text, /der er ikke trukket penge/);
    const history = await call(r, r.people.anne, 'GET', '/konti/konto-noah/betalinger');
    t.regex(history.text, new RegExp(`data-payment="${s.intent_id}"[^]*?Tilbage til betalingskortet`));

    // Found and unblocked before the refund was answered: the refund may have been made, so the
    // payment is still given back (the same key: once), never credited.
    t.is((await call(r, r.admin, 'POST', `/api/cards/${uid}/unblock`)).status, 204);
    offset = 5 * 60_000;
    await r.central.payments?.reconcile();
    await failureOf(r, s.intent_id, 'paid_blocked_refunded');
    t.like(await atProvider(r, payment), { state: 'paid', refunded_ore: 10_000 });
    await r.central.payments?.settle(payment);
    t.like(await atProvider(r, payment), { refunded_ore: 10_000 }, 'refunded once');
    t.is(await balance(r.central, 'konto-noah'), 0);
    const check = await call(r, r.finance, 'POST', `/api/payments/reconciliation/check?date=${today()}`);
    t.is(check.status, 200, check.text);
    t.like(
      check.body.payments.find((p: { intent_id: string }) => p.intent_id === s.intent_id),
      { reason: 'paid_blocked_refunded', provider_state: 'refunded', entry_id: null },
    );
    t.deepEqual(check.body.differences, []);
    // With the card working again, a new top-up is credited as usual.
    const again = await startTopup(r, r.people.anne, 'konto-noah', 5_000);
    await r.psp.pay(again.checkout_url);
    await until(async () => ((await balance(r.central, 'konto-noah')) === 5_000 ? true : undefined), 'credited');
    t.deepEqual(await r.central.money.verify(), []);
  },
);
