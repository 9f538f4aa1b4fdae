/**
 * "Kortet virker ikke" and "Skolekontoret": the checklist answered from the child's live state
 * (the card, a block, the balance, a limit reached, the places), a support request that the
 * school office and the municipality read and answer in the portal and the guardian then reads;
 * another school's office sees nothing of this school (404), and every refusal changes nothing.
 */
import {
  checkPage,
  cprOf,
  families,
  menuLink,
  openContext,
  portalTests,
  SITE,
  signInFromLanding,
  text,
} from './helpers/portal.ts';

const { test, browser } = portalTests();

const check = (page: import('playwright-core').Page, key: string) => page.locator(`[data-check="${key}"]`);

test('the checklist follows the child’s state; a request reaches the office, which answers and closes it, and the guardian reads the answer', async (t) => {
  t.timeout(300_000); // a central, a provider, Chromium (and a gateway) on a busy machine
  const central = await families(t);
  const c = central.service.central;
  await central.api('PUT', '/api/people/roles', { cpr: cprOf('lone'), role: 'office', site: SITE, granted: true });

  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne');
  await (await menuLink(page, 'Kortet virker ikke')).click();
  await page.getByTestId('choose-account').getByRole('link', { name: 'Emma Jensen' }).click();
  await page.waitForURL(`${central.http}/konti/konto-emma/kortet-virker-ikke`);
  t.is(await check(page, 'card').getAttribute('data-ok'), 'yes');
  t.regex(await text(check(page, 'card')), /Kortet 1234-7K3M-Q9XA er barnets kort, og det er aktivt/);
  t.regex(await text(check(page, 'balance')), /Saldoen er 1\.424,50 kr\./);
  t.is(await check(page, 'limits').getAttribute('data-ok'), 'yes');
  t.regex(await text(check(page, 'places')), /Kortet må bruges her: Skole\./);
  await checkPage(t, page, '40-kortet-virker-ikke');

  // The card is blocked and school is not allowed (a limit reached: tests/portal-replacement.test.ts, with a till).
  await page.goto(`${central.http}/konti/konto-emma/kort`);
  await page.getByRole('button', { name: 'Spær kortet' }).click();
  await page.waitForURL(/besked=spaerret/);
  t.is((await central.api('PATCH', '/api/accounts/konto-emma', { place_kinds: [] })).status, 204);
  await page.goto(`${central.http}/konti/konto-emma/kortet-virker-ikke`);
  t.is(await check(page, 'card').getAttribute('data-ok'), 'no');
  t.regex(
    await text(check(page, 'card')),
    /Kortet 1234-7K3M-Q9XA er spærret\. Har barnet kortet igen, så åbn det under Kort\./,
  );
  t.is(
    await check(page, 'card').getByRole('link', { name: 'Gå til Kort' }).getAttribute('href'),
    '/konti/konto-emma/kort',
  );
  t.regex(
    await text(check(page, 'places-denied')),
    /Kortet må ikke bruges her: Skole\. Ret forbrugsstederne under Indstillinger\./,
  );
  await checkPage(t, page, '41-kortet-virker-ikke-fejl');

  // An empty message is refused by its field; nothing is sent.
  await page.getByTestId('send-request').click();
  await page.waitForLoadState();
  t.regex(await text(page.getByTestId('message-error')), /Skriv din besked/);
  t.is(await page.locator('#message').getAttribute('aria-invalid'), 'true');
  t.deepEqual(await c.support.ofAccount('konto-emma'), []);

  await page.locator('#message').fill('Kassen siger "Kortet kendes ikke" om morgenen.\nHun har det nye kort.');
  await page.getByTestId('send-request').click();
  await page.waitForURL(`${central.http}/konti/konto-emma/kortet-virker-ikke?besked=sendt`);
  const mine = page.getByTestId('requests').locator('[data-request]');
  t.is(await mine.count(), 1);
  t.is(await text(mine.getByTestId('request-state')), 'Åben');
  await checkPage(t, page, '42-henvendelse-sendt');

  // Lone at Emma's school reads and answers it.
  const office = await openContext(t, browser());
  await signInFromLanding(office.page, central, 'lone', '/?return=%2Fkontor');
  await office.page.waitForURL(`${central.http}/kontor/${SITE}`);
  const request = office.page.getByTestId('requests').locator('[data-request]');
  t.regex(await text(request), /Emma Jensen Fra Anne Hansen.*Åben Kassen siger "Kortet kendes ikke" om morgenen\./);
  await request.getByTestId('send-answer').click();
  await office.page.waitForLoadState();
  t.is(
    office.page.url(),
    `${central.http}/kontor/${SITE}/henvendelser/${await request.getAttribute('data-request')}/svar`,
  );
  t.regex(await text(office.page.getByTestId('error-summary')), /Skriv et svar/);
  await request.getByLabel('Svar').fill('Kortet var spærret. Vi har talt med Emma.');
  await checkPage(t, office.page, '62-kontor-henvendelse');
  await request.getByTestId('send-answer').click();
  await office.page.waitForURL(`${central.http}/kontor/${SITE}?besked=besvaret`);
  t.is(await text(request.getByTestId('request-state')), 'Besvaret');

  // Anne reads the answer.
  await page.goto(`${central.http}/konti/konto-emma/kortet-virker-ikke`);
  t.regex(
    await text(mine.getByTestId('answer')),
    /Svar fra Lone Madsen, .* Kortet var spærret\. Vi har talt med Emma\./,
  );
  t.is(await text(mine.getByTestId('request-state')), 'Besvaret');
  await checkPage(t, page, '43-henvendelse-besvaret');

  // The municipality (Jens, administrator) sees the school's requests too, and closes it.
  await central.api('PUT', '/api/people/roles', { cpr: cprOf('jens'), role: 'admin', granted: true });
  const jens = await openContext(t, browser());
  await signInFromLanding(jens.page, central, 'jens', '/?return=%2Fkontor');
  // One school in this municipality: straight to it.
  await jens.page.waitForURL(`${central.http}/kontor/${SITE}`);
  await jens.page.getByTestId('close-request').click();
  await jens.page.waitForURL(`${central.http}/kontor/${SITE}?besked=lukket`);
  t.is(await jens.page.locator('[data-request]').getAttribute('data-state'), 'closed');
  // A closed request takes no answer.
  const id = (await c.support.ofAccount('konto-emma'))[0]?.request_id;
  const csrf = await jens.page.locator('form.logout input[name="_csrf"]').inputValue();
  const late = await jens.context.request.post(`${central.http}/kontor/${SITE}/henvendelser/${id}/svar`, {
    form: { _csrf: csrf, answer: 'for sent' },
    maxRedirects: 0,
  });
  t.is(late.status(), 409);
  t.regex(await late.text(), /Henvendelsen er lukket/);
  t.is((await c.support.ofAccount('konto-emma'))[0]?.answer, 'Kortet var spærret. Vi har talt med Emma.');
});

test('another school’s office sees nothing of this school (404), a guardian and a relation are refused the office, a relation the checklist', async (t) => {
  t.timeout(300_000); // a central, a provider, Chromium (and a gateway) on a busy machine
  const central = await families(t);
  const c = central.service.central;
  await central.addSite('bakkeskolen');
  // Peter works at Bakkeskolen's office (and is Freja's guardian).
  await central.api('PUT', '/api/people/roles', {
    cpr: cprOf('peter'),
    role: 'office',
    site: 'bakkeskolen',
    granted: true,
  });
  await c.cards.put({ uid: '04000000009A01', kind: 'legacy', card_number: '1234-TEST-4X27', stock_site: SITE });
  const request = await c.support.open('konto-emma', { id: 'anne', name: 'Anne Hansen' }, 'Kortet virker ikke');

  const peter = await openContext(t, browser());
  await signInFromLanding(peter.page, central, 'peter', '/?return=%2Fkontor');
  await peter.page.waitForURL(`${central.http}/kontor/bakkeskolen`);
  t.is(await peter.page.getByTestId('no-requests').count(), 1);
  t.is(await peter.page.getByTestId('no-orders').count(), 1);
  const csrf = await peter.page.locator('form.logout input[name="_csrf"]').inputValue();
  const get = await peter.page.goto(`${central.http}/kontor/${SITE}`);
  t.is(get?.status(), 404);
  t.is(await peter.page.getByTestId('refusal').getAttribute('data-code'), 'not_found');
  await checkPage(t, peter.page, '63-kontor-anden-skole');
  for (const [path, form] of [
    [`/kontor/${SITE}/henvendelser/${request.request_id}/svar`, { answer: 'nej' }],
    [`/kontor/${SITE}/henvendelser/${request.request_id}/luk`, {}],
    [`/kontor/bakkeskolen/henvendelser/${request.request_id}/svar`, { answer: 'nej' }],
    [`/kontor/bakkeskolen/henvendelser/${request.request_id}/luk`, {}],
    [`/kontor/${SITE}/kort/0b7c3f0e-1a2b-4c3d-8e9f-001122334455/udlever`, { number: 'TEST-4X27' }],
    [`/kontor/bakkeskolen/kort/0b7c3f0e-1a2b-4c3d-8e9f-001122334455/udlever`, { number: 'TEST-4X27' }],
  ] as const) {
    const res = await peter.context.request.post(`${central.http}${path}`, {
      form: { _csrf: csrf, ...form },
      maxRedirects: 0,
    });
    t.is(res.status(), 404, path);
  }
  t.like((await c.support.ofAccount('konto-emma'))[0], { state: 'open', answer: null });
  t.is((await c.replacements.stockAt(SITE))[0]?.handed_to, null);

  // Anne (a guardian, no office) and Karen (a relation) are refused the office; Karen the checklist.
  for (const who of ['anne', 'karen']) {
    const { page } = await openContext(t, browser());
    await signInFromLanding(page, central, who);
    // The menu opened (its own entry is there), Skolekontoret is not.
    t.is(await (await menuLink(page, 'Profil')).count(), 1, `${who}: the menu is open`);
    t.is(await (await menuLink(page, 'Skolekontoret')).count(), 0, `${who}: no office in the menu`);
    t.is((await page.goto(`${central.http}/kontor/${SITE}`))?.status(), 403, who);
    t.is((await page.goto(`${central.http}/kontor`))?.status(), 403, who);
    if (who === 'karen') {
      t.is((await page.goto(`${central.http}/konti/konto-emma/kortet-virker-ikke`))?.status(), 403);
      const k = await page.locator('form.logout input[name="_csrf"]').inputValue();
      const res = await page.context().request.post(`${central.http}/konti/konto-emma/kortet-virker-ikke`, {
        form: { _csrf: k, message: 'hej' },
        maxRedirects: 0,
      });
      t.is(res.status(), 403);
    }
  }
  t.is((await c.support.ofAccount('konto-emma')).length, 1);
});

test('the office hands out only a blank card from its own pile; wrong numbers are refused by the field, nothing changes', async (t) => {
  t.timeout(300_000); // a central, a provider, Chromium (and a gateway) on a busy machine
  const central = await families(t);
  const c = central.service.central;
  await central.addSite('bakkeskolen');
  await central.api('PUT', '/api/people/roles', { cpr: cprOf('lone'), role: 'office', site: SITE, granted: true });
  await c.cards.put({ uid: '04000000009A01', kind: 'legacy', card_number: '1234-TEST-4X27', stock_site: SITE });
  await c.cards.put({
    uid: '04000000009B02',
    kind: 'legacy',
    card_number: '1234-B1AN-K8M7',
    stock_site: 'bakkeskolen',
  });
  // Noah's card may be used nowhere for now, so his money stays at central and the fee is taken at once.
  t.is((await central.api('PATCH', '/api/accounts/konto-noah', { place_kinds: [] })).status, 204);
  const finance = await central.tokenFor('finance');
  t.is((await central.api('POST', '/api/accounts/konto-noah/deposits', { amount_ore: 5_000 }, finance)).status, 201);
  const order = await c.replacements.order('konto-noah', 'anne', '0b7c3f0e-1a2b-4c3d-8e9f-001122334455');
  t.is(order.site_id, SITE);

  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'lone', '/?return=%2Fkontor');
  await page.waitForURL(`${central.http}/kontor/${SITE}`);
  t.regex(await text(page.getByTestId('stock')), /1234-TEST-4X27/);
  t.notRegex(await text(page.getByTestId('stock')), /B1AN/);
  const row = page.locator(`[data-order="${order.order_id}"]`);
  const field = row.getByLabel('Nummeret på det kort, barnet får (8 tegn)');
  for (const [typed, want, status] of [
    ['TEST-4X28', /^Kortnummeret er ikke gyldigt/, 400],
    ['B1AN-K8M7', /^Der ligger ikke et blankt kort med det nummer i skolens bunke/, 400], // Bakkeskolen's pile
    ['7K3M-Q9XA', /^Der ligger ikke et blankt kort med det nummer i skolens bunke/, 400], // Emma's card, in use
  ] as const) {
    await field.fill(typed);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST'),
      row.getByTestId('hand-out').click(),
    ]);
    t.is(res.status(), status, typed);
    await page.waitForLoadState();
    t.regex(await text(row.getByTestId('hand-out-error')), want, typed);
    t.is(await field.getAttribute('aria-invalid'), 'true');
  }
  await checkPage(t, page, '64-kontor-forkert-nummer');
  t.like((await c.replacements.ordersOf('konto-noah'))[0], { state: 'ordered', card_number: null });
  t.deepEqual(
    (await c.replacements.stockAt(SITE)).map((s) => s.handed_to),
    [null],
    'the blank card still lies in the pile',
  );
  // The whole printed number works as well as its last 8 characters.
  await field.fill('1234-TEST-4X27');
  await row.getByTestId('hand-out').click();
  await page.waitForURL(`${central.http}/kontor/${SITE}?besked=udleveret`);
  t.like((await c.replacements.ordersOf('konto-noah'))[0], { state: 'handed_out', card_number: '1234-TEST-4X27' });
  // Handed to Noah, the card is his to activate: not Emma's.
  const emma = await c.replacements.activate('konto-emma', 'anne', 'TEST-4X27').catch((e: { code: string }) => e.code);
  t.is(emma, 'card_in_use');
  t.deepEqual(await c.replacements.activate('konto-noah', 'anne', 'test-4x27'), { card_number: '1234-TEST-4X27' });
});
