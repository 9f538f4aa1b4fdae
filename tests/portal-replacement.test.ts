/**
 * "Kort": a replacement card ordered in the portal (10 kr as its own fee line), handed out at the
 * school office, activated by the number printed on it — and the till (a real gateway, taps
 * through the simulated reader) then declines the old card `card_replaced` and sells to the new
 * one. Every refusal of an activation changes nothing, and guessing is rate-limited.
 */
import {
  checkPage,
  cprOf,
  families,
  openContext,
  portalTests,
  SITE,
  signInFromLanding,
  text,
} from './helpers/portal.ts';
import { startSite } from './helpers/site.ts';
import { eventually, until } from './helpers/wait.ts';

const { test, browser } = portalTests();

const OLD_CARD = '04000000003E01';
const NEW_CARD = '04000000009A01';
/** Printed on the new card's back: the guardian types the 8 characters after the 4 digits. */
const NEW_NUMBER = '1234-TEST-4X27';

/** Emma's school office has a blank card (a carried-over UID card) in its pile; Lone runs the office. */
async function withStock(central: Awaited<ReturnType<typeof families>>, opts: { site?: string } = {}) {
  const c = central.service.central;
  await c.cards.put({ uid: NEW_CARD, kind: 'legacy', card_number: NEW_NUMBER, stock_site: opts.site ?? SITE });
  const grant = await central.api('PUT', '/api/people/roles', {
    cpr: cprOf('lone'),
    role: 'office',
    site: SITE,
    granted: true,
  });
  if (grant.status !== 204) throw new Error(`grant: ${grant.status}`);
  return c;
}

test('a replacement card: ordered with its fee, handed out at the office, activated by its number; the till declines the old card and sells to the new', async (t) => {
  t.timeout(300_000); // a central, a provider, Chromium (and a gateway) on a busy machine
  const central = await families(t);
  const c = await withStock(central);
  const site = await startSite(t, { site: SITE, linked: true, config: { central: central.site_link } });
  await eventually(
    () => (site.ledger.accounts.getCard(OLD_CARD)?.state === 'active' ? true : undefined),
    10_000,
    "Emma's card at the school",
  );
  const reader = await site.reader('laeser-kort');
  const tap = async (uid: string, items: Record<string, number>) => {
    site.ledger.baskets.setBasket(
      'till-1',
      Object.entries(items).map(([product_id, quantity]) => ({ product_id, quantity })),
    );
    const r = await reader.tap(uid);
    return r.kind === 'decision' ? r.decision : undefined;
  };
  t.is((await tap(OLD_CARD, { yoghurt: 1 }))?.outcome, 'approved');

  // Anne orders a new card: 10 kr leaves the balance as its own line, the order waits at the office.
  const balance = async () => Number((await c.accounts.get('konto-emma'))?.balance_ore);
  // The purchase reaches central first (142,450 − 6 kr).
  await until(async () => ((await balance()) === 141_850 ? true : undefined), 'the sale at central');
  const before = await balance();
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne', '/?return=%2Fkonti%2Fkonto-emma%2Fkort');
  await checkPage(t, page, '23-kort-nyt-kort');
  await page.getByTestId('order-card').click();
  await page.waitForURL(`${central.http}/konti/konto-emma/kort?besked=bestilt`);
  t.regex(await text(page.getByTestId('message')), /Det nye kort er bestilt/);
  t.is(await page.getByTestId('order-state').getAttribute('data-state'), 'ordered');
  t.is(await balance(), before - 1_000);
  const entries = await c.money.entries('konto-emma');
  const fee = entries[entries.length - 1];
  t.like(fee, { kind: 'fee', reason: 'Nyt kort' });
  t.is(Number(fee?.amount_ore), -1_000);
  const day = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString().slice(0, 10);
  const statement = await central.api('GET', `/api/accounts/konto-emma/statement?from=${day(-2)}&to=${day(2)}`);
  t.true(
    (statement.body.lines as { text: string; amount_ore: number }[]).some(
      (l) => l.text === 'Gebyr: Nyt kort' && l.amount_ore === -1_000,
    ),
    'the fee is its own statement line',
  );
  await checkPage(t, page, '24-kort-bestilt');
  // A second order while this one is open (a form from another tab) is refused: one order, one fee.
  const csrf = await page.locator('form.logout input[name="_csrf"]').inputValue();
  const again = await page.context().request.post(`${central.http}/konti/konto-emma/kort/bestil`, {
    form: { _csrf: csrf, order_id: '0b7c3f0e-1a2b-4c3d-8e9f-001122334455' },
    maxRedirects: 0,
  });
  t.is(again.status(), 409);
  t.regex(await again.text(), /Der er allerede bestilt et nyt kort til barnet/);
  t.is((await c.replacements.ordersOf('konto-emma')).length, 1);
  t.is(await balance(), before - 1_000);

  // Lone at the office hands the blank card to Emma.
  const office = await openContext(t, browser());
  await signInFromLanding(office.page, central, 'lone', '/?return=%2Fkontor');
  await office.page.waitForURL(`${central.http}/kontor/${SITE}`);
  t.regex(await text(office.page.getByTestId('stock-count')), /^1 blankt kort på lager\.$/);
  const order = office.page.locator('[data-order]');
  t.regex(await text(order.locator('h3')), /Emma Jensen/);
  await order.getByLabel('Nummeret på det kort, barnet får (8 tegn)').fill('TEST-4X27');
  await checkPage(t, office.page, '60-kontor');
  await order.getByTestId('hand-out').click();
  await office.page.waitForURL(`${central.http}/kontor/${SITE}?besked=udleveret`);
  t.is(await order.getAttribute('data-state'), 'handed_out');
  t.regex(await text(office.page.getByTestId('stock-handed')), /1234-TEST-4X27 – Emma Jensen/);
  await checkPage(t, office.page, '61-kontor-udleveret');

  // Anne activates it by its number.
  await page.goto(`${central.http}/konti/konto-emma/kort`);
  t.is(await page.getByTestId('order-state').getAttribute('data-state'), 'handed_out');
  await page.getByLabel('Kortnummer (8 tegn)').fill('TEST-4X27');
  await page.getByTestId('activate').click();
  await page.waitForURL(`${central.http}/konti/konto-emma/kort?besked=aktiveret`);
  t.is(await page.locator(`[data-card="${NEW_NUMBER}"]`).getAttribute('data-state'), 'active');
  t.is(await page.locator('[data-card="1234-7K3M-Q9XA"]').getAttribute('data-state'), 'replaced');
  await checkPage(t, page, '25-kort-aktiveret');
  t.is(await balance(), before - 1_000, 'the new card took over the balance');

  // The till follows: the old card is declined as replaced, the new one buys.
  await eventually(
    () =>
      site.ledger.accounts.getCard(NEW_CARD)?.state === 'active' &&
      site.ledger.accounts.getCard(OLD_CARD)?.state === 'replaced'
        ? true
        : undefined,
    10_000,
    'the new card at the school',
  );
  const old = await tap(OLD_CARD, { yoghurt: 1 });
  t.is(old?.outcome, 'declined');
  t.is(old?.code, 'card_replaced');
  const bought = await tap(NEW_CARD, { yoghurt: 1 });
  t.is(bought?.outcome, 'approved');

  // 12 kr spent at school today; a day limit of 12 kr is then reached, and "Kortet virker ikke" says so.
  await until(
    async () => ((await c.accounts.views.spend('konto-emma', ['school']))[0]?.spent_ore === 1_200 ? true : undefined),
    'the sales at central',
  );
  t.is(
    (
      await central.api('PATCH', '/api/accounts/konto-emma', {
        limits: [{ place_kind: 'school', period: 'day', limit_ore: 1_200 }],
      })
    ).status,
    204,
  );
  await page.goto(`${central.http}/konti/konto-emma/kortet-virker-ikke`);
  const limit = page.locator('[data-check="limit-school-day"]');
  t.is(await limit.getAttribute('data-ok'), 'no');
  t.regex(await text(limit), /Skole: grænsen pr\. dag er nået \(12,00 kr\. af 12,00 kr\.\)\. Vent til næste dag/);
  t.regex(await text(page.locator('[data-check="card"]')), /Kortet 1234-TEST-4X27 er barnets kort/);
  t.regex(await text(page.locator('[data-check="replaced"]')), /1234-7K3M-Q9XA/);
  await checkPage(t, page, '44-kortet-virker-ikke-graense');
  t.is((await tap(NEW_CARD, { yoghurt: 1 }))?.code, 'limit_exceeded_day');
});

test('wrong, used and other schools’ numbers are refused by the field with nothing changed, and guessing is rate-limited', async (t) => {
  t.timeout(300_000); // a central, a provider, Chromium (and a gateway) on a busy machine
  const central = await families(t);
  const c = await withStock(central);
  await central.addSite('bakkeskolen');
  await c.cards.put({
    uid: '04000000009B02',
    kind: 'legacy',
    card_number: '1234-B1AN-K8M7',
    stock_site: 'bakkeskolen',
  });
  const { context, page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne', '/?return=%2Fkonti%2Fkonto-emma%2Fkort');
  const cards = async () => (await central.api('GET', '/api/accounts/konto-emma/cards')).body.cards;
  const before = await cards();
  const tryNumber = async (typed: string) => {
    await page.getByLabel('Kortnummer (8 tegn)').fill(typed);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST'),
      page.getByTestId('activate').click(),
    ]);
    await page.waitForLoadState();
    return { status: res.status(), error: await text(page.getByTestId('number-error')) };
  };

  // A slip the check character catches: not a number at all, and not counted.
  const slip = await tryNumber('TEST-4X28');
  t.is(slip.status, 400);
  t.regex(slip.error, /^Kortnummeret er ikke gyldigt\. Skriv de 8 tegn/);
  t.is(await page.locator('#number').getAttribute('aria-invalid'), 'true');
  t.is(await page.locator('#number').inputValue(), 'TEST-4X28', 'what was typed stays');
  await checkPage(t, page, '26-kort-forkert-nummer');
  // Another school's blank card: the same answer as a number no card has.
  const other = await tryNumber('B1AN-K8M7');
  t.is(other.status, 400);
  t.regex(other.error, /^Der er ikke et nyt kort med det nummer på barnets skole/);
  t.is((await tryNumber('B1AN-K9PV')).error, other.error);
  // Emma's own card: in use.
  const used = await tryNumber('7K3M-Q9XA');
  t.is(used.status, 409);
  t.regex(used.error, /^Kortet er allerede taget i brug/);
  t.deepEqual(await cards(), before, 'nothing changed');
  for (const slipAgain of ['', 'x'.repeat(30), '<script>']) t.is((await tryNumber(slipAgain)).status, 400);

  // Two more wrong numbers make five in the window: then even the right number waits.
  await tryNumber('B1AN-K8M7');
  await tryNumber('B1AN-K8M7');
  const limited = await tryNumber('TEST-4X27');
  t.is(limited.status, 429);
  t.regex(limited.error, /^For mange forsøg/);
  t.deepEqual(await cards(), before, 'nothing changed');
  t.is((await c.replacements.stockAt(SITE)).length, 1, 'the blank card still lies in the pile');

  // The API's CSRF rule holds for these forms too; a relation is refused.
  const noCsrf = await context.request.post(`${central.http}/konti/konto-emma/kort/aktiver`, {
    form: { number: 'TEST-4X27' },
    maxRedirects: 0,
  });
  t.is(noCsrf.status(), 403);
  const karen = await openContext(t, browser());
  await signInFromLanding(karen.page, central, 'karen');
  const csrf = await karen.page.locator('form.logout input[name="_csrf"]').inputValue();
  for (const path of ['kort/aktiver', 'kort/bestil']) {
    const res = await karen.context.request.post(`${central.http}/konti/konto-emma/${path}`, {
      form: { _csrf: csrf, number: 'TEST-4X27' },
      maxRedirects: 0,
    });
    t.is(res.status(), 403, path);
    t.regex(await res.text(), /data-code="scope_denied"/);
  }
  // Peter (Freja's guardian) learns nothing of Emma.
  const peter = await openContext(t, browser());
  await signInFromLanding(peter.page, central, 'peter');
  const peterCsrf = await peter.page.locator('form.logout input[name="_csrf"]').inputValue();
  const res = await peter.context.request.post(`${central.http}/konti/konto-emma/kort/aktiver`, {
    form: { _csrf: peterCsrf, number: 'TEST-4X27' },
    maxRedirects: 0,
  });
  t.is(res.status(), 404);
  t.deepEqual(await cards(), before);
  t.is((await c.replacements.ordersOf('konto-emma')).length, 0);
});

test('an order is refused with the balance too low, or held by a school that is offline; no fee is taken', async (t) => {
  t.timeout(300_000); // a central, a provider, Chromium (and a gateway) on a busy machine
  const central = await families(t);
  const c = await withStock(central);
  const { page } = await openContext(t, browser());
  // Noah has no money: the fee cannot be paid.
  await signInFromLanding(page, central, 'anne', '/?return=%2Fkonti%2Fkonto-noah%2Fkort');
  const [noah] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.getByTestId('order-card').click(),
  ]);
  t.is(noah.status(), 400);
  await page.waitForLoadState();
  t.regex(await text(page.getByTestId('order-error')), /^Saldoen er for lav/);
  t.is((await c.money.entries('konto-noah')).length, 0);
  t.is((await c.replacements.ordersOf('konto-noah')).length, 0);

  // Emma's money lies at her school, whose gateway is not running: the page waits, then says so.
  await page.goto(`${central.http}/konti/konto-emma/kort`);
  const entries = (await c.money.entries('konto-emma')).length;
  const [emma] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.getByTestId('order-card').click(),
  ]);
  t.is(emma.status(), 503);
  await page.waitForLoadState();
  t.regex(await text(page.getByTestId('order-error')), /^En del af saldoen ligger på en skole uden forbindelse/);
  t.is((await c.money.entries('konto-emma')).length, entries);
  t.is((await c.replacements.ordersOf('konto-emma')).length, 0);
});
