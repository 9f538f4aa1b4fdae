/**
 * "Profil": e-mail, mobile and language for receipts and alerts (issue 18), in real Chromium
 * signed in through the dev identity provider. Slips are errors beside their fields and save
 * nothing; what is saved is where central's mail module sends a guardian's mail.
 */
import { guardianAddresses, mailAddressOf } from '@kantine/central/mail';
import { normalMobile } from '@kantine/portal';
import { checkPage, families, openContext, portalTests, signInFromLanding, text } from './helpers/portal.ts';

const { test, browser } = portalTests();

test('a guardian sets the e-mail and mobile for receipts and the language; the mail module sends there', async (t) => {
  const central = await families(t);
  const db = central.service.central.db;
  const { context, page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne', '/?return=%2Fprofil');
  t.is(new URL(page.url()).pathname, '/profil');
  const contact = async () => (await context.request.get(`${central.http}/api/me/contact`)).json();
  const signInEmail = (await contact()).sign_in_email as string | null;
  const [anne] = await guardianAddresses(db, 'konto-emma');
  // Before she chooses one, mail goes to the e-mail her sign-in gave (when it gave one).
  t.is(anne?.address, signInEmail ?? undefined);

  const form = page.getByTestId('contact');
  await form.getByRole('textbox', { name: 'E-mail' }).fill('anne@@eksempel');
  await form.getByRole('textbox', { name: 'Mobilnummer' }).fill('1234');
  await page.getByTestId('save-contact').click();
  await page.getByTestId('error-summary').waitFor();
  t.is(await page.locator('#email').getAttribute('aria-invalid'), 'true');
  t.is(await page.locator('#mobile').getAttribute('aria-invalid'), 'true');
  t.is(await page.locator('#mobile').inputValue(), '1234');
  t.regex(await text(page.getByTestId('error-summary')), /E-mail: Skriv en e-mailadresse/);
  await checkPage(t, page, '42-profil-kontakt-fejl');
  t.like(await contact(), { email: null, mobile: null, lang: 'da' });

  await form.getByRole('textbox', { name: 'E-mail' }).fill(' anne.kvittering@eksempel.dk ');
  await form.getByRole('textbox', { name: 'Mobilnummer' }).fill('+45 22 33 44 55');
  await form.getByRole('radio', { name: 'English' }).check();
  await page.getByTestId('save-contact').click();
  await page.waitForURL(`${central.http}/profil?besked=kontakt`);
  // The pages follow the language chosen at once.
  t.is(await page.locator('h1').innerText(), 'Profile');
  t.regex(await text(page.getByTestId('message')), /Your details are saved/);
  t.is(await page.locator('#mobile').inputValue(), '22 33 44 55');
  t.like(await contact(), { email: 'anne.kvittering@eksempel.dk', mobile: '+4522334455', lang: 'en' });
  await checkPage(t, page, '43-profile-contact-en');

  // Receipts and alerts for her children go to the chosen address, in her language.
  const [person] = await db.query<{ id: string }>("SELECT id FROM people WHERE name = 'Anne Hansen'");
  t.truthy(person);
  t.deepEqual(await mailAddressOf(db, person?.id as string), { address: 'anne.kvittering@eksempel.dk', lang: 'en' });
  t.deepEqual(
    (await guardianAddresses(db, 'konto-emma')).map((g) => [g.address, g.lang]),
    [['anne.kvittering@eksempel.dk', 'en']],
  );
  // A relation gets no receipts of the guardians' kind: Karen is not among them.
  t.is((await guardianAddresses(db, 'konto-emma')).length, 1);

  // An empty field gives the choice back to the sign-in's e-mail.
  await page.locator('#email').fill('');
  await page.locator('#mobile').fill('');
  await page.getByRole('radio', { name: 'Dansk' }).check();
  await page.getByTestId('save-contact').click();
  await page.waitForURL(`${central.http}/profil?besked=kontakt`);
  t.is(await page.locator('h1').innerText(), 'Profil');
  t.like(await contact(), { email: null, mobile: null, lang: 'da' });
  t.is((await guardianAddresses(db, 'konto-emma'))[0]?.address, signInEmail ?? undefined);

  // Central's API takes the same checks: a bad address or number is refused and changes nothing.
  const csrf = await page.locator('form.logout input[name="_csrf"]').inputValue();
  const bad = await context.request.put(`${central.http}/api/me/contact`, {
    headers: { 'x-csrf-token': csrf },
    data: { email: 'ikke en adresse', mobile: '+4512', lang: 'da' },
  });
  t.is(bad.status(), 400);
  t.is((await bad.json()).code, 'invalid_request');
  t.like(await contact(), { email: null, mobile: null });
});

test('a Danish mobile number is taken as people type it and kept as +45 and eight digits', (t) => {
  for (const typed of ['22334455', '22 33 44 55', '+45 22 33 44 55', '+4522334455', '0045 2233 4455', '22-33-44-55'])
    t.is(normalMobile(typed), '+4522334455', typed);
  for (const typed of ['1234', '12345678', '223344556', '+46 22334455', 'to-to-tre', '', '+45'])
    t.is(normalMobile(typed), undefined, typed);
});
