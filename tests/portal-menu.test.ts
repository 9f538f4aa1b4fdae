/**
 * The main menu on a phone (issue 18): at 390 px the navigation is one "Menu" line that opens the
 * list — a <details> that works without JavaScript and by keyboard — and on a wider screen the
 * bar. axe-core with the menu open; screenshots in artifacts/portal/.
 */
import type { Page } from 'playwright-core';
import {
  checkPage,
  DESKTOP,
  families,
  menuLink,
  openContext,
  PHONE,
  portalArtifacts,
  portalTests,
  signInFromLanding,
} from './helpers/portal.ts';

const { test, browser } = portalTests();

/** The bar's entries as shown: a group's name or a page's. */
const bar = (page: Page) =>
  page.locator('.nav-bar > li').evaluateAll((lis) =>
    // biome-ignore lint/suspicious/noExplicitAny: the page's elements
    lis.map((li: any) => (li.querySelector(':scope > details > summary, :scope > a') as any).innerText.trim()),
  );

/** How many lines the bar takes: its entries' distinct tops. */
const barLines = (page: Page) =>
  page
    .locator('.nav-bar > li')
    // biome-ignore lint/suspicious/noExplicitAny: the page's elements
    .evaluateAll((lis) => new Set(lis.map((li: any) => Math.round(li.getBoundingClientRect().top))).size);

/** A guardian's menu, in order (Skolekontoret is for office staff only): Konti's pages, Penge's, then the rest. */
const GUARDIAN_MENU = [
  'Mine konti',
  'Kontoudtog',
  'Kort',
  'Indstillinger',
  'Relationer',
  'Kortet virker ikke',
  'Indbetal',
  'Betalinger',
  'Automatisk optankning',
  'Udbetaling',
  'Webshop',
  'Profil',
];
/** The wide screen's bar: two groups that open, and the pages on their own. */
const BAR = ['Konti', 'Penge', 'Webshop', 'Profil'];

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

  // A wide screen: the bar, no "Menu" line; the groups' pages appear when the group is opened.
  await page.setViewportSize(DESKTOP);
  t.false(await summary.isVisible());
  t.deepEqual(await bar(page), BAR);
  t.deepEqual(await nav.getByRole('link').allInnerTexts(), ['Webshop', 'Profil']);

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

test('the wide screen’s bar is one line at 1280 px (grouped: Konti, Penge, Webshop, Profil); a group opens by keyboard and its page is marked', async (t) => {
  const central = await families(t);
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne');
  const nav = page.getByRole('navigation', { name: 'Hovedmenu' });
  for (const width of [1280, 1024, 800]) {
    await page.setViewportSize({ width, height: 900 });
    t.deepEqual(await bar(page), BAR, `${width}px`);
    t.is(await barLines(page), 1, `the bar is one line at ${width}px`);
  }
  await page.setViewportSize(DESKTOP);

  // Konti opens by keyboard (Enter on its button) and lists its pages; Mine konti is the page shown.
  const konti = page.getByTestId('nav-group-accounts');
  await konti.locator('summary').focus();
  await page.keyboard.press('Enter');
  t.deepEqual(await konti.getByRole('link').allInnerTexts(), GUARDIAN_MENU.slice(0, 6));
  t.is(await konti.getByRole('link', { name: 'Mine konti' }).getAttribute('aria-current'), 'page');
  t.is(await konti.locator('summary').getAttribute('class'), 'nav-group-current');
  await checkPage(t, page, 'menu-gruppe-konti');
  await page.setViewportSize(DESKTOP);

  // Opening Penge closes Konti (one group at a time); a page of Penge marks Penge as the current group.
  const penge = page.getByTestId('nav-group-money');
  await (await menuLink(page, 'Betalinger')).click();
  await page.waitForURL(`${central.http}/betalinger`);
  t.is(await penge.locator('summary').getAttribute('class'), 'nav-group-current');
  await penge.locator('summary').click();
  await konti.locator('summary').click();
  // biome-ignore lint/suspicious/noExplicitAny: the page's <details>
  t.false(await penge.evaluate((d) => (d as any).open), 'one group open at a time');
  await page.screenshot({ path: `${portalArtifacts}/menu-bar-1280.png` });

  // On a phone the same pages, under the groups' names, by menuLink as every test reaches them.
  await page.setViewportSize(PHONE);
  await (await menuLink(page, 'Udbetaling')).click();
  await page.waitForURL(`${central.http}/udbetaling`);
  await menuLink(page, 'Profil');
  t.deepEqual(await nav.getByRole('link').allInnerTexts(), GUARDIAN_MENU);
  t.deepEqual(
    (await nav.locator('.nav-menu-group-label').allInnerTexts()).map((x) => x.trim()),
    ['Konti', 'Penge'],
  );
  await checkPage(t, page, 'menu-grupper-telefon');
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: `${portalArtifacts}/menu-telefon-390.png`, fullPage: true });
  t.is(await nav.getByRole('link', { name: 'Udbetaling' }).getAttribute('aria-current'), 'page');
});
