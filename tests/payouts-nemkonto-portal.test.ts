/**
 * The portal's "Udbetaling" with NemKonto (issue 19, item 7) in Chromium, at a central with sign-in
 * through the dev provider: where the municipality runs NemKonto payouts the guardian chooses "Til
 * min NemKonto" (no number to type), the answer and the list say "din NemKonto", and no page shows a
 * CPR number; a guardian whose CPR number cannot be read is told so on the field, with nothing
 * changed. Where the setting is off the choice is not offered, and a forged form is refused.
 * Every page: axe, desktop and phone width (390 px), screenshots in artifacts/portal/.
 */
import { CPR_ANYWHERE } from './helpers/people.ts';
import { checkPage, families, menuLink, openContext, portalTests, signInFromLanding, text } from './helpers/portal.ts';

const { test, browser } = portalTests();

const PAYOUTS = { debtor: { name: 'Testkommune', reg_nr: '1551', account_nr: '3000123456' } };

test('a guardian withdraws to her own NemKonto without typing a number; without a readable CPR number she is told so', async (t) => {
  t.timeout(300_000); // a central, a provider, Chromium (and a gateway) on a busy machine
  const central = await families(t, { payouts: { ...PAYOUTS, nemkonto: true } });
  const c = central.service.central;
  t.is((await central.api('PATCH', '/api/accounts/konto-noah', { place_kinds: [] })).status, 204);
  const finance = await central.tokenFor('finance');
  t.is((await central.api('POST', '/api/accounts/konto-noah/deposits', { amount_ore: 10_000 }, finance)).status, 201);
  const balance = async () => Number((await c.accounts.get('konto-noah'))?.balance_ore);

  const { page } = await openContext(t, browser());
  const noCpr = async (what: string) => t.notRegex(await page.content(), CPR_ANYWHERE, `${what}: no CPR number`);
  await signInFromLanding(page, central, 'anne');
  await (await menuLink(page, 'Udbetaling')).click();
  await page.getByTestId('choose-account').getByRole('link', { name: 'Noah Hansen' }).click();
  await page.waitForURL(`${central.http}/konti/konto-noah/udbetaling`);
  t.true(await page.locator('#to_bank').isChecked(), 'a bank account is the default');
  t.is(await page.getByLabel('Til min NemKonto').count(), 1);
  t.regex(await text(page.locator('#to_nemkonto-hint')), /Du skal ikke skrive noget nummer/);
  await noCpr('the form');
  await checkPage(t, page, '55-udbetaling-nemkonto');

  await page.locator('#amount').fill('25');
  await page.getByLabel('Til min NemKonto').check();
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.getByTestId('withdraw').click(),
  ]);
  t.is(res.status(), 303);
  await page.waitForURL(`${central.http}/konti/konto-noah/udbetaling?besked=udbetalt`);
  t.regex(await text(page.getByTestId('message')), /sendes til din NemKonto\./);
  t.is(await text(page.getByTestId('balance')), '75,00 kr.');
  t.regex(await text(page.getByTestId('payouts').locator('[data-payout]')), /Til Din NemKonto Beløb 25,00 kr\./);
  const [payout] = await c.payouts.ofAccount('konto-noah');
  t.like(payout, { amount_ore: 2_500, to: 'NemKonto', state: 'open' });
  await noCpr('the answer');
  await checkPage(t, page, '56-udbetaling-nemkonto-modtaget');

  // English beside it.
  await page.getByRole('link', { name: 'English' }).click();
  await page.waitForURL(`${central.http}/konti/konto-noah/udbetaling?besked=udbetalt`);
  t.regex(await text(page.getByTestId('message')), /sent to your NemKonto\./);
  t.is(await page.getByLabel('To my NemKonto').count(), 1);
  t.regex(await text(page.getByTestId('payouts').locator('[data-payout]')), /To Your NemKonto/);
  await checkPage(t, page, '57-udbetaling-nemkonto-english');
  await page.getByRole('link', { name: 'Dansk' }).click();

  // Her CPR number cannot be read any more (no sealed copy MitID confirmed): refused on the field.
  await c.db.query(`UPDATE people SET cpr_enc = '\\x'::bytea WHERE name = 'Anne Hansen'`);
  await page.goto(`${central.http}/konti/konto-noah/udbetaling`);
  await page.locator('#amount').fill('10');
  await page.getByLabel('Til min NemKonto').check();
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.getByTestId('withdraw').click(),
  ]);
  await page.waitForLoadState();
  t.is(refused.status(), 400);
  t.regex(await text(page.getByTestId('to-error')), /^Vi har ikke dit CPR-nummer bekræftet af MitID/);
  t.true(await page.locator('#to_nemkonto').isChecked(), 'her choice stays');
  t.is(await page.locator('#amount').inputValue(), '10');
  t.is(await balance(), 7_500, 'nothing changed');
  t.is((await c.payouts.ofAccount('konto-noah')).length, 1);
  await noCpr('the refusal');
  await checkPage(t, page, '58-udbetaling-nemkonto-cpr-mangler');
});

test('where NemKonto payouts are off the portal does not offer them, and a forged form is refused with nothing changed', async (t) => {
  t.timeout(300_000);
  const central = await families(t, { payouts: PAYOUTS });
  const c = central.service.central;
  t.is((await central.api('PATCH', '/api/accounts/konto-noah', { place_kinds: [] })).status, 204);
  const finance = await central.tokenFor('finance');
  t.is((await central.api('POST', '/api/accounts/konto-noah/deposits', { amount_ore: 10_000 }, finance)).status, 201);

  const { page, context } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne', '/?return=%2Fkonti%2Fkonto-noah%2Fudbetaling');
  await page.waitForURL(`${central.http}/konti/konto-noah/udbetaling`);
  t.is(await page.locator('input[name="to"]').count(), 0, 'no choice: a bank account only');
  t.notRegex(await text(page.locator('main')), /NemKonto/);
  await checkPage(t, page, '59-udbetaling-uden-nemkonto');
  const csrf = await page.locator('form.logout input[name="_csrf"]').inputValue();
  const forged = await context.request.post(`${central.http}/konti/konto-noah/udbetaling`, {
    form: { _csrf: csrf, amount: '10', to: 'nemkonto' },
    maxRedirects: 0,
  });
  t.is(forged.status(), 400);
  t.regex(await forged.text(), /Udbetaling til NemKonto er ikke slået til/);
  t.is(Number((await c.accounts.get('konto-noah'))?.balance_ore), 10_000);
  t.deepEqual(await c.payouts.ofAccount('konto-noah'), []);
});
