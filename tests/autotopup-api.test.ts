/**
 * Automatic top-up as JSON (issue 19 rule 6): `GET/PUT/DELETE /api/accounts/:account/autotopup`,
 * a guardian of the account only. Anne makes an agreement for Emma through the fake provider's
 * page (a real process), sees it, and cancels it; Karen (Emma's relation), the school office,
 * finance, a token and a guardian of another child are refused; bad input is a coded refusal that
 * changes nothing.
 */
import test from 'ava';
import { payWithConsent } from './helpers/autotopup.ts';
import { call, topupRig } from './helpers/topup.ts';
import { until } from './helpers/wait.ts';

const URL_EMMA = '/api/accounts/konto-emma/autotopup';

test.serial('a guardian makes, reads and cancels the agreement; everyone else is refused', async (t) => {
  t.timeout(180_000);
  const r = await topupRig(t);
  const { anne, karen, lone, peter, mette } = r.people;

  const empty = await call(r, anne, 'GET', URL_EMMA);
  t.is(empty.status, 200, empty.text);
  t.is(empty.body.agreement, null);
  t.like(empty.body.limits, { min_amount_ore: 5_000, max_amount_ore: 100_000 });
  t.deepEqual(empty.body.charges, []);

  // Refused by the route's declaration: a relation, the office, finance, a token; another child's guardian.
  for (const who of [karen, lone, mette]) {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await call(
        r,
        who,
        method,
        URL_EMMA,
        method === 'PUT' ? { amount_ore: 20_000, consent: true } : undefined,
      );
      t.true(res.status === 403 || res.status === 404, `${method} ${res.status}`);
      t.not(res.status, 200);
    }
  }
  t.is((await call(r, r.finance, 'GET', URL_EMMA)).status, 403);
  t.is((await call(r, r.admin, 'DELETE', URL_EMMA)).status, 403);
  t.is((await call(r, peter, 'GET', URL_EMMA)).status, 404);
  t.is((await call(r, null, 'GET', URL_EMMA)).status, 401);

  // Bad input: coded, nothing started.
  const noConsent = await call(r, anne, 'PUT', URL_EMMA, { amount_ore: 20_000, consent: false });
  t.is(noConsent.status, 400);
  t.is(noConsent.body.code, 'terms_not_accepted');
  const badAmount = await call(r, anne, 'PUT', URL_EMMA, { amount_ore: 12_345, consent: true });
  t.is(badAmount.body.code, 'autotopup_amount_invalid');
  const badBody = await call(r, anne, 'PUT', URL_EMMA, { amount_ore: 20_000, consent: true, extra: 1 });
  t.is(badBody.body.code, 'invalid_request');
  const none = await call(r, anne, 'DELETE', URL_EMMA);
  t.is(none.status, 404, none.text);
  t.is(none.body.code, 'autotopup_no_agreement');
  t.deepEqual(await r.central.db.query("SELECT 1 FROM payment_intents WHERE purpose = 'agreement'"), []);

  const started = await call(r, anne, 'PUT', URL_EMMA, { amount_ore: 20_000, consent: true });
  t.is(started.status, 201, started.text);
  t.true(started.body.checkout_url.startsWith(r.psp.url));
  await payWithConsent(started.body.checkout_url);
  const made = await until(async () => {
    const res = await call(r, anne, 'GET', URL_EMMA);
    return res.body.agreement ? res.body : undefined;
  }, 'the agreement made from the provider’s answer');
  t.like(made.agreement, {
    state: 'active',
    amount_ore: 20_000,
    threshold_ore: 5_000,
    card_expiry: '2030-12',
    card_last4: '0001',
  });

  const cancelled = await call(r, anne, 'DELETE', URL_EMMA);
  t.is(cancelled.status, 200, cancelled.text);
  t.is(cancelled.body.agreement.state, 'cancelled');
  t.is((await call(r, anne, 'GET', URL_EMMA)).body.agreement, null);
});
