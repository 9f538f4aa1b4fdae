/**
 * Reconciliation (issue 19, rule 10): a day's payments at the provider against the deposits in
 * central's ledger, as a report (JSON, and CSV for finance) and as a check that asks the provider
 * about each payment and fails loudly (409 `reconciliation_differences`, the metric
 * `kantine_central_reconciliation_differences`) on any difference. Finance only. The fake payment
 * provider runs as a real process; the difference is made the way it happens: the provider took a
 * payment that central never heard of (every webhook lost, the reconciler not yet round).
 */

import test from 'ava';
import { DateTime } from 'luxon';
import { balance, call, startTopup, topupRig } from './helpers/topup.ts';
import { until } from './helpers/wait.ts';

const today = () => DateTime.now().setZone('Europe/Copenhagen').toISODate() as string;

async function metric(base: string, token: string): Promise<number> {
  const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  const m = /^kantine_central_reconciliation_differences (\d+)$/m.exec(text);
  if (!m) throw new Error(`no reconciliation metric in ${res.status}`);
  return Number(m[1]);
}

test.serial('a day that holds: the report and the CSV list each payment, the check passes', async (t) => {
  t.timeout(120_000);
  const r = await topupRig(t);
  const a = await startTopup(r, r.people.anne, 'konto-noah', 10_000);
  const b = await startTopup(r, r.people.anne, 'konto-noah', 2_500);
  await startTopup(r, r.people.anne, 'konto-noah', 3_000); // never paid: pending
  await r.psp.pay(a.checkout_url);
  await r.psp.pay(b.checkout_url);
  await until(async () => ((await balance(r.central, 'konto-noah')) === 12_500 ? true : undefined), 'credited');

  const report = await call(r, r.people.mette, 'GET', `/api/payments/reconciliation?date=${today()}`);
  t.is(report.status, 200, report.text);
  t.is(report.body.date, today());
  t.is(report.body.payments.length, 3);
  t.deepEqual(report.body.totals, { paid_ore: 12_500, deposited_ore: 12_500 });
  t.deepEqual(report.body.differences, []);

  const csv = await call(r, r.finance, 'GET', `/api/payments/reconciliation?date=${today()}&format=csv`);
  t.is(csv.status, 200);
  t.regex(csv.headers.get('content-type') ?? '', /^text\/csv/);
  const lines = csv.text.trim().split('\r\n');
  t.is(lines.length, 4, 'a header and three payments');
  t.true(lines[0]?.startsWith('date,intent_id,purpose,provider,provider_payment_id,state,amount_kr'));
  t.true(lines.some((l) => l.includes(a.intent_id) && l.includes(',paid,100.00,')));

  const check = await call(r, r.people.mette, 'POST', `/api/payments/reconciliation/check?date=${today()}`);
  t.is(check.status, 200, check.text);
  t.true(check.body.provider_checked);
  t.deepEqual(check.body.differences, []);
  t.is(await metric(r.base, r.admin), 0);

  // Finance only: a guardian, the office and a token of another scope are refused.
  t.is((await call(r, r.people.anne, 'GET', `/api/payments/reconciliation?date=${today()}`)).status, 403);
  t.is((await call(r, r.people.lone, 'POST', `/api/payments/reconciliation/check?date=${today()}`)).status, 403);
  t.is((await call(r, r.admin, 'GET', `/api/payments/reconciliation?date=${today()}`)).status, 403);
  const bad = await call(r, r.finance, 'GET', '/api/payments/reconciliation?date=2026-02-30');
  t.is(bad.status, 400);
  t.is(bad.body.code, 'invalid_request');
});

test.serial(
  'a payment the provider took but central never credited: the check fails loudly until it is settled',
  async (t) => {
    t.timeout(120_000);
    const r = await topupRig(t);
    await r.psp.admin('POST', '/admin/faults', { webhooks: { mode: 'lose', count: 1 } });
    const s = await startTopup(r, r.people.anne, 'konto-noah', 10_000);
    await r.psp.pay(s.checkout_url);
    t.is(await balance(r.central, 'konto-noah'), 0, 'the webhook was lost; the reconciler is not yet round');

    const check = await call(r, r.finance, 'POST', `/api/payments/reconciliation/check?date=${today()}`);
    t.is(check.status, 409);
    t.is(check.body.code, 'reconciliation_differences');
    t.is(check.body.details.length, 1);
    t.regex(check.body.details[0], new RegExp(`^${s.intent_id}: the provider took the money, central has it pending`));
    t.is(await metric(r.base, r.admin), 1, 'the metric says so');
    const csv = await call(r, r.finance, 'GET', `/api/payments/reconciliation?date=${today()}&format=csv`);
    t.true(csv.text.includes(s.intent_id));

    // The reconciler (or a webhook) settles it; the next check holds.
    await r.central.payments?.settle((await r.central.payments?.get(s.intent_id))?.provider_payment_id as string);
    t.is(await balance(r.central, 'konto-noah'), 10_000);
    const again = await call(r, r.finance, 'POST', `/api/payments/reconciliation/check?date=${today()}`);
    t.is(again.status, 200, again.text);
    t.is(await metric(r.base, r.admin), 0);
  },
);

test.serial('a deposit in the ledger for a payment central does not have as paid is a difference', async (t) => {
  t.timeout(120_000);
  const r = await topupRig(t);
  const s = await startTopup(r, r.people.anne, 'konto-noah', 10_000);
  // Finance's deposit route does not take a payment's id (the payment would count as deposited).
  const manual = await call(r, r.finance, 'POST', '/api/accounts/konto-noah/deposits', {
    id: s.intent_id,
    amount_ore: 10_000,
  });
  t.is(manual.status, 409, manual.text);
  t.is(manual.body.code, 'entry_id_reused');
  t.is(await balance(r.central, 'konto-noah'), 0, 'nothing booked');
  const held = await call(r, r.finance, 'GET', `/api/payments/reconciliation?date=${today()}`);
  t.deepEqual(held.body.differences, []);

  // So the difference is made behind central's back: the payment is paid and credited, then the
  // database is edited (or half restored) so that the intent reads pending beside its deposit.
  await r.psp.pay(s.checkout_url);
  await until(async () => ((await balance(r.central, 'konto-noah')) === 10_000 ? true : undefined), 'credited');
  await r.central.db.query("UPDATE payment_intents SET state = 'pending', paid_at = NULL WHERE id = $1", [s.intent_id]);
  const report = await call(r, r.finance, 'GET', `/api/payments/reconciliation?date=${today()}`);
  t.deepEqual(
    report.body.differences.map((d: { problem: string }) => d.problem),
    ['a deposit, but the payment is pending'],
  );
  const check = await call(r, r.finance, 'POST', `/api/payments/reconciliation/check?date=${today()}`);
  t.is(check.status, 409);
  // The check asks the provider too, which took the money central now reads as pending: two differences.
  t.is(check.body.details.length, 2, check.text);
  t.is(await metric(r.base, r.admin), 2);
});

test.serial(
  "the daily check runs once a day across workers, on yesterday's payments, and keeps its count for the metric",
  async (t) => {
    t.timeout(120_000);
    let offset = 0;
    const clock = { now: () => new Date(Date.now() + offset) };
    // The workers' own timers stay out of it (an hour): the test's two calls stand for them.
    const r = await topupRig(t, { workers: 2, clock, payments: { reconcile_every_s: 3600 } });
    await r.psp.admin('POST', '/admin/faults', { webhooks: { mode: 'lose', count: 1 } });
    const s = await startTopup(r, r.people.anne, 'konto-noah', 10_000);
    await r.psp.pay(s.checkout_url); // the webhook is lost: central has it pending
    offset = 24 * 3600_000; // tomorrow
    const [first, second] = await Promise.all([r.central.reconciliation?.daily(), r.central.reconciliation?.daily()]);
    const ran = [first, second].filter((x) => x !== undefined);
    t.is(ran.length, 1, 'one of the two claims the day');
    t.is(ran[0]?.date, today());
    t.is(ran[0]?.differences.length, 1);
    t.is(await r.central.reconciliation?.daily(), undefined, 'done for the day');
    t.is(await metric(r.base, r.admin), 1);
  },
);
