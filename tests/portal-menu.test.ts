/**
 * The main menu on a phone (issue 18): at 390 px the navigation is one "Menu" line that opens the
 * list — a <details> that works without JavaScript and by keyboard — and on a wider screen the
 * bar. axe-core with the menu open; screenshots in artifacts/portal/.
 */
import { checkPage, DESKTOP, families, openContext, PHONE, portalTests, signInFromLanding } from './helpers/portal.ts';

const { test, browser } = portalTests();

/** A guardian's menu, in order (Skolekontoret is for office staff only). */
const GUARDIAN_MENU = [
  'Mine konti',
  'Kontoudtog',
  'Indbetal',
  'Betalinger',
  'Webshop',
  'Indstillinger',
  'Automatisk optankning',
  'Kort',
  'Relationer',
  'Kortet virker ikke',
  'Udbetaling',
  'Profil',
];

test('at 390 px the menu is one line that opens by keyboard or touch, without JavaScript; a wide screen has the bar', async (t) => {
  const central = await families(t);
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne');
  const nav = page.getByRole('navigation', { name: 'Hovedmenu' });
  const summary = page.getByTestId('nav-menu').locator('summary');

  // Closed, the menu takes one line: the page's heading is in the first screen's top quarter.
  t.true(await summary.isVisible());
  t.is(await summary.innerText(), 'Menu: Mine konti');
  t.is(await nav.getByRole('link').count(), 0);
  const h1 = await page.locator('h1').boundingBox();
  t.truthy(h1);
  t.true((h1?.y ?? PHONE.height) < PHONE.height / 4, `the heading starts at ${h1?.y}px`);

  // By keyboard: the summary is a control in the tab order; Enter opens it.
  await summary.focus();
  await page.keyboard.press('Enter');
  t.deepEqual(await nav.getByRole('link').allInnerTexts(), GUARDIAN_MENU);
  t.is(await nav.getByRole('link', { name: 'Mine konti' }).getAttribute('aria-current'), 'page');
  await checkPage(t, page, '05-menu-aaben');
  await nav.getByRole('link', { name: 'Profil' }).click();
  await page.waitForURL(`${central.http}/profil`);
  t.is(await summary.innerText(), 'Menu: Profil');

  // A wide screen: the bar, no "Menu" line.
  await page.setViewportSize(DESKTOP);
  t.false(await summary.isVisible());
  t.deepEqual(await nav.getByRole('link').allInnerTexts(), GUARDIAN_MENU);

  // Without JavaScript it works the same (the page runs none anyway).
  const noJs = await browser().newContext({ viewport: PHONE, locale: 'da-DK', javaScriptEnabled: false });
  t.teardown(() => noJs.close());
  const plain = await noJs.newPage();
  await signInFromLanding(plain, central, 'anne');
  const plainNav = plain.getByRole('navigation', { name: 'Hovedmenu' });
  t.is(await plainNav.getByRole('link').count(), 0);
  await plain.getByTestId('nav-menu').locator('summary').click();
  await plainNav.getByRole('link', { name: 'Indstillinger' }).click();
  await plain.waitForURL(`${central.http}/indstillinger`);
  t.is(await plain.locator('h1').innerText(), 'Indstillinger');
});
