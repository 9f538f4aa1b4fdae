/**
 * A person's saved language (Profil) follows them to a new device: after sign-in in a browser
 * that has no language cookie yet, the portal is in their language and the browser keeps it. A
 * browser whose language was chosen with the switch keeps its own choice.
 */
import type { BrowserContext } from 'playwright-core';
import { checkPage, families, openContext, portalTests, signInFromLanding } from './helpers/portal.ts';

const { test, browser } = portalTests();

const langCookie = async (context: BrowserContext) =>
  (await context.cookies()).find((c) => c.name === 'kantine_lang')?.value;

test('the saved language is the portal’s after sign-in on a new device; a browser’s own choice stays', async (t) => {
  t.timeout(300_000);
  const central = await families(t);

  // Anne saves English on her phone (Profil).
  const phone = await openContext(t, browser());
  await signInFromLanding(phone.page, central, 'anne', '/?return=%2Fprofil');
  await phone.page.getByRole('radio', { name: 'English' }).check();
  await phone.page.getByTestId('save-contact').click();
  await phone.page.waitForURL(`${central.http}/profil?besked=kontakt`);
  t.is(await phone.page.locator('h1').innerText(), 'Profile');

  // A new device: the landing page is Danish (nobody is known yet); after sign-in, English.
  const laptop = await openContext(t, browser());
  t.is(await langCookie(laptop.context), undefined);
  await signInFromLanding(laptop.page, central, 'anne');
  t.is(new URL(laptop.page.url()).pathname, '/konti');
  t.is(await laptop.page.locator('html').getAttribute('lang'), 'en');
  t.is(await laptop.page.locator('h1').innerText(), 'My accounts');
  t.is(await langCookie(laptop.context), 'en', 'the browser keeps the language');
  await checkPage(t, laptop.page, 'sprog-ved-login-en');
  // The next page too.
  await laptop.page.goto(`${central.http}/profil`);
  t.is(await laptop.page.locator('h1').innerText(), 'Profile');

  // A browser where someone chose Danish with the switch keeps Danish.
  const shared = await openContext(t, browser());
  await shared.page.goto(`${central.http}/sprog/da?return=%2F`);
  t.is(await langCookie(shared.context), 'da');
  await signInFromLanding(shared.page, central, 'anne');
  t.is(await shared.page.locator('html').getAttribute('lang'), 'da');
  t.is(await shared.page.locator('h1').innerText(), 'Mine konti');

  // Peter saved nothing: Danish, the default.
  const peter = await openContext(t, browser());
  await signInFromLanding(peter.page, central, 'peter');
  t.is(await peter.page.locator('html').getAttribute('lang'), 'da');
});
