/**
 * "Profil" and adding a child on "Mine konti", in real Chromium signed in through the dev identity
 * provider: a person sees where they are signed in and signs the other places out; a guardian
 * adds a child by the child's CPR number and the card's printed number (every mismatch the same
 * answer, the typed CPR number never shown again). axe-core on every page; screenshots in
 * artifacts/portal/.
 */
import { DEMO_CHILDREN } from '@kantine/idp';
import { cardNumberCheck } from '@kantine/protocol';
import {
  accountCard,
  checkPage,
  cprOf,
  families,
  menuLink,
  openContext,
  portalTests,
  signInFromLanding,
  text,
} from './helpers/portal.ts';

const { test, browser } = portalTests();

test('a person sees where they are signed in and signs out everywhere else', async (t) => {
  const central = await families(t);
  const here = await openContext(t, browser());
  const there = await openContext(t, browser());
  await signInFromLanding(there.page, central, 'anne');
  await signInFromLanding(here.page, central, 'anne');
  const page = here.page;
  await (await menuLink(page, 'Profil')).click();
  await page.waitForURL(`${central.http}/profil`);
  t.is(await text(page.getByTestId('profile-name')), 'Anne Hansen');
  const sessions = page.getByTestId('sessions').locator('li');
  // This browser, the other one, and the fixture's own sign-in (with fetch: no browser it knows).
  t.is(await sessions.count(), 3);
  t.regex(await text(sessions.first()), /Chrome · Linux Denne enhed/);
  t.is(await page.locator('[data-session="current"]').count(), 1);
  await checkPage(t, page, '40-profil');

  await page.getByTestId('end-others').click();
  await page.waitForURL(`${central.http}/profil?besked=andre`);
  t.regex(await text(page.getByTestId('message')), /logget af de andre steder/);
  t.is(await sessions.count(), 1);
  // The other browser's session is over: it is sent to sign in again.
  await there.page.goto(`${central.http}/konti`);
  t.is(new URL(there.page.url()).pathname, '/');
  t.is(await there.page.getByTestId('session-ended').count(), 1);
});

test('a guardian adds a child by the child’s CPR number and the card number; a mismatch tells nothing', async (t) => {
  const central = await families(t);
  // Peter signs in; only afterwards does the school put his CPR number on Noah's record, and Noah
  // gets a card — so Noah is not yet on Peter's page.
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'peter');
  t.is(await accountCard(page, 'konto-noah').count(), 0);
  const body = 'WX2K9M7';
  const number = `1234-${body.slice(0, 4)}-${body.slice(4)}${cardNumberCheck(body)}`;
  const ok = async (p: Promise<{ status: number; body: unknown }>, status: number) =>
    t.is((await p).status, status, JSON.stringify((await p).body));
  await ok(central.api('PUT', '/api/cards/04000000003E02', { kind: 'legacy', card_number: number }), 204);
  await ok(central.api('POST', '/api/cards/04000000003E02/activate', { account_id: 'konto-noah' }), 204);
  await ok(
    central.api('PUT', '/api/accounts/konto-noah/guardian-cprs', { cprs: [cprOf('anne'), cprOf('peter')] }),
    204,
  );
  const noahCpr = (DEMO_CHILDREN.find((c) => c.key === 'noah') as { cpr: string }).cpr;
  const form = page.getByTestId('add-child');
  const cprField = form.getByRole('textbox', { name: 'Barnets CPR-nummer' });
  const cardField = form.getByRole('textbox', { name: 'Kortnummer' });

  // Typing slips are errors beside their fields.
  await cprField.fill('12');
  await cardField.fill('ABC');
  await form.getByRole('button', { name: 'Tilføj barnet' }).click();
  await page.getByTestId('error-summary').waitFor();
  t.is(await cprField.getAttribute('aria-invalid'), 'true');
  t.is(await cardField.getAttribute('aria-invalid'), 'true');
  await checkPage(t, page, '41-tilfoej-barn-fejl');

  // Another child's CPR number with Noah's card: the one answer for every mismatch, nothing added.
  await cprField.fill(cprOf('freja'));
  await cardField.fill(number.slice(5));
  await form.getByRole('button', { name: 'Tilføj barnet' }).click();
  await page.getByTestId('error-summary').waitFor();
  t.regex(await text(page.getByTestId('error-summary')), /Vi kunne ikke finde en konto/);
  t.is(await cprField.inputValue(), '');
  t.notRegex(await page.content(), new RegExp(cprOf('freja')));
  t.is(await accountCard(page, 'konto-noah').count(), 0);

  await cprField.fill(`${noahCpr.slice(0, 6)}-${noahCpr.slice(6)}`);
  await cardField.fill(number.slice(5).toLowerCase());
  await form.getByRole('button', { name: 'Tilføj barnet' }).click();
  await page.waitForURL(`${central.http}/konti?besked=tilfoejet`);
  t.regex(await text(page.getByTestId('message')), /Barnet er tilføjet/);
  t.regex(await text(accountCard(page, 'konto-noah')), /Noah Hansen Du er forælder/);
});
