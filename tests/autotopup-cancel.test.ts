/**
 * A guardian cancels an automatic top-up agreement while a checkout for it (a new card) is still
 * open (issue 19 rule 6): the open checkout is voided at the provider, and one that completes all
 * the same (the void not answered) does not make the agreement again — its card is revoked at the
 * provider. A checkout started after the cancel makes a new agreement as usual. The fake provider
 * runs as its own process.
 */
import test from 'ava';
import { ACCOUNT, API_KEY, autotopupRig, makeAgreement, payWithConsent, type Rig } from './helpers/autotopup.ts';

/** The provider's own answer about a payment (its API). */
async function providerPayment(rig: Rig, payment: string): Promise<{ state: string; agreement?: { id: string } }> {
  const res = await fetch(`${rig.provider.url}/v1/payments/${payment}`, {
    headers: { authorization: `Bearer ${API_KEY}` },
  });
  return (await res.json()) as { state: string; agreement?: { id: string } };
}

/** Charges a stored card at the provider directly: whether it is still usable. */
async function chargeStatus(rig: Rig, agreement: string, key: string): Promise<{ status: number; code: unknown }> {
  const res = await fetch(`${rig.provider.url}/v1/agreements/${agreement}/charges`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ amount_ore: 100 }),
  });
  const body = (await res.json()) as { error?: { code?: string } };
  return { status: res.status, code: body.error?.code };
}

test.serial('cancelling the agreement voids its open checkout at the provider', async (t) => {
  t.timeout(120_000);
  const rig = await autotopupRig(t);
  const central = rig.central.service.central;
  await makeAgreement(rig);
  const change = await central.autotopup.startCheckout({ account_id: ACCOUNT, person_id: rig.guardian });
  const payment = (await central.payments?.get(change.intent_id))?.provider_payment_id as string;
  await central.autotopup.cancel(ACCOUNT);
  t.is((await providerPayment(rig, payment)).state, 'cancelled');
  t.is((await central.payments?.get(change.intent_id))?.state, 'cancelled');
  const page = await fetch(change.checkout_url);
  await page.arrayBuffer();
  t.is(page.status, 409, 'the page can no longer be paid');
  t.is(await central.autotopup.agreement(ACCOUNT), undefined);
});

test.serial(
  'a checkout completed after the agreement was cancelled does not make it again; its card is revoked',
  async (t) => {
    t.timeout(120_000);
    const rig = await autotopupRig(t);
    const central = rig.central.service.central;
    const first = await makeAgreement(rig);
    const change = await central.autotopup.startCheckout({ account_id: ACCOUNT, person_id: rig.guardian });
    const payment = (await central.payments?.get(change.intent_id))?.provider_payment_id as string;
    // The void does not reach the provider: the guardian's page stays open.
    t.is(await rig.provider.admin('/admin/faults', { api: { mode: '5xx', count: 1, match: '/cancel' } }), 204);
    const cancelled = await central.autotopup.cancel(ACCOUNT);
    t.is(cancelled.state, 'cancelled');
    await payWithConsent(change.checkout_url, '4571000000000001', '11/31');
    const late = await providerPayment(rig, payment);
    t.is(late.state, 'paid');
    const lateCard = late.agreement?.id as string;
    t.truthy(lateCard);

    await central.payments?.settle(payment);
    t.is(await central.autotopup.agreement(ACCOUNT), undefined, 'the agreement stays cancelled');
    const rows = await central.db.query<{ state: string; provider_agreement_id: string }>(
      'SELECT state, provider_agreement_id FROM autotopup_agreements WHERE account_id = $1',
      [ACCOUNT],
    );
    t.deepEqual(rows, [{ state: 'cancelled', provider_agreement_id: first.provider_agreement_id }]);
    t.is((await central.payments?.get(change.intent_id))?.failure, 'agreement_cancelled');
    t.is(Number((await central.accounts.get(ACCOUNT))?.auto_topup_ore ?? 0), 0, 'the sites charge nothing');
    // Both cards are revoked at the provider: charging them is refused.
    await central.autotopup.revokeDue();
    t.like(await chargeStatus(rig, lateCard, 'probe-late'), { status: 402, code: 'payment_card_blocked' });
    t.like(await chargeStatus(rig, first.provider_agreement_id, 'probe-first'), {
      status: 402,
      code: 'payment_card_blocked',
    });
    // Settled again (a webhook sent twice): still nothing.
    await central.payments?.settle(payment);
    t.is(await central.autotopup.agreement(ACCOUNT), undefined);

    // A checkout the guardian starts after the cancel makes a new agreement as usual.
    const again = await makeAgreement(rig, 15_000);
    t.like(again, { state: 'active', amount_ore: 15_000 });
  },
);
