import { startCentral } from './helpers/central.ts';
import { checkPage, openContext, portalTests } from './helpers/portal.ts';

const { test, browser } = portalTests();

test('the landing page offers sign-in with MitID, in Danish, and goes back where the visitor was going', async (t) => {
  const central = await startCentral(t);
  const { page } = await openContext(t, browser());
  const res = await page.goto(`${central.http}/`);
  t.is(res?.status(), 200);
  t.is(await page.getAttribute('html', 'lang'), 'da');
  t.is(await page.locator('h1').innerText(), 'Kantinekort');
  const signIn = page.getByRole('link', { name: 'Log ind med MitID' });
  t.is(await signIn.getAttribute('href'), '/login?return=%2Fkonti');
  t.regex(res?.headers()['content-security-policy'] ?? '', /default-src 'none'/);
  await checkPage(t, page, '01-landing');

  // A visitor sent here on the way to a page signs in and goes back there; another site is not a way back.
  await page.goto(`${central.http}/?return=%2Fkonti%2Fkonto-emma%2Fkontoudtog&ended=1`);
  t.is(await signIn.getAttribute('href'), '/login?return=%2Fkonti%2Fkonto-emma%2Fkontoudtog');
  t.regex(await page.getByTestId('session-ended').innerText(), /logget af/);
  for (const evil of ['//evil.example/x', '/\\evil.example', 'https://evil.example/']) {
    await page.goto(`${central.http}/?return=${encodeURIComponent(evil)}`);
    t.is(await signIn.getAttribute('href'), '/login?return=%2Fkonti', evil);
  }
});

test('the language switch turns the pages English and back, and stays on the page', async (t) => {
  const central = await startCentral(t);
  const { page } = await openContext(t, browser());
  await page.goto(`${central.http}/tilgaengelighed`);
  await page.getByRole('link', { name: 'English' }).click();
  await page.waitForURL(`${central.http}/tilgaengelighed`);
  t.is(await page.getAttribute('html', 'lang'), 'en');
  t.is(await page.locator('h1').innerText(), 'Accessibility statement');
  await page.goto(`${central.http}/`);
  t.is(await page.getByRole('link', { name: 'Sign in with MitID' }).count(), 1);
  await checkPage(t, page, '02-landing-en');
  await page.getByRole('link', { name: 'Dansk' }).click();
  await page.waitForURL(`${central.http}/`);
  t.is(await page.getAttribute('html', 'lang'), 'da');

  // An unknown language is a page saying so; a way back to another site is not followed.
  const unknown = await page.goto(`${central.http}/sprog/fr?return=/`);
  t.is(unknown?.status(), 404);
  t.is(await page.getByTestId('refusal').getAttribute('data-code'), 'not_found');
  const res = await fetch(`${central.http}/sprog/en?return=//evil.example/`, { redirect: 'manual' });
  t.is(res.status, 303);
  t.is(res.headers.get('location'), '/');
});

test('the accessibility statement is linked from every page footer', async (t) => {
  const central = await startCentral(t);
  const { page } = await openContext(t, browser());
  await page.goto(`${central.http}/`);
  await page.getByRole('contentinfo').getByRole('link', { name: 'Tilgængelighedserklæring' }).click();
  await page.waitForURL(`${central.http}/tilgaengelighed`);
  t.is(await page.locator('h1').innerText(), 'Tilgængelighedserklæring');
  t.regex(await page.locator('main').innerText(), /WCAG 2\.1/);
  await checkPage(t, page, '03-accessibility');
});
