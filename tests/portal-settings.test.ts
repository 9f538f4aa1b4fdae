import {
  accountCard,
  checkPage,
  families,
  openContext,
  portalTests,
  signInFromLanding,
  text,
} from './helpers/portal.ts';

const { test, browser } = portalTests();

test('a guardian sets the limits and the places, each saved on its own; a wrong amount is an error beside its field', async (t) => {
  const central = await families(t);
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne', '/?return=%2Fkonti%2Fkonto-emma%2Findstillinger');
  t.is(new URL(page.url()).pathname, '/konti/konto-emma/indstillinger');
  // The fixture's day limit at school shows in kroner.
  t.is(await page.locator('#limit_school_day').inputValue(), '50');
  await checkPage(t, page, '50-indstillinger');

  await page.locator('#limit_school_day').fill('30');
  await page.locator('#limit_school_week').fill('mange');
  await page.locator('#limit_club_month').fill('1.234,50');
  await page.getByTestId('save-limits').click();
  await page.getByTestId('error-summary').waitFor();
  t.is(await page.locator('#limit_school_week').getAttribute('aria-invalid'), 'true');
  t.is(await page.locator('#limit_school_day').getAttribute('aria-invalid'), null);
  t.is(await page.locator('#limit_school_week').inputValue(), 'mange');
  t.regex(await text(page.getByTestId('error-summary')), /Skole, Pr\. uge: Skriv et beløb i kroner/);
  await checkPage(t, page, '51-indstillinger-fejl');
  // Nothing was saved from the form with the error.
  const before = await central.api('GET', '/api/accounts/konto-emma');
  t.deepEqual(before.body.limits, [{ place_kind: 'school', period: 'day', limit_ore: 5_000 }]);

  await page.locator('#limit_school_week').fill('');
  await page.getByTestId('save-limits').click();
  await page.waitForURL(`${central.http}/konti/konto-emma/indstillinger?besked=graenser`);
  t.regex(await text(page.getByTestId('message')), /Grænserne er gemt/);
  const saved = await central.api('GET', '/api/accounts/konto-emma');
  t.deepEqual(saved.body.limits, [
    { place_kind: 'club', period: 'month', limit_ore: 123_450 },
    { place_kind: 'school', period: 'day', limit_ore: 3_000 },
  ]);

  // The places are their own group: unticking the club keeps the limits as they are.
  await page.getByRole('checkbox', { name: 'Klub' }).uncheck();
  await page.getByTestId('save-places').click();
  await page.waitForURL(`${central.http}/konti/konto-emma/indstillinger?besked=steder`);
  const after = await central.api('GET', '/api/accounts/konto-emma');
  t.deepEqual(after.body.place_kinds, ['school']);
  t.deepEqual(after.body.limits, saved.body.limits);
  t.false(await page.getByRole('checkbox', { name: 'Klub' }).isChecked());

  await page.goto(`${central.http}/konti`);
  t.is(await text(accountCard(page, 'konto-emma').getByTestId('today-school')), '0,00 kr. af 30,00 kr.');
});

test('a relation cannot open the settings: a page says so, and her forged form changes nothing', async (t) => {
  const central = await families(t);
  const { context, page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'karen');
  const refused = await page.goto(`${central.http}/konti/konto-emma/indstillinger`);
  t.is(refused?.status(), 403);
  t.is(await page.getByTestId('refusal').getAttribute('data-code'), 'scope_denied');
  t.is((await page.goto(`${central.http}/indstillinger`))?.status(), 403);
  const csrf = await page.locator('form.logout input[name="_csrf"]').inputValue();
  const forged = await context.request.post(`${central.http}/konti/konto-emma/indstillinger/graenser`, {
    form: { _csrf: csrf, limit_school_day: '1000' },
    maxRedirects: 0,
  });
  t.is(forged.status(), 403);
  t.deepEqual((await central.api('GET', '/api/accounts/konto-emma')).body.limits, [
    { place_kind: 'school', period: 'day', limit_ore: 5_000 },
  ]);
});
