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

test('a guardian signs in with MitID and sees her children on Mine konti: balance, card and today’s spend', async (t) => {
  const central = await families(t);
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne');
  t.is(new URL(page.url()).pathname, '/konti');
  t.is(await page.locator('h1').innerText(), 'Mine konti');
  t.regex(await page.getByTestId('person-name').innerText(), /Anne Hansen/);
  t.is(await (await menuLink(page, 'Mine konti')).getAttribute('aria-current'), 'page');

  const emma = accountCard(page, 'konto-emma');
  t.regex(await emma.locator('h2').innerText(), /Emma Jensen/);
  // 200,00 + 1.234,50 − 10,00 (a card fee): Danish money, with the thousands point.
  t.is(await text(emma.getByTestId('balance')), '1.424,50 kr.');
  t.regex(await emma.getByTestId('card-state').innerText(), /Aktivt/);
  t.is(await text(emma.getByTestId('today-school')), '0,00 kr. af 50,00 kr.');
  const noah = accountCard(page, 'konto-noah');
  t.is(await text(noah.getByTestId('balance')), '0,00 kr.');
  t.regex(await noah.getByTestId('card-state').innerText(), /Intet kort/);
  // Another family's child is not on her page.
  t.is(await accountCard(page, 'konto-freja').count(), 0);
  await checkPage(t, page, '10-mine-konti');

  await page.getByRole('link', { name: 'English' }).click();
  await page.waitForURL(`${central.http}/konti`);
  t.is(await page.locator('h1').innerText(), 'My accounts');
  t.regex(await accountCard(page, 'konto-emma').getByTestId('card-state').innerText(), /Active/);
  await checkPage(t, page, '11-mine-konti-en');
});

test('the statement lists every entry of the period with the running balance, downloads as CSV, and ties a wrong date to its field', async (t) => {
  const central = await families(t);
  const { context, page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne');
  await accountCard(page, 'konto-emma').getByRole('link', { name: 'Kontoudtog' }).click();
  await page.waitForURL(`${central.http}/konti/konto-emma/kontoudtog`);
  t.regex(await page.locator('h1').innerText(), /Kontoudtog\s+Emma Jensen/);
  t.is(await (await menuLink(page, 'Kontoudtog')).getAttribute('aria-current'), 'page');
  const rows = page.getByTestId('statement').locator('tbody tr');
  const cells = async (i: number) =>
    (await rows.nth(i).locator('td').allInnerTexts()).map((s) => s.replace(/\s+/g, ' ').trim());
  t.is(await rows.count(), 3);
  // Newest first, each with the balance after it.
  t.like(await cells(0), { 1: 'Gebyr: Nyt kort', 3: '-10,00 kr.', 4: 'Saldo: 1.424,50 kr.' });
  t.like(await cells(1), { 1: 'Indsat', 3: '1.234,50 kr.', 4: 'Saldo: 1.434,50 kr.' });
  t.like(await cells(2), { 1: 'Indsat', 3: '200,00 kr.', 4: 'Saldo: 200,00 kr.' });
  t.is(await text(page.getByTestId('opening')), '0,00 kr.');
  t.is(await text(page.getByTestId('closing')), '1.424,50 kr.');
  await checkPage(t, page, '12-kontoudtog');

  // The CSV for Excel: the API's own download, with the browser's session.
  const href = (await page.getByTestId('csv').getAttribute('href')) as string;
  t.regex(href, /^\/api\/accounts\/konto-emma\/statement\?from=\d{4}-\d{2}-01&to=\d{4}-\d{2}-\d{2}&format=csv$/);
  const csv = await context.request.get(`${central.http}${href}`);
  t.is(csv.status(), 200);
  t.regex(csv.headers()['content-type'] ?? '', /^text\/csv/);
  const body = await csv.body();
  t.deepEqual([...body.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
  t.regex(body.toString('utf8'), /Gebyr: Nyt kort/);

  // Last month: nothing yet, and the balance carried.
  await page.getByRole('link', { name: 'Sidste måned' }).click();
  t.is(await page.getByRole('link', { name: 'Sidste måned' }).getAttribute('aria-current'), 'true');
  t.is(await page.getByTestId('no-lines').count(), 1);

  // A wrong date is an error beside its field (and in a summary linking to it), not a refusal.
  await page.getByLabel('Fra').fill('05-12-2026');
  await page.getByLabel('Til').fill('1.12.2026');
  await page.getByRole('button', { name: 'Vis' }).click();
  await page.getByTestId('error-summary').waitFor();
  t.is(await page.getByLabel('Til').getAttribute('aria-invalid'), 'true');
  t.is(await page.getByLabel('Fra').getAttribute('aria-invalid'), null);
  t.regex(await page.locator('#til-error').innerText(), /"Fra" skal være før/);
  t.regex((await page.getByLabel('Til').getAttribute('aria-describedby')) ?? '', /til-error/);
  await checkPage(t, page, '13-kontoudtog-fejl');
  // What was typed stays beside its error; a day that does not exist is an error on its own field.
  t.is(await page.getByLabel('Fra').inputValue(), '05-12-2026');
  await page.getByLabel('Fra').fill('31-02-2026');
  await page.getByLabel('Til').fill('01-03-2026');
  await page.getByRole('button', { name: 'Vis' }).click();
  await page.locator('#fra-error').waitFor();
  t.is(await page.getByLabel('Fra').getAttribute('aria-invalid'), 'true');
  t.is(await page.getByLabel('Til').getAttribute('aria-invalid'), null);
  t.regex(await page.getByTestId('error-summary').innerText(), /Skriv en dato som dd-mm-åååå/);

  // Chosen dates that hold show that period.
  const res = await page.goto(
    `${central.http}/konti/konto-emma/kontoudtog?periode=chosen&fra=01-01-2020&til=2020-01-31`,
  );
  t.is(res?.status(), 200);
  t.is(await page.getByTestId('no-lines').count(), 1);
});

test('a relation sees only the shared child, read only; another family and a token get refusal pages', async (t) => {
  const central = await families(t);
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'karen');
  const emma = accountCard(page, 'konto-emma');
  t.regex(await emma.innerText(), /Delt med dig/);
  t.is(await accountCard(page, 'konto-noah').count(), 0);
  // The menu's "Kontoudtog" goes straight to her only account's.
  await (await menuLink(page, 'Kontoudtog')).click();
  await page.waitForURL(`${central.http}/konti/konto-emma/kontoudtog`);
  t.is(await page.getByTestId('statement').locator('tbody tr').count(), 3);

  // Noah's statement is not hers to see: a page that says so, in Danish, and no JSON.
  const refused = await page.goto(`${central.http}/konti/konto-noah/kontoudtog`);
  t.is(refused?.status(), 404);
  t.regex(refused?.headers()['content-type'] ?? '', /^text\/html/);
  t.is(await page.getByTestId('refusal').getAttribute('data-code'), 'not_found');
  t.is(await page.locator('h1').innerText(), 'Siden findes ikke');
  t.regex(await page.getByTestId('person-name').innerText(), /Karen Hansen/);
  await checkPage(t, page, '14-afvist');

  // A service token is not a person: the page refuses it as a page too.
  const byToken = await fetch(`${central.http}/konti`, { headers: { authorization: `Bearer ${central.token}` } });
  t.is(byToken.status, 403);
  t.regex(byToken.headers.get('content-type') ?? '', /^text\/html/);
  t.regex(await byToken.text(), /data-code="scope_denied"/);
});

test('a visitor without a session is sent to sign in and comes back to the page; "Log af" ends the session', async (t) => {
  const central = await families(t);
  for (const [path, to] of [
    ['/konti', '/'],
    ['/kontoudtog', '/?return=%2Fkontoudtog'],
    [
      '/konti/konto-emma/kontoudtog?periode=last_month',
      '/?return=%2Fkonti%2Fkonto-emma%2Fkontoudtog%3Fperiode%3Dlast_month',
    ],
  ] as const) {
    const res = await fetch(`${central.http}${path}`, { redirect: 'manual' });
    t.is(res.status, 303, path);
    t.is(res.headers.get('location'), to, path);
  }
  const forged = await fetch(`${central.http}/konti`, {
    redirect: 'manual',
    headers: { cookie: '__Host-kantine_session=nope' },
  });
  t.is(forged.headers.get('location'), '/?ended=1');

  const { context, page } = await openContext(t, browser());
  await page.goto(`${central.http}/konti/konto-emma/kontoudtog`);
  t.is(new URL(page.url()).pathname, '/');
  await signInFromLanding(page, central, 'anne', '/?return=%2Fkonti%2Fkonto-emma%2Fkontoudtog');
  t.is(new URL(page.url()).pathname, '/konti/konto-emma/kontoudtog');

  // The header's "Log af" is a form with the session's CSRF token; the session ends at central.
  await page.getByTestId('log-out').click();
  // The provider asks whether to sign out there too (its own page), then sends the browser back.
  await page.locator('#logout-yes').click();
  await page.waitForURL((u) => u.origin === central.http && u.pathname === '/');
  t.is(await page.getByTestId('sign-in').count(), 1);
  const after = await context.request.get(`${central.http}/konti`, { maxRedirects: 0 });
  t.is(after.status(), 303);
  t.regex(after.headers().location ?? '', /^\/(\?|$)/);
});
