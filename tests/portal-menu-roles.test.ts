/**
 * The main menu per role: a guardian and a relation get the family's menu; a person who is only
 * school office staff (the demo's Lone at Søndervang) or only the municipality's administrator
 * (Jens) gets what they may use — Skolekontoret and Profil — and lands at the school office, not
 * at an empty "Mine konti"; a guardian who also works at the school office gets both. Screenshots
 * and axe of the staff's pages in artifacts/portal/.
 */
import type { Page } from 'playwright-core';
import {
  checkPage,
  cprOf,
  families,
  menuLink,
  openContext,
  PHONE,
  portalTests,
  SITE,
  signInFromLanding,
} from './helpers/portal.ts';

const { test, browser } = portalTests();

/** The family's entries (each person's menu has them all, or none). */
const FAMILY = [
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
];

/** Every entry of the main menu, as the phone's opened menu lists them. */
async function entries(page: Page): Promise<string[]> {
  await page.setViewportSize(PHONE);
  await menuLink(page, 'Profil'); // opens the menu
  const texts = await page
    .getByRole('navigation', { name: /^(Hovedmenu|Main menu)$/ })
    .getByRole('link')
    .allInnerTexts();
  return texts.map((x) => x.trim());
}

test('office-only staff and an administrator see the staff’s menu; a guardian who is also office staff sees both', async (t) => {
  t.timeout(300_000);
  const central = await families(t);
  await central.api('PUT', '/api/people/roles', { cpr: cprOf('lone'), role: 'office', site: SITE, granted: true });
  await central.api('PUT', '/api/people/roles', { cpr: cprOf('jens'), role: 'admin', granted: true });

  // Lone: only the school office. She lands there, not at an empty Mine konti.
  const lone = await openContext(t, browser());
  await signInFromLanding(lone.page, central, 'lone');
  await lone.page.waitForURL(`${central.http}/kontor/${SITE}`);
  const loneMenu = await entries(lone.page);
  t.true(loneMenu.includes('Skolekontoret'), loneMenu.join(', '));
  t.true(loneMenu.includes('Profil'), loneMenu.join(', '));
  for (const family of FAMILY) t.false(loneMenu.includes(family), `office staff see no ${family}`);
  await checkPage(t, lone.page, 'menu-roller-kontor');
  // Mine konti by its address sends her to the office too.
  await lone.page.goto(`${central.http}/konti`);
  t.is(new URL(lone.page.url()).pathname, `/kontor/${SITE}`);
  // Profil works for her.
  await (await menuLink(lone.page, 'Profil')).click();
  await lone.page.waitForURL(`${central.http}/profil`);
  t.false((await entries(lone.page)).includes('Mine konti'));

  // Jens, the municipality's administrator: the same.
  const jens = await openContext(t, browser());
  await signInFromLanding(jens.page, central, 'jens');
  t.true(new URL(jens.page.url()).pathname.startsWith('/kontor'), jens.page.url());
  const jensMenu = await entries(jens.page);
  t.true(jensMenu.includes('Skolekontoret'));
  for (const family of FAMILY) t.false(jensMenu.includes(family), `an administrator sees no ${family}`);

  // Anne, a guardian: the family's menu, no Skolekontoret.
  const anne = await openContext(t, browser());
  await signInFromLanding(anne.page, central, 'anne');
  await anne.page.waitForURL(`${central.http}/konti`);
  const anneMenu = await entries(anne.page);
  for (const family of FAMILY) t.true(anneMenu.includes(family), `a guardian sees ${family}`);
  t.false(anneMenu.includes('Skolekontoret'));

  // Karen, a relation: the family's menu too.
  const karen = await openContext(t, browser());
  await signInFromLanding(karen.page, central, 'karen');
  t.true((await entries(karen.page)).includes('Mine konti'));

  // Anne also works at the school office: both, and she still lands at Mine konti.
  await central.api('PUT', '/api/people/roles', { cpr: cprOf('anne'), role: 'office', site: SITE, granted: true });
  const both = await openContext(t, browser());
  await signInFromLanding(both.page, central, 'anne');
  await both.page.waitForURL(`${central.http}/konti`);
  const bothMenu = await entries(both.page);
  for (const entry of [...FAMILY, 'Skolekontoret', 'Profil']) t.true(bothMenu.includes(entry), `both: ${entry}`);
  await (await menuLink(both.page, 'Skolekontoret')).click();
  await both.page.waitForURL(`${central.http}/kontor/${SITE}`);
  await checkPage(t, both.page, 'menu-roller-begge');
});
