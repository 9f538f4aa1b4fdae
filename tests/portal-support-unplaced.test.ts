/**
 * "Kortet virker ikke" for a child at no school: the request reached no office page (each school
 * office sees its own site's requests only). Now the municipality's administrators see such
 * requests in their own office (/kontor-kommunen, "Børn uden skole"), are told of them on the
 * office pages, answer and close them there; the guardian reads the answer. A school office and
 * a guardian are refused that office, and a request of a school's child is not in it.
 */
import { DEMO_CHILDREN } from '@kantine/idp';
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

const { test, browser } = portalTests();

test('a request for a child at no school reaches the municipality’s office, which answers and closes it', async (t) => {
  t.timeout(300_000);
  const central = await families(t);
  const c = central.service.central;
  await central.api('PUT', '/api/people/roles', { cpr: cprOf('lone'), role: 'office', site: SITE, granted: true });
  await central.api('PUT', '/api/people/roles', { cpr: cprOf('jens'), role: 'admin', granted: true });
  // Ida has moved away from Søndervang and has no school yet; Anne is her guardian.
  const ida = { first_name: 'Ida', last_name: 'Hansen', cpr: '0101184321' };
  t.not(
    DEMO_CHILDREN.map((x) => x.cpr),
    ida.cpr,
  );
  t.is((await central.api('PUT', '/api/accounts/konto-ida', { ...ida, sites: [] })).status, 204);
  t.is((await central.api('PUT', '/api/accounts/konto-ida/guardian-cprs', { cprs: [cprOf('anne')] })).status, 204);

  const anne = await openContext(t, browser());
  await signInFromLanding(anne.page, central, 'anne', '/?return=%2Fkonti%2Fkonto-ida%2Fkortet-virker-ikke');
  await anne.page.locator('#message').fill('Ida er flyttet og kortet virker ikke i den nye kantine.');
  await anne.page.getByTestId('send-request').click();
  await anne.page.waitForURL(`${central.http}/konti/konto-ida/kortet-virker-ikke?besked=sendt`);
  const [sent] = await c.support.ofAccount('konto-ida');
  t.is(sent?.site_id, null);

  // Lone's school office does not have it (it is not her school's child).
  const lone = await openContext(t, browser());
  await signInFromLanding(lone.page, central, 'lone', '/?return=%2Fkontor');
  await lone.page.waitForURL(`${central.http}/kontor/${SITE}`);
  t.is(await lone.page.getByTestId('requests').count(), 0);
  t.is(await lone.page.getByTestId('unplaced-notice').count(), 0);
  const refused = await lone.page.goto(`${central.http}/kontor-kommunen`);
  t.is(refused?.status(), 403);

  // Jens, the municipality's administrator: the office chooser offers "Børn uden skole", and the
  // school's page tells him of it.
  const jens = await openContext(t, browser());
  await signInFromLanding(jens.page, central, 'jens', '/?return=%2Fkontor');
  t.is(new URL(jens.page.url()).pathname, '/kontor');
  await jens.page
    .getByRole('link', { name: 'Søndervang' })
    .or(jens.page.getByRole('link', { name: SITE }))
    .click();
  await jens.page.waitForURL(`${central.http}/kontor/${SITE}`);
  await jens.page.getByTestId('unplaced-notice').getByRole('link').click();
  await jens.page.waitForURL(`${central.http}/kontor-kommunen`);
  t.is(await text(jens.page.locator('h1')), 'Skolekontoret Børn uden skole');
  const request = jens.page.getByTestId('requests').locator('[data-request]');
  t.is(await request.count(), 1);
  t.regex(await text(request), /Ida Hansen Fra Anne Hansen.*Åben Ida er flyttet/);
  t.is(await jens.page.getByTestId('stock-count').count(), 0, 'no card pile: the municipality has none');
  // An empty answer is refused by its field.
  await request.getByTestId('send-answer').click();
  await jens.page.waitForLoadState();
  t.regex(await text(jens.page.getByTestId('error-summary')), /Skriv et svar/);
  await request.getByLabel('Svar').fill('Ida skal have sin nye skole sat på. Vi ordner det i dag.');
  await checkPage(t, jens.page, 'kommunen-boern-uden-skole');
  await request.getByTestId('send-answer').click();
  await jens.page.waitForURL(`${central.http}/kontor-kommunen?besked=besvaret`);
  t.is(await text(request.getByTestId('request-state')), 'Besvaret');

  // Anne reads the answer.
  await anne.page.goto(`${central.http}/konti/konto-ida/kortet-virker-ikke`);
  t.regex(await text(anne.page.getByTestId('answer')), /Svar fra Jens Kommune, .* Ida skal have sin nye skole sat på/);

  // Jens closes it; the chooser no longer offers the municipality's office (nothing open).
  await request.getByTestId('close-request').click();
  await jens.page.waitForURL(`${central.http}/kontor-kommunen?besked=lukket`);
  t.is(await request.getAttribute('data-state'), 'closed');
  await jens.page.goto(`${central.http}/kontor`);
  t.is(new URL(jens.page.url()).pathname, `/kontor/${SITE}`);

  // A guardian is refused the municipality's office; a school's request is not in it.
  const refusedAnne = await anne.page.goto(`${central.http}/kontor-kommunen`);
  t.is(refusedAnne?.status(), 403);
  await c.support.open('konto-emma', { id: 'x', name: 'Anne Hansen' }, 'Emmas kort');
  t.is((await c.support.atSite(null)).length, 1, 'only Ida’s (closed) request');
});
