/**
 * The webshop end to end, once (the split with `webshop`'s own tests: /work/wt/_notes/webshop-requests.md):
 * a guardian orders for tomorrow in the portal (Chromium, dev identity provider) and pays by canteen
 * card; the order travels over the link to a real gateway; the next day a tap of the child's card at
 * the till shows it on the kiosk (Chromium) and staff hand it out; the portal then says "Udleveret".
 */
import { join } from 'node:path';
import {
  checkPage,
  families,
  menuLink,
  openContext,
  portalArtifacts,
  portalTests,
  SITE,
  signInFromLanding,
  text,
} from './helpers/portal.ts';
import { STAFF, startSite } from './helpers/site.ts';
import { eventually } from './helpers/wait.ts';
import { balanceOf, fillBasket, localDay, orderState, PLACE, putMenu } from './helpers/webshop-portal.ts';

const { test, browser } = portalTests();

const EMMA_CARD = '04000000003E01';
const DAY_MS = 24 * 3600 * 1000;

test('an order paid by canteen card in the portal reaches the gateway, shows at the till on its day, is handed out, and the portal says "Udleveret"', async (t) => {
  // Central's clock moves to the order's day with the school's before the till hands it out (central
  // believes a hand-out only on the order's own day, and not from a site's clock ahead of its own).
  const ahead = { ms: 0 };
  const central = await families(t, {}, { now: () => new Date(Date.now() + ahead.ms) });
  const tomorrow = localDay(1);
  await putMenu(central, tomorrow);
  // The school lives a day ahead: its "today" is the order's day (the till shows a day's orders on that day).
  const site = await startSite(t, {
    site: SITE,
    linked: true,
    config: { central: central.site_link },
    clock: { now: () => new Date(Date.now() + DAY_MS) },
  });
  await eventually(
    () => (site.ledger.accounts.getCard(EMMA_CARD)?.state === 'active' ? true : undefined),
    10_000,
    "Emma's card at the school",
  );
  const before = await balanceOf(central);

  // Anne orders two rolls and a yoghurt for Emma, paid with the canteen card: "Betalt" at once.
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne');
  await (await menuLink(page, 'Webshop')).click();
  await page.getByTestId('choose-account').getByRole('link', { name: /Emma/ }).click();
  t.is(new URL(page.url()).pathname, '/konti/konto-emma/webshop');
  t.is(await page.locator('#dato').inputValue(), tomorrow);
  t.regex(await text(page.locator('[data-item="frikadeller"]')), /35,00 kr\..*Allergener: Æg/);
  await checkPage(t, page, '70-webshop-menu');
  await fillBasket(page, { 'stor-grovbolle': 2, yoghurt: 1 });
  t.regex(await text(page.getByTestId('basket')), /Stor Grovbolle Allergener: Gluten 2 10,00 kr\./);
  t.is(await text(page.getByTestId('total')), '16,00 kr.');
  t.regex(await text(page.getByTestId('rules-ok')), /passer med barnets regler/);
  await checkPage(t, page, '71-webshop-kurv');
  await page.getByLabel(/^Kantinekort \(saldo 1\.424,50\skr\.\)/).check();
  await page.getByTestId('pay').click();
  await page.waitForURL(/\/konti\/konto-emma\/ordrer\/[0-9a-f-]{36}\?besked=bestilt$/);
  t.deepEqual(await orderState(page), { state: 'paid', text: 'Betalt' });
  t.regex(await text(page.getByTestId('message')), /Ordren er betalt/);
  t.regex(await text(page.getByTestId('receipt')), /Yoghurt 1 6,00 kr\./);
  await checkPage(t, page, '72-webshop-ordre-betalt');
  const orderId = await text(page.getByTestId('order-id'));
  const orderUrl = page.url().split('?')[0] as string;
  t.is(await balanceOf(central), before - 1_600, 'charged at once');
  await page.goto(`${central.http}/konti/konto-emma/kontoudtog`);
  t.regex(await text(page.getByTestId('statement')), /Hævet 2x Stor Grovbolle 5\.00 1x Yoghurt 6\.00/);

  // A second order, cancelled before the cancel deadline: refunded to the canteen card at once.
  await page.goto(`${central.http}/konti/konto-emma/webshop`);
  await fillBasket(page, { yoghurt: 1 });
  await page.getByLabel(/^Kantinekort/).check();
  await page.getByTestId('pay').click();
  await page.waitForURL(/\?besked=bestilt$/);
  const second = page.url().split('?')[0] as string;
  t.is(await balanceOf(central), before - 2_200);
  await page.getByTestId('cancel').click();
  await page.waitForURL(`${second}?besked=annulleret`);
  t.deepEqual(await orderState(page), { state: 'refunded', text: 'Refunderet' });
  t.is(await page.getByTestId('cancel').count(), 0, 'no second cancel');
  await checkPage(t, page, '74-webshop-ordre-refunderet');
  t.is(await balanceOf(central), before - 1_600);

  // Vis ordrer: both, with their states; "Vis" opens the receipt.
  await page.goto(`${central.http}/konti/konto-emma/webshop`);
  await page.getByTestId('orders-link').click();
  t.is(await page.locator('[data-order]').count(), 2);
  t.regex(await text(page.locator(`[data-order="${orderId}"]`)), /2× Stor Grovbolle, 1× Yoghurt.*Betalt.*16,00 kr\./);
  t.regex(await text(page.locator('[data-order]', { hasText: 'Refunderet' })), /1× Yoghurt/);
  await checkPage(t, page, '73-webshop-ordrer');
  await page.locator(`[data-order="${orderId}"]`).getByTestId('show-order').click();
  t.is(page.url(), orderUrl);

  // Over the link to the school, for its day.
  const [preorder] = await eventually(
    () => {
      const open = site.ledger.preorders.openPreorders('konto-emma', PLACE);
      return open.length > 0 ? open : undefined;
    },
    15_000,
    'the order at the school',
  );
  t.like(preorder, { id: orderId, for_date: tomorrow, total_ore: 1_600, state: 'paid' });
  // (the cancelled one was taken off the school's till)
  await eventually(
    () => (site.ledger.preorders.openPreorders('konto-emma', PLACE).length === 1 ? true : undefined),
    15_000,
    'only the paid order at the school',
  );

  // The next day (central's clock too): the kiosk at till 1, staff log in, Emma taps with an empty
  // basket, the order shows; hand it out.
  ahead.ms = DAY_MS;
  const reader = await site.reader('laeser-webshop', 'till-1');
  const kiosk = await browser().newContext({ viewport: { width: 1280, height: 800 }, hasTouch: true });
  t.teardown(() => kiosk.close());
  const till = await kiosk.newPage();
  till.on('pageerror', (err) => t.fail(`kiosk page error: ${err.message}`));
  await till.goto(`${site.http}/kiosk/`);
  await till.click('[data-till="till-1"]');
  await till.click(`[data-staff="${STAFF.id}"]`);
  for (const digit of STAFF.pin) await till.click(`[data-key="${digit}"]`);
  await till.click('[data-key="OK"]');
  await till.locator('[data-product="yoghurt"]').waitFor();
  await reader.tap(EMMA_CARD);
  const shown = till.locator('[data-testid="result"][data-outcome="balance"]:not([hidden])');
  await shown.waitFor({ timeout: 30_000 });
  t.regex(await shown.innerText(), /2× Stor Grovbolle/);
  t.regex(await shown.innerText(), /1× Yoghurt/);
  await till.screenshot({ path: join(portalArtifacts, '79-webshop-kiosk-ordre.png') });
  await till.click(`[data-preorder="${orderId}"] button`);
  await till.locator(`[data-preorder="${orderId}"] button[disabled]`).waitFor();
  t.deepEqual(site.ledger.preorders.openPreorders('konto-emma', PLACE), []);

  // Handed out is reported up the link: the portal's order says so, and can no longer be cancelled.
  const until = Date.now() + 15_000;
  for (;;) {
    const r = await central.api('GET', `/api/accounts/konto-emma/webshop/orders/${orderId}`);
    if (r.body.order?.state === 'handed_out') break;
    if (Date.now() > until) t.fail(`not handed out at central: ${JSON.stringify(r.body)}`);
    if (Date.now() > until) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // A day later Anne's session may have ended: she signs in again and opens the order.
  await page.context().clearCookies();
  await signInFromLanding(page, central, 'anne');
  await page.goto(orderUrl);
  t.deepEqual(await orderState(page), { state: 'handed_out', text: 'Udleveret' });
  t.is(await page.getByTestId('cancel').count(), 0);
});
