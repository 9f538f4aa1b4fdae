/**
 * Webhooks are hints that come twice, late, out of order or not at all (issue 19, rule 4): the
 * fake payment provider (a real process) misbehaves on demand, and every payment is still credited
 * exactly once — from the provider's answer, by the webhook's fetch, the return page's fetch or
 * the reconciler (two workers share it). An unpaid intent expires and is cancelled at the
 * provider.
 *
 * Serial: each test starts its own provider processes and central.
 */
import type { Central } from '@kantine/central';
import test from 'ava';
import { balance, call, startTopup, type TopupRig, topupRig } from './helpers/topup.ts';
import { until } from './helpers/wait.ts';

interface PspEvent {
  event_id: string;
  type: string;
  payment_id: string;
  fault: string;
  state: string;
  deliveries: number;
}

async function events(r: TopupRig): Promise<PspEvent[]> {
  return ((await r.psp.admin('GET', '/admin/webhooks')).body as { events: PspEvent[] }).events;
}

async function paymentOf(central: Central, intent: string): Promise<string> {
  const [row] = await central.db.query<{ provider_payment_id: string }>(
    'SELECT provider_payment_id FROM payment_intents WHERE id = $1',
    [intent],
  );
  return row?.provider_payment_id as string;
}

async function creditedTo(r: TopupRig, account: string, ore: number): Promise<void> {
  await until(
    async () => ((await balance(r.central, account)) === ore ? true : undefined),
    `${account} at ${ore}`,
    20_000,
  );
}

async function depositCount(central: Central, account: string): Promise<number> {
  return (await central.db.query(`SELECT 1 FROM entries WHERE account_id = $1 AND kind = 'deposit'`, [account])).length;
}

test.serial('a duplicated webhook credits once', async (t) => {
  t.timeout(120_000);
  const r = await topupRig(t);
  await r.psp.admin('POST', '/admin/faults', { webhooks: { mode: 'duplicate', count: 1 } });
  const s = await startTopup(r, r.people.anne, 'konto-noah', 10_000);
  await r.psp.pay(s.checkout_url);
  const payment = await paymentOf(r.central, s.intent_id);
  await until(async () => {
    const e = (await events(r)).find((x) => x.payment_id === payment);
    return e && e.deliveries === 2 ? e : undefined;
  }, 'delivered twice');
  await creditedTo(r, 'konto-noah', 10_000);
  t.is(await depositCount(r.central, 'konto-noah'), 1);
  const [hook] = await r.central.db.query<{ deliveries: number }>('SELECT deliveries FROM payment_webhooks');
  t.is(hook?.deliveries, 2, 'central saw the same event twice');
  t.deepEqual(await r.central.money.verify(), []);
});

test.serial('reordered webhooks (the newer first) credit each payment once', async (t) => {
  t.timeout(120_000);
  const r = await topupRig(t);
  await r.psp.admin('POST', '/admin/faults', { webhooks: { mode: 'reorder', count: 2 } });
  const a = await startTopup(r, r.people.anne, 'konto-noah', 10_000);
  const b = await startTopup(r, r.people.anne, 'konto-noah', 5_000);
  await r.psp.pay(a.checkout_url);
  t.is(await balance(r.central, 'konto-noah'), 0, 'held: nothing yet');
  await r.psp.pay(b.checkout_url);
  await creditedTo(r, 'konto-noah', 15_000);
  const sent = (await events(r)).filter((e) => e.fault === 'reorder');
  t.is(sent.length, 2);
  t.is(await depositCount(r.central, 'konto-noah'), 2);
  const [first, second] = await r.central.db.query<{ id: string }>(
    `SELECT id FROM entries WHERE account_id = 'konto-noah' ORDER BY seq`,
  );
  t.is(first?.id, b.intent_id, 'the newer payment was credited first');
  t.is(second?.id, a.intent_id);
});

test.serial('a late webhook after the return page already credited: harmless', async (t) => {
  t.timeout(120_000);
  const r = await topupRig(t);
  await r.psp.admin('POST', '/admin/faults', { webhooks: { mode: 'late', count: 1, delay_ms: 60_000 } });
  const s = await startTopup(r, r.people.anne, 'konto-noah', 10_000);
  await r.psp.pay(s.checkout_url);
  // The browser is back: the page asks central, which asks the provider (never trusts the URL).
  const back = await call(r, r.people.anne, 'GET', `/api/accounts/konto-noah/payments/${s.intent_id}`);
  t.is(back.body.state, 'paid');
  t.is(await balance(r.central, 'konto-noah'), 10_000);
  await r.psp.admin('POST', '/admin/webhooks/release');
  const payment = await paymentOf(r.central, s.intent_id);
  await until(async () => {
    const e = (await events(r)).find((x) => x.payment_id === payment);
    return e?.state === 'sent' ? e : undefined;
  }, 'the late webhook arrived');
  t.is(await balance(r.central, 'konto-noah'), 10_000);
  t.is(await depositCount(r.central, 'konto-noah'), 1);
});

test.serial('a lost webhook: the reconciler (two workers) asks the provider and credits once', async (t) => {
  t.timeout(120_000);
  const r = await topupRig(t, { workers: 2, payments: { check_after_s: 1, reconcile_every_s: 1 } });
  await r.psp.admin('POST', '/admin/faults', { webhooks: { mode: 'lose', count: 3 } });
  const started = [];
  for (const ore of [10_000, 2_000, 3_000]) started.push(await startTopup(r, r.people.anne, 'konto-noah', ore));
  for (const s of started) await r.psp.pay(s.checkout_url);
  t.deepEqual(
    (await events(r)).map((e) => e.state),
    ['lost', 'lost', 'lost'],
  );
  await creditedTo(r, 'konto-noah', 15_000);
  t.is(await depositCount(r.central, 'konto-noah'), 3);
  const states = await r.central.db.query<{ state: string }>('SELECT state FROM payment_intents');
  t.true(states.every((s) => s.state === 'paid'));
  t.deepEqual(await r.central.money.verify(), []);
});

test.serial(
  "the provider fails while central fetches a webhook's payment: central answers 503, the resent webhook credits",
  async (t) => {
    t.timeout(120_000);
    const r = await topupRig(t);
    const s = await startTopup(r, r.people.anne, 'konto-noah', 10_000);
    await r.psp.admin('POST', '/admin/faults', { api: { mode: '5xx', count: 1 } });
    await r.psp.pay(s.checkout_url);
    await creditedTo(r, 'konto-noah', 10_000);
    t.is(await depositCount(r.central, 'konto-noah'), 1);
    const [hook] = await r.central.db.query<{ deliveries: number }>('SELECT deliveries FROM payment_webhooks');
    t.is(hook?.deliveries, 2, 'the first delivery was answered 503, so the provider sent it again');
  },
);

test.serial(
  'an unpaid intent expires and is cancelled at the provider; the page left open can no longer be paid',
  async (t) => {
    t.timeout(120_000);
    let offset = 0;
    const clock = { now: () => new Date(Date.now() + offset) };
    const r = await topupRig(t, { payments: { expire_after_minutes: 30, check_after_s: 60 }, clock });
    await r.psp.admin('POST', '/admin/faults', { webhooks: { mode: 'lose', count: 1 } });
    const s = await startTopup(r, r.people.anne, 'konto-noah', 10_000);
    offset = 31 * 60_000;
    await r.central.payments?.reconcile();
    t.is((await r.central.payments?.get(s.intent_id))?.state, 'expired');
    t.is(await balance(r.central, 'konto-noah'), 0);
    // The guardian had the page open: the provider refuses it now (a payment that slipped through
    // anyway is refunded: money-topup-refunds.test.ts).
    t.is((await r.psp.pay(s.checkout_url)).status, 409);
    offset += 2 * 3600_000;
    await r.central.payments?.reconcile();
    t.is((await r.central.payments?.get(s.intent_id))?.state, 'expired');
    await r.central.payments?.settle(await paymentOf(r.central, s.intent_id));
    t.is(await depositCount(r.central, 'konto-noah'), 0);
  },
);
