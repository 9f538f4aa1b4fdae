/**
 * The basket's payment choice on a phone (390 px, shopfix): each method's hint sits under its own
 * label across the column, not squeezed beside it. Chromium through the dev identity provider.
 */
import { checkPage, families, openContext, PHONE, portalTests, signInFromLanding } from './helpers/portal.ts';
import { fillBasket, localDay, putMenu } from './helpers/webshop-portal.ts';

const { test, browser } = portalTests();

test('the payment hints sit under their labels on a phone', async (t) => {
  const central = await families(t);
  await putMenu(central, localDay(1));
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne', '/?return=%2Fkonti%2Fkonto-emma%2Fwebshop');
  await fillBasket(page, { yoghurt: 1 });
  await checkPage(t, page, '82-webshop-kurv-betaling');
  await page.setViewportSize(PHONE);
  for (const method of ['kantinekort', 'betalingskort']) {
    const radio = await page.locator(`#betaling-${method}`).boundingBox();
    const label = await page.locator(`label[for="betaling-${method}"]`).boundingBox();
    const hint = await page.locator(`#betaling-${method}-hint`).boundingBox();
    if (!radio || !label || !hint) throw new Error(`${method}: not shown`);
    t.true(hint.y >= label.y + label.height - 1, `${method}: the hint is under its label`);
    t.true(Math.abs(hint.x - label.x) <= 1, `${method}: the hint starts where its label does`);
    t.true(hint.width >= 250, `${method}: the hint has the column (${hint.width}px)`);
    t.true(radio.x + radio.width <= label.x, `${method}: the radio is beside its label`);
  }
});
