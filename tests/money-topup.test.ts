/**
 * A one-off top-up by card (issue 19, rules 4 and 5) through the fake payment provider (a real
 * process) at central on real Postgres, signed in through the dev identity provider: the intent is
 * written before the provider is asked; the balance is credited only from the provider's own answer
 * (a verified webhook then a status fetch, or the reconciler), exactly once, with the intent's id
 * as the deposit's; the return address credits nothing; and every rule's refusal changes nothing.
 *
 * Serial: each test starts its own provider processes and central.
 */
import { createHmac } from 'node:crypto';
import test from 'ava';
import { HELD_MAIL_OUTBOX } from './helpers/central.ts';
import { PSP_WEBHOOK_SECRET } from './helpers/psp.ts';
import { balance, books, call, depositsOf, startTopup, topupRig } from './helpers/topup.ts';
import { until } from './helpers/wait.ts';

test.serial(
  'a guardian tops up 100 kr: paid at the provider, credited once from its answer, with a receipt',
  async (t) => {
    t.timeout(120_000);
    // The receipt is read from the outbox while queued: it does not send it meanwhile.
    const r = await topupRig(t, { mailOutbox: HELD_MAIL_OUTBOX });
    const { anne } = r.people;
    const started = await startTopup(r, anne, 'konto-noah', 10_000);
    t.regex(started.checkout_url, new RegExp(`^${r.psp.url}/pay/`));
    const [intent] = await r.central.db.query<{ state: string; provider_payment_id: string }>(
      'SELECT state, provider_payment_id FROM payment_intents WHERE id = $1',
      [started.intent_id],
    );
    t.is(intent?.state, 'pending');
    t.is(await balance(r.central, 'konto-noah'), 0, 'nothing before the payment');
    const paid = await r.psp.pay(started.checkout_url);
    t.is(paid.status, 303);
    t.true(paid.location?.startsWith(`${r.base}/konti/konto-noah/indbetal/${started.intent_id}`));
    await until(async () => ((await balance(r.central, 'konto-noah')) === 10_000 ? true : undefined), 'credited');
    const entries = await r.central.money.entries('konto-noah');
    t.is(entries.length, 1);
    t.like(entries[0], { id: started.intent_id, kind: 'deposit', amount_ore: 10_000 });
    // The state the portal shows comes from central (the API), and asking again credits nothing more.
    const seen = await call(r, anne, 'GET', `/api/accounts/konto-noah/payments/${started.intent_id}`);
    t.is(seen.status, 200);
    t.like(seen.body, { id: started.intent_id, state: 'paid', amount_ore: 10_000, purpose: 'topup' });
    const list = await call(r, anne, 'GET', '/api/accounts/konto-noah/payments');
    t.is(list.body.payments.length, 1);
    t.is(await balance(r.central, 'konto-noah'), 10_000);
    // The receipt waits in the outbox, to Anne.
    const mail = await r.central.db.query<{ type: string; to_address: string; text_body: string }>(
      `SELECT type, to_address, text_body FROM mail_outbox WHERE type = 'topup_receipt'`,
    );
    t.is(mail.length, 1);
    t.is(mail[0]?.to_address, 'anne.hansen@example.dk');
    t.regex(mail[0]?.text_body ?? '', /100,00\skr/);
    t.deepEqual(await r.central.money.verify(), []);
  },
);

test.serial('the return address credits nothing: only the provider says paid', async (t) => {
  t.timeout(120_000);
  const r = await topupRig(t);
  const { anne } = r.people;
  const started = await startTopup(r, anne, 'konto-noah', 5_000);
  // The browser "comes back" without paying, with a made-up payment id in the query.
  const back = await call(r, anne, 'GET', `/api/accounts/konto-noah/payments/${started.intent_id}?payment_id=pay_x`);
  t.is(back.status, 200);
  t.is(back.body.state, 'pending');
  const portal = await call(r, anne, 'GET', `/konti/konto-noah/indbetal/${started.intent_id}?payment_id=x&state=paid`);
  t.true(portal.status < 500);
  t.is(await balance(r.central, 'konto-noah'), 0);
  t.is(await depositsOf(r.central, started.intent_id), 0);
});

test.serial(
  'a forged webhook is refused and changes nothing; a real one for a payment not paid credits nothing',
  async (t) => {
    t.timeout(120_000);
    const r = await topupRig(t);
    const started = await startTopup(r, r.people.anne, 'konto-noah', 5_000);
    const [row] = await r.central.db.query<{ provider_payment_id: string }>(
      'SELECT provider_payment_id FROM payment_intents WHERE id = $1',
      [started.intent_id],
    );
    const payment_id = row?.provider_payment_id as string;
    const before = await books(r.central);
    const event = JSON.stringify({ id: 'evt-forged', type: 'payment.paid', payment_id, intent_id: started.intent_id });
    const post = (body: string, signature?: string) =>
      fetch(`${r.base}/payments/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(signature ? { 'kantine-psp-signature': signature } : {}) },
        body,
      });
    const unsigned = await post(event);
    t.is(unsigned.status, 401);
    t.is(((await unsigned.json()) as { code: string }).code, 'payment_webhook_refused');
    const wrongKey = await post(
      event,
      `sha256=${createHmac('sha256', 'not-the-secret-0123456789').update(event).digest('hex')}`,
    );
    t.is(wrongKey.status, 401);
    // Signed right, but over other bytes than were sent (the body was changed on the way).
    const signedOther = `sha256=${createHmac('sha256', PSP_WEBHOOK_SECRET).update(`${event} `).digest('hex')}`;
    t.is((await post(event, signedOther)).status, 401);
    t.is(await books(r.central), before);
    // Correctly signed (someone holding the secret) but the payment is not paid at the provider: a hint, no credit.
    const signed = `sha256=${createHmac('sha256', PSP_WEBHOOK_SECRET).update(event).digest('hex')}`;
    const res = await post(event, signed);
    t.is(res.status, 200);
    t.is(await balance(r.central, 'konto-noah'), 0);
    t.is(await depositsOf(r.central, started.intent_id), 0);
  },
);
