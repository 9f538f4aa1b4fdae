/**
 * The portal's "Automatisk optankning" in Chromium (issue 19 rules 6, 9, 11): Peter makes an
 * agreement for Freja through the fake provider's hosted page (consent to keep the card), sees a
 * declined top-up with its reason, changes the card in one step (the old card revoked at the
 * provider once the new one is paid), sets the low-balance alert, and cancels. Karen, a relation,
 * cannot open it. Screenshots at phone and desktop size.
 */
import type { Page } from 'playwright-core';
import { checkPage, families, openContext, portalTests, SITE, signInFromLanding, text } from './helpers/portal.ts';
import { startPsp } from './helpers/psp.ts';
import { until } from './helpers/wait.ts';

const { test, browser } = portalTests();
const PAGE = '/konti/konto-freja/automatisk-optankning';

/** The provider's hosted page: a card, its expiry, the consent to keep it; back to central. */
async function payOnProviderPage(page: Page, expiry: string, back: string): Promise<void> {
  await page.locator('#card_number').fill('4571000000000001');
  await page.locator('#expiry').fill(expiry);
  await page.locator('#cvc').fill('123');
  await page.locator('input[name="save_card"]').check();
  await page.getByRole('button', { name: /Betal/ }).click();
  await page.waitForURL((u) => u.toString().startsWith(back) && u.pathname.endsWith('/automatisk-optankning'));
}

test('a guardian makes an agreement through the provider, sees a failure, changes the card, sets the alert and cancels', async (t) => {
  t.timeout(240_000);
  const psp = await startPsp(t);
  const central = await families(t, { payments: psp.config({ request_timeout_ms: 2_000 }) });
  t.is((await psp.admin('POST', '/admin/config', { webhook_url: `${central.http}/payments/webhook` })).status, 204);
  const c = central.service.central;
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'peter', `/?return=${encodeURIComponent(PAGE)}`);
  t.is(new URL(page.url()).pathname, PAGE);
  t.is(await page.getByTestId('agreement-state').getAttribute('data-state'), 'none');
  await checkPage(t, page, '70-automatisk-optankning-ingen');

  // No consent and no amount: errors beside their fields; nothing leaves for the provider.
  await page.locator('#amount').fill('5');
  await page.getByTestId('make').click();
  await page.getByTestId('error-summary').waitFor();
  t.is(await page.locator('#amount').getAttribute('aria-invalid'), 'true');
  t.is(await page.locator('#consent').getAttribute('aria-invalid'), 'true');
  t.deepEqual(await c.db.query("SELECT 1 FROM payment_intents WHERE purpose = 'agreement'"), []);
  await checkPage(t, page, '71-automatisk-optankning-fejl');

  await page.locator('#amount').fill('200');
  await page.locator('#consent').check();
  await page.getByTestId('make').click();
  await page.waitForURL((u) => u.toString().startsWith(psp.url));
  await payOnProviderPage(page, '12/30', central.http);
  t.regex(await text(page.getByTestId('message')), /Aftalen er oprettet/);
  t.is(await page.getByTestId('agreement-state').getAttribute('data-state'), 'active');
  t.is(await text(page.getByTestId('agreement-amount')), '200,00 kr.');
  t.is(await text(page.getByTestId('card-expiry')), '12/2030');
  const first = await c.autotopup.agreement('konto-freja');
  t.like(first, { state: 'active', amount_ore: 20_000 });
  t.is(Number((await c.accounts.get('konto-freja'))?.auto_topup_ore), 20_000, 'the sites learn the amount');

  // A top-up the card declines (the link's own path: a sale under 50 kr and the site's request).
  await psp.admin('POST', `/admin/agreements/${first?.provider_agreement_id}`, {
    fail_with: 'payment_insufficient_funds',
  });
  await central.api('POST', '/api/accounts/konto-freja/deposits', { amount_ore: 6_000 });
  await c.link.handleUp(SITE, {
    v: 1,
    t: 'changes',
    changes: [
      {
        seq: 1,
        kind: 'entry',
        entry: {
          id: 'salg-freja-1',
          account_id: 'konto-freja',
          kind: 'purchase',
          amount_ore: -1_200,
          place_kind: 'school',
          budgets: ['balance'],
          created_at: new Date().toISOString(),
        },
      },
      { seq: 2, kind: 'topup', request_id: 'anmodning-1', account_id: 'konto-freja', entry_id: 'salg-freja-1' },
    ],
  });
  const failed = await until(async () => {
    const [charge] = await c.autotopup.charges('konto-freja');
    return charge?.state === 'failed' ? charge : undefined;
  }, 'the declined charge');
  t.like(failed, { state: 'failed', reason: 'payment_insufficient_funds' });
  await page.goto(`${central.http}${PAGE}`);
  t.regex(await text(page.getByTestId('history')), /Der er ikke penge nok på betalingskortet/);
  await checkPage(t, page, '72-automatisk-optankning-aftale');

  // A new card in one step: the agreement stays, its card is replaced, the old one revoked.
  await page.getByTestId('change-card').click();
  await page.waitForURL((u) => u.toString().startsWith(psp.url));
  await payOnProviderPage(page, '11/31', central.http);
  t.is(await text(page.getByTestId('card-expiry')), '11/2031');
  const second = await c.autotopup.agreement('konto-freja');
  t.like(second, { id: first?.id, state: 'active', amount_ore: 20_000, failures: 0 });
  t.not(second?.provider_agreement_id, first?.provider_agreement_id);
  const revoked = await until(async () => {
    const [row] = await c.db.query<{ done_at: Date | null }>(
      'SELECT done_at FROM autotopup_revocations WHERE provider_agreement_id = $1',
      [first?.provider_agreement_id],
    );
    return row?.done_at ? row : undefined;
  }, 'the old card revoked');
  t.truthy(revoked?.done_at, 'the old card is revoked at the provider');

  // The low-balance alert: a wrong amount is an error beside its field; then saved.
  await page.locator('#alert').fill('mange');
  await page.getByTestId('save-alert').click();
  await page.getByTestId('error-summary').waitFor();
  t.is(await page.locator('#alert').getAttribute('aria-invalid'), 'true');
  await page.locator('#alert').fill('75');
  await page.getByTestId('save-alert').click();
  await page.waitForURL(`${central.http}${PAGE}?besked=alert`);
  t.regex(await text(page.getByTestId('message')), /Beskeden om lav saldo er gemt/);
  t.is(await page.locator('#alert').inputValue(), '75');

  await page.getByTestId('cancel').click();
  await page.waitForURL(`${central.http}${PAGE}?besked=cancelled`);
  t.is(await page.getByTestId('agreement-state').getAttribute('data-state'), 'none');
  t.is(await c.autotopup.agreement('konto-freja'), undefined);
  t.is((await c.accounts.get('konto-freja'))?.auto_topup_ore, null, 'the sites stop asking');
  await checkPage(t, page, '73-automatisk-optankning-opsagt');
});

test('a relation cannot open automatic top-up, and her forged form changes nothing', async (t) => {
  const psp = await startPsp(t);
  const central = await families(t, { payments: psp.config() });
  const { context, page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'karen');
  t.is((await page.goto(`${central.http}/konti/konto-emma/automatisk-optankning`))?.status(), 403);
  t.is(await page.getByTestId('refusal').getAttribute('data-code'), 'scope_denied');
  const csrf = await page.locator('form.logout input[name="_csrf"]').inputValue();
  const forged = await context.request.post(`${central.http}/konti/konto-emma/automatisk-optankning/aftale`, {
    form: { _csrf: csrf, amount: '200', consent: 'on' },
    maxRedirects: 0,
  });
  t.is(forged.status(), 403);
  t.deepEqual(await central.service.central.db.query('SELECT 1 FROM payment_intents'), []);
  // Another family's guardian: Peter on Emma's account is told nothing more than "not found".
  const { page: peter } = await openContext(t, browser());
  await signInFromLanding(peter, central, 'peter');
  const other = await peter.goto(`${central.http}/konti/konto-emma/automatisk-optankning`);
  t.is(other?.status(), 404);
});
