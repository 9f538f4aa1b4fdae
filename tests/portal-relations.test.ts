import {
  accountCard,
  checkPage,
  cprOf,
  families,
  openContext,
  portalTests,
  signInFromLanding,
  text,
} from './helpers/portal.ts';

const { test, browser } = portalTests();

test('a guardian invites by e-mail, the invited person accepts, and the guardian removes the relation again', async (t) => {
  const central = await families(t);
  const anne = await openContext(t, browser());
  await signInFromLanding(anne.page, central, 'anne', '/?return=%2Fkonti%2Fkonto-emma%2Frelationer');
  const page = anne.page;
  t.is(new URL(page.url()).pathname, '/konti/konto-emma/relationer');
  // Karen, shared by CPR number in the fixture, has not signed in yet: her number shows masked.
  const list = page.getByTestId('relations');
  t.regex(await text(list), /\d{6}-xxxx Venter på første login/);
  t.notRegex(await page.content(), new RegExp(cprOf('karen')));
  await checkPage(t, page, '30-relationer');

  await page.getByLabel('E-mailadresse').fill('ikke en adresse');
  await page.getByRole('button', { name: 'Inviter' }).click();
  await page.getByTestId('error-summary').waitFor();
  t.is(await page.getByLabel('E-mailadresse').getAttribute('aria-invalid'), 'true');
  t.regex(await text(page.locator('#email-error')), /gyldig e-mailadresse/);
  t.is(await page.getByLabel('E-mailadresse').inputValue(), 'ikke en adresse');
  await checkPage(t, page, '31-relationer-fejl');

  await page.getByLabel('E-mailadresse').fill('peter@example.dk');
  await page.getByRole('button', { name: 'Inviter' }).click();
  const link = await text(page.getByTestId('invite-link').locator('code'));
  t.regex(link, new RegExp(`^${central.http}/invitation/[A-Za-z0-9_-]{43}$`));
  t.regex(await text(list), /peter@example\.dk Inviteret på e-mail, gyldig til/);
  await checkPage(t, page, '32-relationer-link');

  // Peter opens the link: he signs in first, then accepts on the invitation's page.
  const peter = await openContext(t, browser());
  await peter.page.goto(link);
  await signInFromLanding(
    peter.page,
    central,
    'peter',
    new URL(peter.page.url()).pathname + new URL(peter.page.url()).search,
  );
  t.is(new URL(peter.page.url()).pathname, new URL(link).pathname);
  await checkPage(t, peter.page, '33-invitation');
  await peter.page.getByTestId('accept').click();
  await peter.page.waitForURL(`${central.http}/konti`);
  t.regex(await text(accountCard(peter.page, 'konto-emma')), /Delt med dig/);
  t.regex(await text(accountCard(peter.page, 'konto-freja')), /Du er forælder/);
  // The link worked once.
  await peter.page.goto(link);
  await peter.page.getByTestId('accept').click();
  t.is(await peter.page.getByTestId('refusal').getAttribute('data-code'), 'invite_invalid');

  await page.goto(`${central.http}/konti/konto-emma/relationer`);
  await page.getByRole('button', { name: 'Fjern Peter Jensen' }).click();
  await page.waitForURL(`${central.http}/konti/konto-emma/relationer?besked=fjernet`);
  t.regex(await text(page.getByTestId('message')), /Relationen er fjernet/);
  await peter.page.goto(`${central.http}/konti`);
  t.is(await accountCard(peter.page, 'konto-emma').count(), 0);
});

test('a guardian shares by CPR number, which is never shown again; a wrong number is an error beside its field', async (t) => {
  const central = await families(t);
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne', '/?return=%2Fkonti%2Fkonto-noah%2Frelationer');
  t.is(await page.getByTestId('no-relations').count(), 1);
  await page.getByRole('textbox', { name: 'CPR-nummer' }).fill('12345');
  await page.getByRole('button', { name: 'Del kontoen' }).click();
  await page.locator('#cpr-error').waitFor();
  t.is(await page.getByRole('textbox', { name: 'CPR-nummer' }).getAttribute('aria-invalid'), 'true');
  t.is(await page.getByRole('textbox', { name: 'CPR-nummer' }).inputValue(), '');

  const cpr = cprOf('karen');
  await page.getByRole('textbox', { name: 'CPR-nummer' }).fill(`${cpr.slice(0, 6)}-${cpr.slice(6)}`);
  await page.getByRole('button', { name: 'Del kontoen' }).click();
  await page.waitForURL(`${central.http}/konti/konto-noah/relationer?besked=delt`);
  t.regex(await text(page.getByTestId('relations')), new RegExp(`${cpr.slice(0, 6)}-xxxx`));
  t.notRegex(await page.content(), new RegExp(`${cpr.slice(0, 6)}-?${cpr.slice(6)}`));
});

test('a relation cannot open the relations of the child shared with her', async (t) => {
  const central = await families(t);
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'karen');
  const res = await page.goto(`${central.http}/konti/konto-emma/relationer`);
  t.is(res?.status(), 403);
  t.is(await page.getByTestId('refusal').getAttribute('data-code'), 'scope_denied');
  const menu = await page.goto(`${central.http}/relationer`);
  t.is(menu?.status(), 403);
});
