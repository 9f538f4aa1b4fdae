/**
 * An automatic top-up's charge is credited only for the amount central asked (issue 19 rule 6):
 * the adapter says what the provider took, and a charge of another amount is refunded at the
 * provider (once, by its key), answered to the site as `payment_amount_mismatch`, and holds in
 * reconciliation. A raw site (the link's own messages) asks after a purchase under the
 * threshold; the fake provider runs as its own process.
 */
import test from 'ava';
import { DateTime } from 'luxon';
import { ACCOUNT, API_KEY, autotopupRig, makeAgreement, type Rig, rawSite } from './helpers/autotopup.ts';

const SITE = 'atskolen';

async function providerPayment(rig: Rig, payment: string): Promise<{ amount_ore: number; refunded_ore: number }> {
  const res = await fetch(`${rig.provider.url}/v1/payments/${payment}`, {
    headers: { authorization: `Bearer ${API_KEY}` },
  });
  return (await res.json()) as { amount_ore: number; refunded_ore: number };
}

test.serial('a charge the provider took for another amount is refunded, not credited', async (t) => {
  t.timeout(180_000);
  const rig = await autotopupRig(t, { siteId: SITE });
  const central = rig.central.service.central;
  const agreement = await makeAgreement(rig); // 200 kr
  t.is(
    await rig.provider.admin(`/admin/agreements/${agreement.provider_agreement_id}`, { charge_amount_ore: 25_000 }),
    204,
  );
  const site = await rawSite(t, rig, SITE);
  const answer = await site.saleAndRequest('salg-1', 'anmodning-1', 1_200); // 60 → 48 kr
  t.like(answer, { outcome: 'failed', code: 'payment_amount_mismatch' });
  t.is(Number((await central.accounts.get(ACCOUNT))?.balance_ore), 4_800, 'nothing credited');
  const [charge] = await central.autotopup.charges(ACCOUNT);
  t.like(charge, { state: 'failed', reason: 'payment_amount_mismatch', amount_ore: 20_000, deposit_entry_id: null });
  t.like(await providerPayment(rig, charge?.payment_id as string), { amount_ore: 25_000, refunded_ore: 25_000 });
  t.is((await central.autotopup.agreement(ACCOUNT))?.failures, 0, 'not the card’s fault');

  const date = DateTime.now().setZone('Europe/Copenhagen').toISODate() as string;
  const check = await central.reconciliation?.check(date);
  t.deepEqual(check?.differences, []);
  t.like(
    check?.payments.find((p) => p.intent_id === charge?.id),
    { reason: 'payment_amount_mismatch', provider_state: 'refunded' },
  );

  // The provider takes the right amount again: the next request is credited as usual.
  await rig.provider.admin(`/admin/agreements/${agreement.provider_agreement_id}`, { charge_amount_ore: null });
  const next = await site.saleAndRequest('salg-2', 'anmodning-2', 100);
  t.like(next, { outcome: 'deposited' });
  t.is(Number((await central.accounts.get(ACCOUNT))?.balance_ore), 4_700 + 20_000);
  t.deepEqual(await central.money.verify(), []);
});
