/**
 * "Udbetaling" (issue 19 rules 7 and 11): a guardian withdraws from a child's account to their own
 * bank account through central's payouts; the earlier withdrawals are listed with their state.
 * Every refusal (a wrong amount, a wrong account number, more than the balance, money held by an
 * offline school, a relation, payouts not configured) is shown and changes nothing.
 */
import { checkPage, families, menuLink, openContext, portalTests, signInFromLanding, text } from './helpers/portal.ts';

const { test, browser } = portalTests();

const PAYOUTS = { debtor: { name: 'Testkommune', reg_nr: '1551', account_nr: '3000123456' } };

test('a guardian withdraws to her bank account; wrong input, too much and money held offline are refused with nothing changed', async (t) => {
  t.timeout(300_000); // a central, a provider, Chromium (and a gateway) on a busy machine
  const central = await families(t, { payouts: PAYOUTS });
  const c = central.service.central;
  // Noah's card may be used nowhere for now: his money stays at central, free to withdraw.
  t.is((await central.api('PATCH', '/api/accounts/konto-noah', { place_kinds: [] })).status, 204);
  const finance = await central.tokenFor('finance');
  t.is((await central.api('POST', '/api/accounts/konto-noah/deposits', { amount_ore: 10_000 }, finance)).status, 201);
  const balance = async () => Number((await c.accounts.get('konto-noah'))?.balance_ore);

  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne');
  await (await menuLink(page, 'Udbetaling')).click();
  await page.getByTestId('choose-account').getByRole('link', { name: 'Noah Hansen' }).click();
  await page.waitForURL(`${central.http}/konti/konto-noah/udbetaling`);
  t.is(await text(page.getByTestId('balance')), '100,00 kr.');
  t.is(await page.getByTestId('no-payouts').count(), 1);
  await checkPage(t, page, '50-udbetaling');

  const submit = async (amount: string, reg: string, account: string) => {
    await page.locator('#amount').fill(amount);
    await page.locator('#reg_nr').fill(reg);
    await page.locator('#account_nr').fill(account);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST'),
      page.getByTestId('withdraw').click(),
    ]);
    await page.waitForLoadState();
    return res.status();
  };
  t.is(await submit('tyve', '9570', '7310442'), 400);
  t.regex(await text(page.getByTestId('amount-error')), /Skriv et beløb i kroner/);
  t.is(await page.locator('#amount').getAttribute('aria-invalid'), 'true');
  t.is(await submit('0', '9570', '7310442'), 400);
  t.is(await submit('20', '95', '7310442'), 400);
  t.regex(await text(page.getByTestId('account-error')), /^Kontonummeret er ikke gyldigt/);
  t.is(await page.locator('#reg_nr').inputValue(), '95', 'what was typed stays');
  await checkPage(t, page, '51-udbetaling-fejl');
  t.is(await submit('20', '9570', '73104A2'), 400);
  t.is(await submit('100,01', '9570', '7310442'), 400);
  t.regex(await text(page.getByTestId('amount-error')), /^Saldoen er for lav/);
  t.is(await balance(), 10_000, 'nothing changed');
  t.deepEqual(await c.payouts.ofAccount('konto-noah'), []);

  t.is(await submit('37,50', '9570', '7310442'), 303);
  await page.waitForURL(`${central.http}/konti/konto-noah/udbetaling?besked=udbetalt`);
  t.regex(await text(page.getByTestId('message')), /sendes til 9570 \*\*\*\*\*\*0442\./);
  t.is(await text(page.getByTestId('balance')), '62,50 kr.');
  const rows = page.getByTestId('payouts').locator('[data-payout]');
  t.is(await rows.count(), 1);
  t.regex(await text(rows), /Til 9570 \*\*\*\*\*\*0442 Beløb 37,50 kr\. Status Modtaget/);
  t.is(await balance(), 6_250);
  const [payout] = await c.payouts.ofAccount('konto-noah');
  t.like(payout, { amount_ore: 3_750, state: 'open' });
  await checkPage(t, page, '52-udbetaling-modtaget');
  // Reloading the answer posts nothing again.
  await page.reload();
  t.is((await c.payouts.ofAccount('konto-noah')).length, 1);

  // Emma's money lies at her school, whose gateway is offline: the page waits, then says so.
  await page.goto(`${central.http}/konti/konto-emma/udbetaling`);
  t.is(await submit('10', '9570', '7310442'), 503);
  t.regex(await text(page.getByTestId('amount-error')), /^En del af saldoen ligger på en skole uden forbindelse/);
  t.deepEqual(await c.payouts.ofAccount('konto-emma'), []);
});

test('a relation is refused the withdrawal page and its form; without payouts configured the page says so', async (t) => {
  t.timeout(300_000); // a central, a provider, Chromium (and a gateway) on a busy machine
  const central = await families(t);
  const c = central.service.central;
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'karen');
  t.is(await (await menuLink(page, 'Udbetaling')).count(), 1);
  t.is((await page.goto(`${central.http}/udbetaling`))?.status(), 403);
  const refused = await page.goto(`${central.http}/konti/konto-emma/udbetaling`);
  t.is(refused?.status(), 403);
  t.is(await page.getByTestId('refusal').getAttribute('data-code'), 'scope_denied');
  await checkPage(t, page, '53-udbetaling-afvist');
  const csrf = await page.locator('form.logout input[name="_csrf"]').inputValue();
  const forged = await page.context().request.post(`${central.http}/konti/konto-emma/udbetaling`, {
    form: { _csrf: csrf, amount: '10', reg_nr: '9570', account_nr: '7310442' },
    maxRedirects: 0,
  });
  t.is(forged.status(), 403);
  t.deepEqual(await c.payouts.ofAccount('konto-emma'), []);

  // Anne, at a municipality that has not turned payouts on: no form, a sentence saying so.
  const anne = await openContext(t, browser());
  await signInFromLanding(anne.page, central, 'anne', '/?return=%2Fkonti%2Fkonto-emma%2Fudbetaling');
  t.regex(await text(anne.page.getByTestId('payouts-off')), /Kommunen har ikke slået udbetaling til endnu/);
  t.is(await anne.page.getByTestId('withdraw').count(), 0);
  // English beside it.
  await anne.page.getByRole('link', { name: 'English' }).click();
  await anne.page.waitForURL(`${central.http}/konti/konto-emma/udbetaling`);
  t.is(await anne.page.locator('h1').innerText(), 'Withdrawal\nEmma Jensen');
  t.regex(await text(anne.page.getByTestId('payouts-off')), /The municipality has not turned withdrawals on yet\./);
  await checkPage(t, anne.page, '54-udbetaling-english');
  await anne.page.goto(`${central.http}/konti/konto-emma/kortet-virker-ikke`);
  t.regex(
    await text(anne.page.locator('[data-check="card"]')),
    /Card 1234-7K3M-Q9XA is the child's card, and it is active\./,
  );
  await checkPage(t, anne.page, '45-card-trouble-english');
  const anneCsrf = await anne.page.locator('form.logout input[name="_csrf"]').inputValue();
  const post = await anne.context.request.post(`${central.http}/konti/konto-emma/udbetaling`, {
    form: { _csrf: anneCsrf, amount: '10', reg_nr: '9570', account_nr: '7310442' },
    maxRedirects: 0,
  });
  t.is(post.status(), 503);
  t.regex(await post.text(), /data-code="payouts_not_configured"/);
});
