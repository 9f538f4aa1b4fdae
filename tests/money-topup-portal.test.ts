/**
 * "Indbetal" and "Betalinger" in real Chromium (issue 19's done-when): Anne tops up Noah's account
 * with 100 kr on the portal, pays on the fake provider's hosted page (its own process), comes back
 * to a page that shows central's state of the payment, and a real gateway's till sells against the
 * money seconds later. Refusals (not whole kroner, terms not ticked) are shown on the form; a
 * declined card leaves the payment "Ikke gennemført" and the balance as it was. Screenshots at phone
 * and desktop width in artifacts/portal/.
 */

import type { ExecutionContext } from 'ava';
import type { Page } from 'playwright-core';
import { checkPage, families, openContext, portalTests, SITE, signInFromLanding, text } from './helpers/portal.ts';
import { APPROVED_CARD, DECLINED_CARD, startPsp } from './helpers/psp.ts';
import { startSite } from './helpers/site.ts';
import { eventually, until } from './helpers/wait.ts';

const { test, browser } = portalTests();

const NOAH_CARD = '04000000004E02';

/** The families' central with the fake provider (its own process) sending it webhooks; Noah's card active if given. */
async function familiesPaying(t: ExecutionContext, noahCard?: string) {
  const psp = await startPsp(t);
  const central = await families(t, { payments: psp.config() });
  await psp.admin('POST', '/admin/config', { webhook_url: `${central.http}/payments/webhook` });
  if (noahCard) {
    const card = { kind: 'legacy', card_number: '5678-7K3M-Q9XB' };
    t.is((await central.api('PUT', `/api/cards/${noahCard}`, card)).status, 204);
    t.is((await central.api('POST', `/api/cards/${noahCard}/activate`, { account_id: 'konto-noah' })).status, 204);
  }
  return { psp, central };
}

/** Pays on the provider's hosted page with `card`. */
async function payOnProviderPage(page: Page, card: string): Promise<void> {
  await page.locator('input[name="card_number"]').fill(card);
  await page.locator('input[name="expiry"]').fill('12/39');
  await page.locator('input[name="cvc"]').fill('123');
  await page.locator('form button[type="submit"]').first().click();
}

test("Anne tops up 100 kr through the provider's page, and the till sells against it seconds later", async (t) => {
  t.timeout(180_000);
  const { psp, central } = await familiesPaying(t, NOAH_CARD);
  const site = await startSite(t, { site: SITE, linked: true, config: { central: central.site_link } });
  await eventually(
    () => (site.ledger.accounts.getCard(NOAH_CARD)?.state === 'active' ? true : undefined),
    10_000,
    "Noah's card at the school",
  );
  const reader = await site.reader('laeser-topup');
  const tap = async () => {
    site.ledger.baskets.setBasket('till-1', [{ product_id: 'yoghurt', quantity: 1 }]);
    const r = await reader.tap(NOAH_CARD);
    return r.kind === 'decision' ? r.decision : undefined;
  };
  t.is((await tap())?.code, 'insufficient_funds', 'nothing on the account yet');

  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne', '/?return=%2Findbetal');
  // Anne has two children: the menu entry asks which one.
  await page.getByRole('link', { name: /Noah/ }).click();
  await page.waitForURL(`${central.http}/konti/konto-noah/indbetal`);
  await checkPage(t, page, 'topup-form');

  // Refusals on the form: not whole kroner, then the terms not ticked.
  await page.locator('#amount').fill('99,50');
  await page.locator('#terms').check();
  await page.getByTestId('pay').click();
  t.regex(await text(page.getByTestId('error-summary')), /helt antal kroner/);
  await checkPage(t, page, 'topup-form-error');
  await page.locator('#amount').fill('100');
  await page.locator('#terms').uncheck();
  await page.getByTestId('pay').click();
  t.regex(await text(page.getByTestId('error-summary')), /betingelserne/);
  t.is(await page.locator('#amount').inputValue(), '100', 'what she typed is kept');

  // Pays 100 kr on the provider's page.
  await page.locator('#terms').check();
  await page.getByTestId('pay').click();
  await page.waitForURL((u) => u.origin === psp.url);
  await payOnProviderPage(page, APPROVED_CARD);
  await page.waitForURL((u) => u.origin === central.http && u.pathname.startsWith('/konti/konto-noah/indbetal/'));
  const state = page.getByTestId('payment-state');
  t.is(await state.getAttribute('data-state'), 'paid', 'central asked the provider, not the address');
  t.regex(await text(state), /Betalt/);
  t.regex(await text(page.getByTestId('payment-amount')), /100,00 kr/);
  await checkPage(t, page, 'topup-paid');

  // Seconds later the till sells against it.
  const sold = await until(
    async () => {
      const d = await tap();
      return d?.outcome === 'approved' ? d : undefined;
    },
    'the till sells against the top-up',
    20_000,
  );
  t.is(sold.outcome, 'approved');

  // The history shows the payment as paid.
  await page.goto(`${central.http}/konti/konto-noah/betalinger`);
  const rows = page.locator('[data-testid="payments"] tbody tr');
  t.is(await rows.count(), 1);
  t.is(await rows.first().getAttribute('data-state'), 'paid');
  await checkPage(t, page, 'payments-history');
});

test('a declined card: the payment is not completed, nothing is credited; pending shows "Afventer betaling"', async (t) => {
  t.timeout(180_000);
  const { psp, central } = await familiesPaying(t);
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'peter', '/?return=%2Fkonti%2Fkonto-freja%2Findbetal');
  await page.locator('#amount').fill('50');
  await page.locator('#terms').check();
  await page.getByTestId('pay').click();
  await page.waitForURL((u) => u.origin === psp.url);
  const checkout = page.url();
  // Back at central without paying (the address typed by hand): still awaiting payment.
  const pending = await central.service.central.db.query<{ id: string }>(
    `SELECT id FROM payment_intents WHERE account_id = 'konto-freja'`,
  );
  await page.goto(`${central.http}/konti/konto-freja/indbetal/${pending[0]?.id}?payment_id=x&state=paid`);
  t.is(await page.getByTestId('payment-state').getAttribute('data-state'), 'pending');
  t.regex(await text(page.getByTestId('payment-state')), /Afventer betaling/);
  await checkPage(t, page, 'topup-pending');
  // Now the card is declined at the provider.
  await page.goto(checkout);
  await payOnProviderPage(page, DECLINED_CARD);
  await page.goto(`${central.http}/konti/konto-freja/indbetal/${pending[0]?.id}`);
  t.is(await page.getByTestId('payment-state').getAttribute('data-state'), 'failed');
  t.regex(await text(page.getByTestId('payment-state')), /Ikke gennemført/);
  await checkPage(t, page, 'topup-failed');
  t.is(Number((await central.service.central.accounts.get('konto-freja'))?.balance_ore), 0);
  // Another family's payment page is "not found" for Peter.
  await page.goto(`${central.http}/konti/konto-noah/indbetal`);
  t.regex(await text(page.locator('h1')), /findes ikke|ikke fundet|Siden findes ikke/i);
});

test('a card blocked while the provider’s page is open: the payment goes back, and the pages say so', async (t) => {
  t.timeout(180_000);
  const { psp, central } = await familiesPaying(t, NOAH_CARD);
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne', '/?return=%2Fkonti%2Fkonto-noah%2Findbetal');
  await page.locator('#amount').fill('100');
  await page.locator('#terms').check();
  await page.getByTestId('pay').click();
  await page.waitForURL((u) => u.origin === psp.url);
  // Noah's card is lost and blocked at central while Anne is on the provider's page.
  t.is((await central.api('POST', `/api/cards/${NOAH_CARD}/block`)).status, 204);
  await payOnProviderPage(page, APPROVED_CARD);
  await page.waitForURL((u) => u.origin === central.http && u.pathname.startsWith('/konti/konto-noah/indbetal/'));
  const state = page.getByTestId('payment-state');
  t.is(await state.getAttribute('data-state'), 'failed');
  t.regex(await text(state), /Kantinekortet var spærret, da betalingen blev bekræftet/);
  t.regex(await text(state), /føres tilbage til dit betalingskort/);
  t.regex(await text(page.getByTestId('balance')), /0,00 kr/);
  await checkPage(t, page, 'topup-blocked-refunded');
  await page.goto(`${central.http}/konti/konto-noah/betalinger`);
  const row = page.locator('[data-testid="payments"] tbody tr').first();
  t.regex(await text(row), /Tilbage til betalingskortet/);
  await checkPage(t, page, 'payments-history-refunded');
});
