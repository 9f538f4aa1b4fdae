/**
 * The school's till holds the child's money offline (shopfix): central books an order only against
 * what is free at central, and the school's gateway holds the balance's and the day limit's shares
 * so the card works in the canteen without the internet. With the school offline the order is
 * refused (`funds_held_offline`, nothing booked), and the basket tells the guardian what to do —
 * "pay by bank card" only where the bank card helps (the balance), "try again later" where every
 * order needs what the till holds (the spend limit). Chromium through the dev identity provider.
 */
import { checkPage, families, openContext, portalTests, signInFromLanding, text } from './helpers/portal.ts';
import { balanceOf, fillBasket, localDay, putMenu } from './helpers/webshop-portal.ts';

const { test, browser } = portalTests();

test('an order the offline school holds the money for is refused with what the guardian can do', async (t) => {
  const central = await families(t); // the school's gateway is not running: its shares are out there
  await putMenu(central, localDay(1));
  const before = await balanceOf(central);
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne', '/?return=%2Fkonti%2Fkonto-emma%2Fwebshop');
  await fillBasket(page, { yoghurt: 1 });
  await page.getByLabel(/Kantinekort/).check();
  await page.getByTestId('pay').click();
  await page.getByTestId('error-summary').waitFor({ timeout: 30_000 });
  // Emma has a day limit at school, and the school holds its share: try again later.
  const limitText = await text(page.getByTestId('error-summary'));
  t.regex(limitText, /Skolens kasse har lige nu en del af barnets forbrugsgrænse/);
  t.regex(limitText, /Prøv igen senere, når skolen er online/);
  t.notRegex(limitText, /Betal med betalingskort/);
  await checkPage(t, page, '83-webshop-skolen-offline-graense');
  t.is(await balanceOf(central), before, 'nothing booked');

  // Without a limit only the balance is held: the bank card is the way.
  t.is((await central.api('PATCH', '/api/accounts/konto-emma', { limits: [] })).status, 204);
  await page.getByLabel(/Kantinekort/).check();
  await page.getByTestId('pay').click();
  await page.getByTestId('error-summary').filter({ hasText: 'saldo' }).waitFor({ timeout: 30_000 });
  const balanceText = await text(page.getByTestId('error-summary'));
  t.regex(balanceText, /Skolens kasse har lige nu barnets saldo/);
  t.regex(balanceText, /Betal med betalingskort, eller prøv igen senere/);
  await checkPage(t, page, '84-webshop-skolen-offline-saldo');
  t.is(await balanceOf(central), before, 'nothing booked');
});
