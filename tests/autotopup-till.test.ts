/**
 * Automatic top-up end to end (issue 19 rule 6): a real gateway and reader, central, the fake
 * payment provider and the mail catcher as processes. A sale that leaves Freja under 50 kr makes
 * central charge Peter's agreement off-session; the deposit reaches the till's ledger as any
 * deposit, and the site's request is marked. Declines are mailed with their reason and suspend
 * the agreement after N; a lost answer from the provider is asked again with the same key and
 * charges once.
 */

import test, { type ExecutionContext } from 'ava';
import { DateTime } from 'luxon';
import {
  ACCOUNT,
  autotopupRig,
  CARD,
  GUARDIAN_EMAIL,
  linkedGateway,
  makeAgreement,
  type Rig,
} from './helpers/autotopup.ts';
import { until } from './helpers/mail.ts';
import type { TestSite } from './helpers/site.ts';
import { eventually } from './helpers/wait.ts';

async function withAgreement(t: ExecutionContext, rig: Rig, amount_ore = 20_000) {
  const made = await makeAgreement(rig, amount_ore);
  t.like(made, { state: 'active', amount_ore, failures: 0, threshold_ore: 5_000, card_expiry: '2030-12' });
  return { id: made.provider_agreement_id };
}

/** Sells two yoghurts (12 kr) to Freja at till 1 and returns the sale's entry id. */
async function sellYoghurts(site: TestSite, reader: Awaited<ReturnType<TestSite['reader']>>, quantity = 2) {
  site.ledger.baskets.setBasket('till-1', [{ product_id: 'yoghurt', quantity }]);
  const result = await reader.tap(CARD);
  if (result.kind !== 'decision' || result.decision.outcome !== 'approved')
    throw new Error(`not approved: ${JSON.stringify(result)}`);
  return result.decision;
}

const requestOf = (site: TestSite, entryId: string) =>
  site.ledger.db
    .prepare<[string], { state: string; reason: string | null; deposit_entry_id: string | null }>(
      'SELECT state, reason, deposit_entry_id FROM topup_requests WHERE entry_id = ?',
    )
    .get(entryId);

const paidEvents = async (rig: Rig): Promise<number> => {
  const res = await fetch(`${rig.provider.url}/admin/webhooks`, {
    headers: { authorization: 'Bearer autotopup-api-key-0123456789' },
  });
  const body = (await res.json()) as { events: { type: string }[] };
  return body.events.filter((e) => e.type === 'payment.paid').length;
};

test.serial(
  "Freja's sale under 50 kr: central charges the agreement once, the deposit reaches the till and the guardian gets a receipt",
  async (t) => {
    t.timeout(240_000);
    const rig = await autotopupRig(t);
    await withAgreement(t, rig);
    const site = await linkedGateway(t, rig);
    await eventually(
      () => (site.ledger.accounts.getAccount(ACCOUNT)?.auto_topup_ore === 20_000 ? true : undefined),
      10_000,
      'the agreement’s amount at the site',
    );
    await eventually(
      () => (site.ledger.accounts.getAccount(ACCOUNT)?.balance_ore === 6_000 ? true : undefined),
      10_000,
      'the 60 kr at the site',
    );
    const reader = await site.reader('laeser-1');
    const paidBefore = await paidEvents(rig);

    const sale = await sellYoghurts(site, reader); // 60 → 48 kr
    t.is(sale.balance_ore, 4_800);
    const req = await eventually(
      () =>
        requestOf(site, sale.entry_id as string)?.state === 'deposited'
          ? requestOf(site, sale.entry_id as string)
          : undefined,
      20_000,
      'the request marked deposited at the site',
    );
    t.is(site.ledger.accounts.getAccount(ACCOUNT)?.balance_ore, 4_800 + 20_000, 'the deposit is in the till’s ledger');
    const deposit = site.ledger.db
      .prepare<[string], { kind: string; amount_ore: number; origin: string }>(
        'SELECT kind, amount_ore, origin FROM entries WHERE id = ?',
      )
      .get(req?.deposit_entry_id as string);
    t.like(deposit, { kind: 'deposit', amount_ore: 20_000, origin: 'central' }, 'central’s entry, not the site’s own');

    const central = rig.central.service.central;
    const [charge, ...more] = await central.autotopup.charges(ACCOUNT);
    t.deepEqual(more, []);
    t.like(charge, { state: 'deposited', amount_ore: 20_000, trigger_entry_id: sale.entry_id, site_id: 'atskolen' });
    t.truthy(charge?.payment_id);
    t.is(await paidEvents(rig), paidBefore + 1, 'the provider charged once');
    const status = await central.autotopup.psp?.getPayment(charge?.payment_id as string);
    t.like(status, { state: 'paid', amount_ore: 20_000 });
    t.is(Number((await central.accounts.get(ACCOUNT))?.balance_ore), 24_800);
    t.deepEqual(await central.money.verify(), []);
    // Finance's reconciliation of the day holds the charge beside its deposit, and the provider agrees.
    const today = DateTime.now().setZone('Europe/Copenhagen').toISODate() as string;
    const reconciled = await central.reconciliation?.check(today);
    t.like(
      reconciled?.payments.find((p) => p.intent_id === charge?.id),
      { purpose: 'autotopup', state: 'paid', amount_ore: 20_000, entry_amount_ore: 20_000, provider_state: 'paid' },
    );
    t.deepEqual(reconciled?.differences, []);

    // The till sells against it at once; a sale that stays over 50 kr asks for nothing.
    const next = await sellYoghurts(site, reader, 1);
    t.is(next.balance_ore, 24_200);
    t.is(requestOf(site, next.entry_id as string), undefined);

    await until(async () => (await rig.catcher.mails()).length >= 1, 'the receipt');
    const receipt = await rig.catcher.mail(0);
    t.is(receipt.envelope.to[0], GUARDIAN_EMAIL);
    t.regex(receipt.subject, /Kvittering for indbetaling/);
    t.regex(receipt.text, /automatiske optankning/);
  },
);

test.serial(
  'each declined reason is mailed to the guardian with its words, and the third failure in a row suspends the agreement',
  async (t) => {
    t.timeout(240_000);
    const rig = await autotopupRig(t, { deposit_ore: 20_000, autotopup: { max_charges_per_day: 10 } });
    const agreement = await withAgreement(t, rig);
    const site = await linkedGateway(t, rig);
    await eventually(
      () => (site.ledger.accounts.getAccount(ACCOUNT)?.balance_ore === 20_000 ? true : undefined),
      10_000,
      'the money at the site',
    );
    const reader = await site.reader('laeser-1');
    const central = rig.central.service.central;
    const reasons = [
      ['payment_card_expired', /Betalingskortet er udløbet/],
      ['payment_insufficient_funds', /ikke dækning/],
      ['payment_card_blocked', /Betalingskortet er spærret/],
    ] as const;
    let quantity = 26; // 200 kr − 156 kr = 44 kr: under 50 kr from the first sale
    for (const [i, [reason, words]] of reasons.entries()) {
      t.is(await rig.provider.admin(`/admin/agreements/${agreement.id}`, { fail_with: reason }), 204);
      const sale = await sellYoghurts(site, reader, quantity);
      quantity = 1;
      const req = await eventually(
        () =>
          requestOf(site, sale.entry_id as string)?.state === 'failed'
            ? requestOf(site, sale.entry_id as string)
            : undefined,
        20_000,
        `the ${reason} answer at the site`,
      );
      t.is(req?.reason, reason, 'the site hears why');
      const [charge] = await central.autotopup.charges(ACCOUNT);
      t.like(charge, { state: 'failed', reason, trigger_entry_id: sale.entry_id });
      await until(async () => (await rig.catcher.mails()).length >= i + 1, `the ${reason} mail`);
      const mail = await rig.catcher.mail(i);
      t.is(mail.envelope.to[0], GUARDIAN_EMAIL);
      t.regex(mail.subject, /Automatisk optankning mislykkedes/);
      t.regex(mail.text, words);
      const last = i === reasons.length - 1;
      t.is(/sat i bero/.test(mail.text), last, 'the last mail says the agreement is suspended');
      const now = await central.autotopup.agreement(ACCOUNT);
      t.like(now, { state: last ? 'suspended' : 'active', failures: i + 1 });
    }
    await eventually(
      () => (site.ledger.accounts.getAccount(ACCOUNT)?.auto_topup_ore === null ? true : undefined),
      10_000,
      'the site no longer asks for a suspended agreement',
    );
    const quiet = await sellYoghurts(site, reader, 1);
    t.is(requestOf(site, quiet.entry_id as string), undefined, 'no request without an agreement');
    // 200 kr less 26 + 1 + 1 + 1 yoghurts: nothing was deposited.
    await until(
      async () => Number((await central.accounts.get(ACCOUNT))?.balance_ore) === 20_000 - 29 * 600,
      'the sales at central, and no deposit',
    );
    t.deepEqual(
      (await central.money.entries(ACCOUNT)).filter((e) => e.kind === 'deposit').length,
      1,
      'only the first 200 kr',
    );
    t.deepEqual(await central.money.verify(), []);
  },
);

test.serial('a charge whose answer the provider lost is asked again with the same key and charges once', async (t) => {
  t.timeout(240_000);
  const rig = await autotopupRig(t, { timeout_ms: 1_000 });
  await withAgreement(t, rig);
  const site = await linkedGateway(t, rig);
  await eventually(
    () => (site.ledger.accounts.getAccount(ACCOUNT)?.balance_ore === 6_000 ? true : undefined),
    10_000,
    'the money at the site',
  );
  const reader = await site.reader('laeser-1');
  const paidBefore = await paidEvents(rig);
  // The provider takes the charge and drops the connection before it answers: outcome unknown.
  t.is(await rig.provider.admin('/admin/faults', { api: { mode: 'drop_answer', count: 1 } }), 204);
  const sale = await sellYoghurts(site, reader);
  await eventually(
    () => (requestOf(site, sale.entry_id as string)?.state === 'deposited' ? true : undefined),
    20_000,
    'the request deposited after the retry',
  );
  const central = rig.central.service.central;
  const [charge, ...more] = await central.autotopup.charges(ACCOUNT);
  t.deepEqual(more, []);
  t.like(charge, { state: 'deposited', amount_ore: 20_000 });
  t.true((charge?.attempts ?? 0) >= 2, 'asked twice');
  t.is(await paidEvents(rig), paidBefore + 1, 'the provider charged once');
  t.is(Number((await central.accounts.get(ACCOUNT))?.balance_ore), 4_800 + 20_000, 'deposited once');
  t.is(site.ledger.accounts.getAccount(ACCOUNT)?.balance_ore, 4_800 + 20_000);
});
