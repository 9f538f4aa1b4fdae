/**
 * The webshop at the till (issue 20), in real Chromium: canteen staff log in with their PIN, make
 * tomorrow's menu from the place's products on the kiosk's Webshop screen (it goes up the link to
 * central, where a guardian orders from it), and the kitchen's count per item shows what was paid.
 * Real Postgres, a real gateway linked to central over MQTT.
 */
import anyTest, { type TestFn } from 'ava';
import type { Browser } from 'playwright-core';
import { browserMissing, launch, snap } from './helpers/browser.ts';
import { families } from './helpers/portal.ts';
import { signIn } from './helpers/sign-in.ts';
import { STAFF, startSite } from './helpers/site.ts';
import { eventually, until } from './helpers/wait.ts';

if (browserMissing) throw new Error(`the webshop's kiosk test needs Chromium: ${browserMissing}`);
const test = anyTest.serial as TestFn;
let browser: Browser | undefined;
anyTest.before(async () => {
  browser = await launch();
});
anyTest.after.always(async () => {
  await browser?.close();
});

test('staff make tomorrow’s menu at the kiosk; a guardian orders from it; the kitchen sees the count', async (t) => {
  t.timeout(180_000);
  const central = await families(t);
  const site = await startSite(t, {
    site: 'soendervang',
    linked: true,
    https: true,
    config: { central: central.site_link },
  });
  await eventually(
    () => (site.ledger.accounts.getCard('04000000003E01')?.state === 'active' ? true : undefined),
    15_000,
    "Emma's card at the school",
  );
  const context = await (browser as Browser).newContext({
    viewport: { width: 1280, height: 800 },
    hasTouch: true,
    ignoreHTTPSErrors: true,
    locale: 'da-DK',
    timezoneId: 'Europe/Copenhagen',
  });
  t.teardown(() => context.close());
  const page = await context.newPage();
  page.on('pageerror', (err) => t.fail(`page error: ${err.message}`));
  await page.goto(`${site.http}/kiosk/`);
  await page.click('[data-till="till-1"]');
  await page.click(`[data-staff="${STAFF.id}"]`);
  for (const digit of STAFF.pin) await page.click(`[data-key="${digit}"]`);
  await page.click('[data-key="OK"]');
  await page.locator('[data-product="yoghurt"]').waitFor();

  await page.click('[data-testid="open-webshop"]');
  await page.locator('[data-menu-product="yoghurt"]').waitFor();
  const date = await page.locator('[data-testid="menu-date"]').inputValue();
  // Nothing chosen: said so, nothing sent.
  await page.click('[data-testid="menu-send"]');
  await page.locator('[data-testid="menu-message"]', { hasText: 'Vælg mindst én vare' }).waitFor();
  await page.check('[data-menu-product="yoghurt"] input[type="checkbox"]');
  await page.check('[data-menu-product="stor-grovbolle"] input[type="checkbox"]');
  await page.fill('[data-menu-product="stor-grovbolle"] input[type="number"]', '25');
  await page.click('[data-testid="menu-send"]');
  await page.locator('[data-testid="menu-message"]', { hasText: 'Menuen er sendt til forældrene (2 varer)' }).waitFor();
  await snap(page, 'webshop-01-menu-sent');

  // At central, from the kiosk: the guardian orders from it.
  const menus = await until(
    async () => {
      const r = await central.api('GET', `/api/sites/soendervang/menus?from=${date}&to=${date}`);
      return r.body.menus.length > 0 ? r.body.menus : undefined;
    },
    'the kiosk’s menu at central',
    20_000,
  );
  t.is(menus[0].source, 'kiosk');
  t.deepEqual(
    menus[0].items.map((i: { product_id: string; cap: number | null }) => [i.product_id, i.cap]),
    [
      ['stor-grovbolle', 25],
      ['yoghurt', null],
    ],
  );
  const login = await fetch(`${central.http}/login`, { redirect: 'manual' });
  const anne = await signIn(central.http, { issuer: new URL(login.headers.get('location') as string).origin }, 'anne');
  const placed = await fetch(`${central.http}/api/accounts/konto-emma/webshop/orders`, {
    method: 'POST',
    headers: { cookie: anne.cookie, 'x-csrf-token': anne.csrf, 'content-type': 'application/json' },
    body: JSON.stringify({
      site_id: 'soendervang',
      place_id: 'kantinen',
      date,
      lines: [{ product_id: 'stor-grovbolle', quantity: 2 }],
      payment: 'canteen_card',
    }),
  });
  t.is(placed.status, 201, await placed.clone().text());
  await eventually(
    () => (site.ledger.db.prepare('SELECT 1 FROM preorders WHERE for_date = ?').get(date) ? true : undefined),
    15_000,
    'the order at the site',
  );
  // The kitchen's count for the day, on the kiosk.
  await page.click('#webshop [data-action="back"]');
  await page.click('[data-testid="open-webshop"]');
  await page.locator('[data-kitchen-product="stor-grovbolle"]', { hasText: '2' }).waitFor();
  t.regex(await page.locator('[data-testid="kitchen-summary"]').innerText(), /1 bestillinger/);
  await snap(page, 'webshop-02-kitchen');
});
