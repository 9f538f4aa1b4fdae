/**
 * A menu that central refuses is not "sent" at the kiosk (shopfix), in real Chromium: the kiosk
 * machine's clock is set to UTC (a real misconfiguration), so 23:30 there is 00:30 the next day at
 * the school — after the day, which central refuses. The kiosk first says the menu is on its way,
 * then shows central's refusal and why, in Danish; sent again with a deadline in the day, it is
 * taken. Real Postgres, a real gateway linked to central over MQTT.
 */
import anyTest, { type TestFn } from 'ava';
import type { Browser } from 'playwright-core';
import { browserMissing, launch, snap } from './helpers/browser.ts';
import { families } from './helpers/portal.ts';
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

test('a menu central refuses shows the refusal and why at the kiosk, not "sent"', async (t) => {
  t.timeout(180_000);
  const central = await families(t);
  const site = await startSite(t, { site: 'soendervang', linked: true, config: { central: central.site_link } });
  await eventually(
    () => (site.ledger.accounts.getCard('04000000003E01')?.state === 'active' ? true : undefined),
    15_000,
    'the link is up',
  );
  const context = await (browser as Browser).newContext({
    viewport: { width: 1280, height: 800 },
    hasTouch: true,
    locale: 'da-DK',
    timezoneId: 'UTC',
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

  await page.fill('[data-testid="menu-order-by"]', '23:30');
  await page.fill('[data-testid="menu-cancel-by"]', '22:00');
  await page.check('[data-menu-product="yoghurt"] input[type="checkbox"]');
  await page.click('[data-testid="menu-send"]');
  const message = page.locator('[data-testid="menu-message"]');
  await page.locator('[data-testid="menu-message"][data-menu-state="refused"]').waitFor({ timeout: 30_000 });
  const text = await message.innerText();
  t.regex(text, /^Centralen afviste menuen: Menuen er ikke gyldig/);
  t.regex(text, /senest på dagen/);
  t.notRegex(text, /sendt til forældrene/);
  t.false(await message.evaluate((el) => el.classList.contains('sent')));
  await snap(page, 'webshop-kiosk-menu-refused');
  // Central has no such menu; it set the change aside.
  const none = await central.api('GET', `/api/sites/soendervang/menus?from=${date}&to=${date}`);
  t.deepEqual(none.body.menus, []);

  // Sent again with the deadline in the day: taken, and said so.
  await page.fill('[data-testid="menu-order-by"]', '09:00');
  await page.fill('[data-testid="menu-cancel-by"]', '08:00');
  await page.click('[data-testid="menu-send"]');
  await page.locator('[data-testid="menu-message"][data-menu-state="accepted"]').waitFor({ timeout: 30_000 });
  t.is(await message.innerText(), 'Menuen er sendt til forældrene (1 varer).');
  await until(
    async () => {
      const r = await central.api('GET', `/api/sites/soendervang/menus?from=${date}&to=${date}`);
      return r.body.menus.length === 1 ? true : undefined;
    },
    'the menu at central',
    20_000,
  );
  // Coming back to the screen later shows what became of the day's menu.
  await page.click('#webshop [data-action="back"]');
  await page.click('[data-testid="open-webshop"]');
  await page.locator('[data-testid="menu-message"][data-menu-state="accepted"]').waitFor();
  await snap(page, 'webshop-kiosk-menu-accepted');
});
