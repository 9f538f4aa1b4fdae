/**
 * The rules of a one-off top-up (issue 19, rule 5), each refusal coded and changing nothing: whole
 * kroner within the minimum and maximum per payment, a municipality-wide maximum balance (pending
 * top-ups count), no top-up to a blocked account, terms accepted; guardians and relations may top
 * up, a stranger learns nothing (404), staff and tokens may not; without the config section every
 * payment route says `payments_not_configured`. The fake payment provider runs as a real process.
 *
 * Serial: each test starts its own provider processes and central.
 */
import { parseCentralConfig } from '@kantine/central';
import type { KantineError } from '@kantine/protocol';
import test from 'ava';
import { balance, books, call, startTopup, topupRig } from './helpers/topup.ts';
import { until } from './helpers/wait.ts';

const LIMITS = { topup: { min_kr: 20, max_kr: 500, max_balance_kr: 800 } };

test.serial(
  'amounts: whole kroner within the minimum and maximum, else topup_amount_invalid and nothing changes',
  async (t) => {
    t.timeout(120_000);
    const r = await topupRig(t, { payments: LIMITS });
    const { anne } = r.people;
    const before = await books(r.central);
    for (const amount_ore of [10_050, 1_999, 1_900, 50_100, 0, -2_000, 2_000.5, 1e20]) {
      const res = await call(r, anne, 'POST', '/api/accounts/konto-noah/topups', { amount_ore, terms_accepted: true });
      t.is(res.status, 400, `${amount_ore}: ${res.text}`);
      t.is(res.body.code, 'topup_amount_invalid', String(amount_ore));
    }
    for (const body of [
      { amount_ore: '10000', terms_accepted: true },
      { amount_ore: 10_000 },
      { amount_ore: 10_000, terms_accepted: true, extra: 1 },
    ]) {
      const res = await call(r, anne, 'POST', '/api/accounts/konto-noah/topups', body);
      t.is(res.status, 400);
      t.is(res.body.code, 'invalid_request');
    }
    const terms = await call(r, anne, 'POST', '/api/accounts/konto-noah/topups', {
      amount_ore: 10_000,
      terms_accepted: false,
    });
    t.is(terms.status, 400);
    t.is(terms.body.code, 'terms_not_accepted');
    t.is(await books(r.central), before, 'no intent, no entry');
    // The edges are allowed.
    t.truthy((await startTopup(r, anne, 'konto-noah', 2_000)).checkout_url);
    t.truthy((await startTopup(r, anne, 'konto-noah', 50_000)).checkout_url);
    const limits = await call(r, anne, 'GET', '/api/accounts/konto-noah/topups/limits');
    t.deepEqual(limits.body, { min_ore: 2_000, max_ore: 50_000, max_balance_ore: 80_000 });
  },
);

test.serial('the maximum balance counts the balance and the pending top-ups', async (t) => {
  t.timeout(120_000);
  const r = await topupRig(t, { payments: LIMITS });
  const { anne } = r.people;
  await r.central.money.deposit({ account_id: 'konto-noah', amount_ore: 40_000 });
  const first = await startTopup(r, anne, 'konto-noah', 30_000); // 400 + 300 pending = 700 kr
  const over = await call(r, anne, 'POST', '/api/accounts/konto-noah/topups', {
    amount_ore: 20_000,
    terms_accepted: true,
  });
  t.is(over.status, 409);
  t.is(over.body.code, 'topup_over_max_balance');
  t.truthy((await startTopup(r, anne, 'konto-noah', 10_000)).checkout_url, '800 kr exactly is allowed');
  // Paid, the pending top-up becomes balance: still the same room.
  await r.psp.pay(first.checkout_url);
  await until(async () => ((await balance(r.central, 'konto-noah')) === 70_000 ? true : undefined), 'credited');
  const still = await call(r, anne, 'POST', '/api/accounts/konto-noah/topups', {
    amount_ore: 2_000,
    terms_accepted: true,
  });
  t.is(still.body.code, 'topup_over_max_balance');
});

test.serial('a blocked account gets no top-up', async (t) => {
  t.timeout(120_000);
  const r = await topupRig(t);
  await r.central.cards.put({ uid: '04EE0000000001', kind: 'legacy' });
  await r.central.cards.activate('04EE0000000001', 'konto-noah');
  await r.central.cards.setBlocked('04EE0000000001', true);
  const before = await books(r.central);
  const res = await call(r, r.people.anne, 'POST', '/api/accounts/konto-noah/topups', {
    amount_ore: 10_000,
    terms_accepted: true,
  });
  t.is(res.status, 409);
  t.is(res.body.code, 'account_blocked');
  t.is(await books(r.central), before);
  await r.central.cards.setBlocked('04EE0000000001', false);
  t.truthy((await startTopup(r, r.people.anne, 'konto-noah', 10_000)).checkout_url, 'reopened: allowed again');
});

test.serial('who may: a guardian and a relation; a stranger gets 404, staff and tokens are refused', async (t) => {
  t.timeout(120_000);
  const r = await topupRig(t);
  const { anne, karen, peter, lone, mette } = r.people;
  const body = { amount_ore: 10_000, terms_accepted: true };
  t.is((await call(r, anne, 'POST', '/api/accounts/konto-emma/topups', body)).status, 201);
  const relation = await call(r, karen, 'POST', '/api/accounts/konto-emma/topups', body);
  t.is(relation.status, 201, relation.text);
  const before = await books(r.central);
  const stranger = await call(r, peter, 'POST', '/api/accounts/konto-emma/topups', body);
  t.is(stranger.status, 404);
  t.is(stranger.body.code, 'not_found');
  const strangerList = await call(r, peter, 'GET', '/api/accounts/konto-emma/payments');
  t.is(strangerList.status, 404);
  const strangerOne = await call(r, peter, 'GET', `/api/accounts/konto-emma/payments/${relation.body.intent_id}`);
  t.is(strangerOne.status, 404);
  // Peter's own account does not show Emma's payment either.
  const other = await call(r, peter, 'GET', `/api/accounts/konto-freja/payments/${relation.body.intent_id}`);
  t.is(other.status, 404);
  t.is((await call(r, lone, 'POST', '/api/accounts/konto-emma/topups', body)).status, 403, 'office staff');
  t.is((await call(r, mette, 'POST', '/api/accounts/konto-emma/topups', body)).status, 403, 'finance');
  t.is((await call(r, r.finance, 'POST', '/api/accounts/konto-emma/topups', body)).status, 403, 'a token');
  t.is((await call(r, null, 'POST', '/api/accounts/konto-emma/topups', body)).status, 401, 'nobody');
  t.is(await books(r.central), before);
  // The history: guardian, relation and finance see both payments; nothing about who paid.
  for (const who of [anne, karen, mette, r.finance]) {
    const list = await call(r, who, 'GET', '/api/accounts/konto-emma/payments');
    t.is(list.status, 200);
    t.is(list.body.payments.length, 2);
    t.false('person_id' in list.body.payments[0]);
  }
});

test.serial('without the payments section every payment route says payments_not_configured', async (t) => {
  t.timeout(120_000);
  const r = await topupRig(t, { payments: null });
  const res = await call(r, r.people.anne, 'POST', '/api/accounts/konto-noah/topups', {
    amount_ore: 10_000,
    terms_accepted: true,
  });
  t.is(res.status, 503);
  t.is(res.body.code, 'payments_not_configured');
  const hook = await fetch(`${r.base}/payments/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"id":"e","type":"payment.paid","payment_id":"p"}',
  });
  t.is(hook.status, 503);
  t.is((await call(r, r.people.anne, 'GET', '/api/accounts/konto-noah/payments')).body.code, 'payments_not_configured');
});

test.serial(
  'the provider times out or answers 5xx: the top-up is refused as unreachable and nothing is credited',
  async (t) => {
    t.timeout(120_000);
    const r = await topupRig(t);
    const { anne } = r.people;
    for (const mode of ['timeout', '5xx']) {
      await r.psp.admin('POST', '/admin/faults', { api: { mode, count: 1, hang_ms: 5_000 } });
      const res = await call(r, anne, 'POST', '/api/accounts/konto-noah/topups', {
        amount_ore: 10_000,
        terms_accepted: true,
      });
      t.is(res.status, 503, `${mode}: ${res.text}`);
      t.is(res.body.code, 'payment_provider_unreachable');
      t.truthy(res.headers.get('retry-after'));
    }
    const intents = await r.central.db.query<{ state: string; failure: string }>(
      'SELECT state, failure FROM payment_intents ORDER BY created_at',
    );
    t.deepEqual(
      intents.map((i) => [i.state, i.failure]),
      [
        ['failed', 'payment_provider_unreachable'],
        ['failed', 'payment_provider_unreachable'],
      ],
      'each intent was written before the provider was asked, and failed',
    );
    t.is(await balance(r.central, 'konto-noah'), 0);
    // The provider answers again: a new top-up works.
    const ok = await startTopup(r, anne, 'konto-noah', 10_000);
    await r.psp.pay(ok.checkout_url);
    await until(async () => ((await balance(r.central, 'konto-noah')) === 10_000 ? true : undefined), 'credited');
  },
);

test.serial(
  "central's payments section: without a public address, or with limits out of order, central does not start",
  (t) => {
    const fake = {
      provider: 'fake',
      api_url: 'http://127.0.0.1:8097',
      api_key: 'k'.repeat(16),
      webhook_secret: 's'.repeat(16),
      terms_url: 'https://kommune.dk/betingelser',
    };
    const noUrl = t.throws(() => parseCentralConfig({ payments: fake })) as KantineError;
    t.is(noUrl.code, 'config_invalid');
    t.regex(noUrl.details.join(), /\/payments\/public_url/);
    const order = t.throws(() =>
      parseCentralConfig({
        payments: { ...fake, public_url: 'http://127.0.0.1:8090', topup: { min_kr: 500, max_kr: 100 } },
      }),
    ) as KantineError;
    t.is(order.code, 'config_invalid');
    t.regex(order.details.join(), /\/payments\/topup/);
    const fraction = t.throws(() =>
      parseCentralConfig({ payments: { ...fake, public_url: 'http://127.0.0.1:8090', topup: { min_kr: 20.5 } } }),
    ) as KantineError;
    t.is(fraction.code, 'config_invalid');
    const noTerms = t.throws(() =>
      parseCentralConfig({ payments: { ...fake, terms_url: undefined, public_url: 'http://127.0.0.1:8090' } }),
    ) as KantineError;
    t.is(noTerms.code, 'config_invalid');
    const ok = parseCentralConfig({ payments: { ...fake, public_url: 'http://127.0.0.1:8090' } });
    t.like(ok.payments, { topup: { min_kr: 20, max_kr: 1000, max_balance_kr: 3000 }, check_after_s: 60 });
  },
);
