import {
  accountCard,
  checkPage,
  families,
  menuLink,
  openContext,
  portalTests,
  signInFromLanding,
  text,
} from './helpers/portal.ts';

const { test, browser } = portalTests();

const CARD = '1234-7K3M-Q9XA';

test('a guardian blocks a lost card and re-opens it; Mine konti and central follow', async (t) => {
  const central = await families(t);
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne');
  // Two children: the menu's "Kort" asks which.
  await (await menuLink(page, 'Kort')).click();
  await page.waitForURL(`${central.http}/kort`);
  await page.getByTestId('choose-account').getByRole('link', { name: 'Emma Jensen' }).click();
  await page.waitForURL(`${central.http}/konti/konto-emma/kort`);
  const card = page.locator(`[data-card="${CARD}"]`);
  t.is(await text(card.getByTestId('card-state')), 'Aktivt');
  await checkPage(t, page, '20-kort');

  await card.getByRole('button', { name: 'Spær kortet' }).click();
  await page.waitForURL(`${central.http}/konti/konto-emma/kort?besked=spaerret`);
  t.regex(await text(page.getByTestId('message')), /Kortet er spærret\. Kassen afviser det inden for få sekunder\./);
  t.is(await text(card.getByTestId('card-state')), 'Spærret');
  const cards = await central.api('GET', '/api/accounts/konto-emma/cards');
  t.deepEqual(cards.body.cards, [{ number: CARD, state: 'blocked', kind: 'legacy' }]);
  await checkPage(t, page, '21-kort-spaerret');

  await page.goto(`${central.http}/konti`);
  t.regex(await text(accountCard(page, 'konto-emma').getByTestId('card-state')), /Spærret/);

  await page.goto(`${central.http}/konti/konto-emma/kort`);
  await card.getByRole('button', { name: 'Åbn kortet igen' }).click();
  await page.waitForURL(`${central.http}/konti/konto-emma/kort?besked=genaabnet`);
  t.is(await text(card.getByTestId('card-state')), 'Aktivt');
  t.is((await central.api('GET', '/api/accounts/konto-emma/cards')).body.cards[0].state, 'active');
});

test('a relation cannot open the cards: a page says so, and her forged form changes nothing', async (t) => {
  const central = await families(t);
  const { context, page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'karen');
  const refused = await page.goto(`${central.http}/konti/konto-emma/kort`);
  t.is(refused?.status(), 403);
  t.is(await page.getByTestId('refusal').getAttribute('data-code'), 'scope_denied');
  t.is(await page.locator('h1').innerText(), 'Det har du ikke adgang til');
  await checkPage(t, page, '22-kort-afvist');
  // The menu's "Kort" says the same: she has a child's statement, but no child's cards.
  const menu = await page.goto(`${central.http}/kort`);
  t.is(menu?.status(), 403);

  // Her own session's token on a form she should not have: refused, the card stays open.
  const csrf = await page.locator('form.logout input[name="_csrf"]').inputValue();
  const forged = await context.request.post(`${central.http}/konti/konto-emma/kort/${CARD}/spaer`, {
    form: { _csrf: csrf },
    maxRedirects: 0,
  });
  t.is(forged.status(), 403);
  t.regex(await forged.text(), /data-code="scope_denied"/);
  t.is((await central.api('GET', '/api/accounts/konto-emma/cards')).body.cards[0].state, 'active');
});

test('a form without the session’s CSRF token is refused with a page and blocks nothing', async (t) => {
  const central = await families(t);
  const { context, page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne');
  for (const form of [{ other: 'field' }, { _csrf: 'x'.repeat(43) }] as Record<string, string>[]) {
    const res = await context.request.post(`${central.http}/konti/konto-emma/kort/${CARD}/spaer`, {
      form,
      maxRedirects: 0,
    });
    t.is(res.status(), 403);
    t.regex(res.headers()['content-type'] ?? '', /^text\/html/);
    t.regex(await res.text(), /data-code="csrf_failed"/);
  }
  t.is((await central.api('GET', '/api/accounts/konto-emma/cards')).body.cards[0].state, 'active');
  // Another child's card number on Emma's page is not found, and nothing changes.
  const csrf = await page.locator('form.logout input[name="_csrf"]').inputValue();
  const other = await context.request.post(`${central.http}/konti/konto-emma/kort/1234-WXYZ-2345/spaer`, {
    form: { _csrf: csrf },
    maxRedirects: 0,
  });
  t.is(other.status(), 404);
  t.regex(await other.text(), /data-code="not_found"/);
});
