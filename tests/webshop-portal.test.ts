/**
 * The webshop in the portal (issue 20), in Chromium through the dev identity provider: the child's
 * rules refuse with the till's reasons; a closed day takes no order; a relation without the
 * guardian's permission gets a refusal page. Ordering and paying, with the school's gateway online
 * (a canteen-card purchase recalls the school's share of the balance): tests/webshop-portal-till.test.ts.
 */
import {
  checkPage,
  families,
  menuLink,
  openContext,
  portalTests,
  SITE,
  signInFromLanding,
  text,
} from './helpers/portal.ts';
import { APPROVED_CARD, startPsp } from './helpers/psp.ts';
import { startSite } from './helpers/site.ts';
import { eventually } from './helpers/wait.ts';
import { balanceOf, fillBasket, localDay, orderState, putMenu } from './helpers/webshop-portal.ts';

const { test, browser } = portalTests();

// Emma's money in families(): 200 + 1.234,50 − 10 kr.
const EMMA_BALANCE = 142_450;

test("the child's rules: a denied category and an allergy show the till's reason before paying; over the day's limit is refused with the till's reason and nothing is booked", async (t) => {
  const central = await families(t);
  const tomorrow = localDay(1);
  await putMenu(central, tomorrow);
  const patched = await central.api('PATCH', '/api/accounts/konto-emma', {
    denied_categories: ['slik'],
    allergies: ['aeg'],
  });
  t.is(patched.status, 204);
  const { context, page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne', '/?return=%2Fkonti%2Fkonto-emma%2Fwebshop');

  // In the menu: the soft drink cannot be ordered (the till's words), the meatballs warn of egg.
  const soda = page.locator('[data-item="sodavand"]');
  t.regex(await text(soda.getByTestId('item-warning')), /^Barnet må ikke købe denne slags vare$/);
  t.is(await soda.locator('input').count(), 0);
  t.regex(await text(page.locator('[data-item="frikadeller"]').getByTestId('item-warning')), /allergisk over for æg/);
  await checkPage(t, page, '75-webshop-menu-regler');

  // One portion of meatballs: the basket warns of egg, and paying needs the allergy confirmed.
  await fillBasket(page, { frikadeller: 1 });
  t.regex(
    await text(page.getByTestId('rules')),
    /Vent – kurven skal tjekkes for allergi – Barnet er allergisk over for æg/,
  );
  await page.getByLabel(/Betalingskort/).check();
  await page.getByTestId('pay').click();
  await page.getByTestId('error-summary').waitFor();
  t.regex(await text(page.getByTestId('error-summary')), /Bekræft allergien/);
  t.is(await page.locator('#bekraeft').getAttribute('aria-invalid'), 'true');
  t.true(await page.getByLabel(/Betalingskort/).isChecked(), 'the choice is kept');

  // Two portions: 70 kr, over Emma's 50 kr day at school — the basket says so before paying.
  await page.getByTestId('change-basket').click();
  await fillBasket(page, { frikadeller: 2 });
  t.regex(await text(page.getByTestId('error-summary')), /Ordren kan ikke gennemføres: Dagens maks forbrug er nået/);
  t.is(await page.locator('[data-testid="error-summary"] li[data-code="limit_exceeded_day"]').count(), 1);
  t.is(await page.getByTestId('pay-form').count(), 0, 'nothing to pay');
  await checkPage(t, page, '76-webshop-kurv-over-graensen');

  // Paying anyway (a forged form) is refused at central with the same reason; nothing is booked.
  {
    const csrf = await page.locator('form.logout input[name="_csrf"]').inputValue();
    const over = await context.request.post(`${central.http}/konti/konto-emma/webshop/bestil`, {
      form: {
        _csrf: csrf,
        sted: 'soendervang.kantinen',
        dato: tomorrow,
        antal_frikadeller: '2',
        ordre_id: '01937a2b-0000-7000-8000-000000000004',
        betaling: 'kantinekort',
        bekraeft_allergi: 'ja',
      },
      maxRedirects: 0,
    });
    t.is(over.status(), 409);
    t.regex(await over.text(), /data-code="limit_exceeded_day">Dagens maks forbrug er nået/);
  }
  t.is(await balanceOf(central), EMMA_BALANCE, 'nothing booked');

  // A forged basket with the denied soft drink: the basket page says why and offers no payment…
  const csrf = await page.locator('form.logout input[name="_csrf"]').inputValue();
  const form = { _csrf: csrf, sted: 'soendervang.kantinen', dato: tomorrow, antal_sodavand: '1' };
  await page.goto(`${central.http}/konti/konto-emma/webshop`);
  const basket = await context.request.post(`${central.http}/konti/konto-emma/webshop/kurv`, { form });
  t.is(basket.status(), 200);
  const html = await basket.text();
  t.regex(html, /data-code="category_not_allowed"><strong>Barnet må ikke købe denne slags vare/);
  t.notRegex(html, /data-testid="pay-form"/);
  // …and paying for it anyway is refused at central with the till's code.
  const paid = await context.request.post(`${central.http}/konti/konto-emma/webshop/bestil`, {
    form: { ...form, ordre_id: '01937a2b-0000-7000-8000-000000000001', betaling: 'kantinekort' },
    maxRedirects: 0,
  });
  t.is(paid.status(), 409);
  t.regex(await paid.text(), /data-code="category_not_allowed">Barnet må ikke købe denne slags vare/);
  t.is(await balanceOf(central), EMMA_BALANCE, 'still nothing booked');
  const orders = await central.api('GET', '/api/accounts/konto-emma/webshop/orders');
  t.is(orders.status, 200, JSON.stringify(orders.body));
  t.deepEqual(orders.body.orders, []);
});

test('a closed day says so and takes no order; a wrong quantity is an error beside its field', async (t) => {
  const central = await families(t);
  const today = localDay(0);
  const tomorrow = localDay(1);
  await putMenu(central, today, { closed: true });
  await putMenu(central, tomorrow);
  const { context, page } = await openContext(t, browser());
  await signInFromLanding(
    page,
    central,
    'anne',
    `/?return=${encodeURIComponent(`/konti/konto-emma/webshop?dato=${today}`)}`,
  );
  await page.getByTestId('menu-closed').waitFor();
  t.regex(await text(page.getByTestId('menu-closed')), /kan ikke længere bestilles/);
  t.is(await page.getByTestId('to-basket').count(), 0);

  const csrf = await page.locator('form.logout input[name="_csrf"]').inputValue();
  const late = await context.request.post(`${central.http}/konti/konto-emma/webshop/bestil`, {
    form: {
      _csrf: csrf,
      sted: 'soendervang.kantinen',
      dato: today,
      antal_yoghurt: '1',
      ordre_id: '01937a2b-0000-7000-8000-000000000002',
      betaling: 'kantinekort',
    },
    maxRedirects: 0,
  });
  t.is(late.status(), 409);
  t.regex(await late.text(), /data-code="webshop_order_closed"/);
  t.is(await balanceOf(central), EMMA_BALANCE);

  // Tomorrow: "mange" yoghurts is not a number; the basket is not made.
  await page.goto(`${central.http}/konti/konto-emma/webshop?dato=${tomorrow}`);
  await page.locator('#antal-yoghurt').evaluate((el, v) => {
    (el as unknown as { type: string; value: string }).type = 'text';
    (el as unknown as { value: string }).value = v;
  }, 'mange');
  await page.getByTestId('to-basket').click();
  await page.getByTestId('error-summary').waitFor();
  t.is(await page.locator('#antal-yoghurt').getAttribute('aria-invalid'), 'true');
  t.regex(await text(page.getByTestId('error-summary')), /Yoghurt: Skriv et helt antal fra 0 til 20/);
  await checkPage(t, page, '77-webshop-menu-fejl');
  // An empty basket is not a basket either.
  await page.locator('#antal-yoghurt').fill('0');
  await page.getByTestId('to-basket').click();
  await page.getByTestId('error-summary').waitFor();
  t.regex(await text(page.getByTestId('error-summary')), /Kurven er tom/);
});

test("a relation without the guardian's permission gets a clear refusal page and her forged order changes nothing; once allowed she may order", async (t) => {
  const central = await families(t);
  const tomorrow = localDay(1);
  await putMenu(central, tomorrow);
  const { context, page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'karen');

  // Karen has Emma only: "Webshop" goes straight to Emma's, which is refused with the reason.
  await (await menuLink(page, 'Webshop')).click();
  await page.getByTestId('refusal').waitFor();
  t.is(await page.getByTestId('refusal').getAttribute('data-code'), 'webshop_relation_not_allowed');
  t.regex(await text(page.locator('h1')), /Det har du ikke adgang til/);
  await checkPage(t, page, '78-webshop-relation-afvist');
  t.is((await page.goto(`${central.http}/konti/konto-emma/webshop`))?.status(), 403);
  t.is((await page.goto(`${central.http}/konti/konto-emma/ordrer`))?.status(), 403);

  const csrf = await page.locator('form.logout input[name="_csrf"]').inputValue();
  const forged = await context.request.post(`${central.http}/konti/konto-emma/webshop/bestil`, {
    form: {
      _csrf: csrf,
      sted: 'soendervang.kantinen',
      dato: tomorrow,
      antal_yoghurt: '1',
      ordre_id: '01937a2b-0000-7000-8000-000000000003',
      betaling: 'kantinekort',
    },
    maxRedirects: 0,
  });
  t.is(forged.status(), 403);
  t.is(await balanceOf(central), EMMA_BALANCE);
  t.deepEqual((await central.api('GET', '/api/accounts/konto-emma/webshop/orders')).body.orders, []);

  // Anne allows her on the webshop's page for relations: now the menu opens for Karen.
  const anne = await openContext(t, browser());
  await signInFromLanding(anne.page, central, 'anne', '/?return=%2Fkonti%2Fkonto-emma%2Fwebshop');
  await anne.page.getByTestId('relations-link').click();
  const karen = anne.page.getByTestId('webshop-relations').locator('li');
  t.is(await karen.count(), 1);
  t.regex(await text(karen.getByTestId('allowed')), /^Må ikke bestille$/);
  await karen.getByTestId('toggle').click();
  await anne.page.waitForURL(/\/konti\/konto-emma\/webshop\/relationer\?besked=tilladt/);
  t.regex(await text(anne.page.getByTestId('message')), /må nu bestille i webshoppen/);
  t.regex(await text(karen.getByTestId('allowed')), /^Må bestille$/);
  await checkPage(t, anne.page, '80-webshop-relationer');
  const allowed = await page.goto(`${central.http}/konti/konto-emma/webshop`);
  t.is(allowed?.status(), 200);
  t.is(await page.locator('#dato').inputValue(), tomorrow);
});

test('a guardian pays by bank card: the provider\'s page, back to "Afventer betaling" until central has verified the payment, then "Betalt"', async (t) => {
  const psp = await startPsp(t);
  const central = await families(t, { payments: psp.config() });
  await psp.admin('POST', '/admin/config', { webhook_url: `${central.http}/payments/webhook` });
  const tomorrow = localDay(1);
  await putMenu(central, tomorrow);
  // The school online: it gives back its share of Emma's day limit for an order of another day.
  const site = await startSite(t, { site: SITE, linked: true, config: { central: central.site_link } });
  await eventually(
    () => (site.ledger.accounts.getAccount('konto-emma') ? true : undefined),
    15_000,
    'Emma at the school',
  );
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne', '/?return=%2Fkonti%2Fkonto-emma%2Fwebshop');
  await fillBasket(page, { 'stor-grovbolle': 1, yoghurt: 1 });
  await page.getByLabel(/Betalingskort/).check();
  await page.getByTestId('pay').click();
  // The provider's hosted page (its own address).
  await page
    .waitForURL((u) => u.origin === new URL(psp.url).origin)
    .catch(async (err) => {
      throw new Error(`not at the provider: ${page.url()} ${await text(page.locator('main'))}`, { cause: err });
    });
  const providerPage = page.url();

  // Before paying, "Vis ordrer" shows the order waiting; its page offers the way back to pay.
  await page.goto(`${central.http}/konti/konto-emma/ordrer`);
  t.regex(await text(page.locator('[data-order]')), /Afventer betaling.*11,00 kr\./);
  await page.locator('[data-order]').getByTestId('show-order').click();
  t.deepEqual(await orderState(page), { state: 'awaiting_payment', text: 'Afventer betaling' });
  t.regex(await text(page.getByTestId('pending')), /Betalingen er ikke bekræftet endnu/);
  await checkPage(t, page, '81-webshop-afventer-betaling');
  const orderUrl = page.url();
  t.is(await page.getByTestId('pay-again').getAttribute('href'), providerPage);

  // Pays on the provider's page; back on the order's page, which says "Betalt" once central has verified it.
  await page.getByTestId('pay-again').click();
  await page.locator('#card_number').fill(APPROVED_CARD);
  await page.locator('#expiry').fill('12/39');
  await page.locator('#cvc').fill('123');
  await page.getByRole('button', { name: /^Betal/ }).click();
  await page.waitForURL((u) => u.href.startsWith(orderUrl));
  for (let i = 0; i < 50 && (await orderState(page)).state !== 'paid'; i++) {
    await new Promise((r) => setTimeout(r, 200));
    await page.getByTestId('refresh').click();
  }
  t.deepEqual(await orderState(page), { state: 'paid', text: 'Betalt' });
  t.is(await text(page.getByTestId('paid-with')), 'Betalingskort');
  t.is(await balanceOf(central), EMMA_BALANCE, 'the canteen card is not charged');
});
