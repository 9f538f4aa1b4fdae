/**
 * A guardian sees the ids of the account's payments (`GET /api/accounts/:account/payments`, and the
 * address the provider sends the browser back to). A paid top-up's deposit takes its intent's id;
 * a withdrawal (and a replacement card's fee) takes an id the client may choose. Booking a 1 kr
 * withdrawal under a pending top-up's id would leave that top-up paid at the provider and never
 * credited (its deposit's id taken). Central refuses such an id: `entry_id_reused`, nothing booked.
 * Real central, the fake provider as a process, the dev identity provider.
 */
import { type Central, seedDemoPeople } from '@kantine/central';
import { DEMO_CHILDREN, DEMO_PEOPLE } from '@kantine/idp';
import test from 'ava';
import { startPsp } from '../helpers/psp.ts';
import { signIn, startCentralWithIdp } from '../helpers/sign-in.ts';
import { balance, call } from '../helpers/topup.ts';
import { until } from '../helpers/wait.ts';

const PAYOUTS = { debtor: { name: 'Testkommune', reg_nr: '1551', account_nr: '3000123456' } };

test.serial('a withdrawal under a pending top-up’s id is refused, and the top-up is credited when paid', async (t) => {
  t.timeout(120_000);
  const psp = await startPsp(t);
  const c = await startCentralWithIdp(t, { config: { payments: psp.config(), payouts: PAYOUTS } });
  const central = c.services[0]?.central as Central;
  const base = c.http[0] as string;
  await psp.admin('POST', '/admin/config', { webhook_url: `${base}/payments/webhook` });
  await central.sites.put({ id: 'soendervang', name: 'Søndervang Skole', place_kinds: ['school'] });
  await central.accounts.put({ id: 'konto-emma', first_name: 'Emma', sites: ['soendervang'] });
  await central.accounts.put({ id: 'konto-noah', first_name: 'Noah', sites: [] });
  await central.accounts.put({ id: 'konto-freja', first_name: 'Freja', sites: [] });
  await seedDemoPeople(central, { people: DEMO_PEOPLE, children: DEMO_CHILDREN, office_site: 'soendervang' });
  const anne = await signIn(base, c.idp, 'anne');
  const r = { base };
  await central.money.deposit({ account_id: 'konto-noah', amount_ore: 10_000 });

  const started = await call(r, anne, 'POST', '/api/accounts/konto-noah/topups', {
    amount_ore: 20_000,
    terms_accepted: true,
  });
  t.is(started.status, 201);
  const intent = started.body.intent_id as string;

  const payout = await call(r, anne, 'POST', '/api/accounts/konto-noah/payouts', {
    id: intent,
    amount_ore: 100,
    to: { kind: 'bank', reg_nr: '9570', account_nr: '7310442' },
  });
  t.is(payout.status, 409, payout.text);
  t.is(payout.body?.code, 'entry_id_reused');
  t.is(await balance(central, 'konto-noah'), 10_000, 'nothing withdrawn');
  // Nor does finance's manual deposit take it (the payment would count as deposited already).
  const manual = await central.money.deposit({ id: intent, account_id: 'konto-noah', amount_ore: 20_000 }).then(
    () => undefined,
    (err: { code?: string }) => err.code,
  );
  t.is(manual, 'entry_id_reused');
  t.is(await balance(central, 'konto-noah'), 10_000, 'nothing deposited');

  // The top-up is paid at the provider: credited under its own id, as ever.
  t.is((await psp.pay(started.body.checkout_url)).status, 303);
  await until(async () => ((await balance(central, 'konto-noah')) === 30_000 ? true : undefined), 'credited', 30_000);
  const [entry] = await central.db.query<{ kind: string; amount_ore: string }>(
    'SELECT kind, amount_ore FROM entries WHERE id = $1',
    [intent],
  );
  t.like(entry, { kind: 'deposit' });
  t.is(Number(entry?.amount_ore), 20_000);
  t.deepEqual(await central.money.verify(), []);
});
