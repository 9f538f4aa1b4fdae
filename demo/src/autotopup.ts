import type { Central } from '@kantine/central';
import type { DemoPerson } from '@kantine/idp';

/**
 * Freja's automatic top-up (issue 19): Peter's agreement made as he would make it — central's
 * checkout that keeps the card, the fake provider's page paid with a test card and the consent
 * ticked, then the payment settled from the provider's own answer. A purchase that leaves Freja
 * under 50 kr then makes central charge it and the deposit reaches the till.
 */
export async function seedDemoAgreement(
  central: Central,
  guardian: DemoPerson,
  issuer: string,
  account_id: string,
  amount_ore: number,
): Promise<void> {
  // Peter as his first sign-in through the demo's identity provider makes him (the same person later).
  const { person_id } = await central.people.signIn({
    issuer,
    sub: guardian.sub,
    uuid: guardian.uuid,
    name: guardian.name,
    email: guardian.email,
    cpr: guardian.cpr,
  });
  const started = await central.autotopup.startCheckout({ account_id, person_id, amount_ore });
  const page = await (await fetch(started.checkout_url)).text();
  const action = /<form method="post" action="([^"]+)">/.exec(page)?.[1];
  if (!action) throw new Error('the fake provider showed no card form');
  const res = await fetch(new URL(action, started.checkout_url), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ card_number: '4571000000000001', expiry: '12/30', cvc: '123', save_card: 'yes' }),
    redirect: 'manual',
  });
  await res.arrayBuffer();
  const intent = await central.payments?.get(started.intent_id);
  if (intent?.provider_payment_id) await central.payments?.settle(intent.provider_payment_id);
  if (!(await central.autotopup.agreement(account_id))) throw new Error('the demo agreement was not made');
}
