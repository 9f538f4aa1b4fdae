/**
 * A guardian, a relation and school office staff sign in through the dev identity provider in
 * real Chromium, and each does from the browser what their role allows — and no more. The
 * requests are the browser's own (its cookie, its origin, the session's CSRF token from /api/me),
 * as the portal's pages will make them.
 */
import { seedDemoPeople } from '@kantine/central';
import { DEMO_CHILDREN, DEMO_PEOPLE } from '@kantine/idp';
import test from 'ava';
import type { Page } from 'playwright-core';
import { browserMissing, launch } from './helpers/browser.ts';
import { signInChromium, startCentralWithIdp } from './helpers/sign-in.ts';

/** A request from the page (same origin, the browser's cookie), with the session's CSRF token. */
async function call(
  page: Page,
  method: string,
  path: string,
  body?: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: JSON from the API, read field by field
): Promise<{ status: number; body: any }> {
  // A string: the tests compile without the DOM's types.
  return page.evaluate(`(async () => {
    const me = await (await fetch('/api/me')).json();
    const res = await fetch(${JSON.stringify(path)}, {
      method: ${JSON.stringify(method)},
      headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrf },
      ${body === undefined ? '' : `body: ${JSON.stringify(JSON.stringify(body))},`}
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  })()`);
}

test('a guardian, a relation and the school office sign in in Chromium and each may do exactly their part', async (t) => {
  if (browserMissing) return t.fail(browserMissing);
  t.timeout(240_000);
  const rig = await startCentralWithIdp(t);
  const central = rig.services[0]?.central;
  if (!central) throw new Error('no central');
  const base = rig.http[0] as string;
  await central.sites.put({ id: 'soendervang', name: 'Søndervang Skole', place_kinds: ['school'] });
  await central.accounts.put({
    id: 'konto-emma',
    first_name: 'Emma',
    sites: ['soendervang'],
    allergies: ['noedder'],
  });
  await central.accounts.put({ id: 'konto-noah', first_name: 'Noah', sites: ['soendervang'] });
  await central.accounts.put({ id: 'konto-freja', first_name: 'Freja', sites: ['soendervang'] });
  await central.money.deposit({ account_id: 'konto-emma', amount_ore: 15_000 });
  await seedDemoPeople(central, { people: DEMO_PEOPLE, children: DEMO_CHILDREN, office_site: 'soendervang' });

  const today = new Date().toISOString().slice(0, 10);
  const period = `from=${today.slice(0, 8)}01&to=${today}`;
  const browser = await launch();
  t.teardown(() => browser.close());

  // Anne, Emma's guardian: sees Emma and Noah, saves a day limit, blocks nothing she should not.
  const anne = (await signInChromium(browser, base, 'anne', { return: '/api/me' })).page;
  const mine = await call(anne, 'GET', '/api/me/accounts');
  t.is(mine.status, 200);
  t.deepEqual(mine.body.accounts.map((a: { account_id: string }) => a.account_id).sort(), ['konto-emma', 'konto-noah']);
  const limits = [{ place_kind: 'school', period: 'day', limit_ore: 4_000 }];
  t.is((await call(anne, 'PATCH', '/api/accounts/konto-emma', { limits })).status, 204);
  const emma = await central.accounts.get('konto-emma');
  t.deepEqual(emma?.limits, limits);
  t.deepEqual(emma?.allergies, ['noedder'], 'saving the limits left the allergies as they were');
  t.is((await call(anne, 'GET', `/api/accounts/konto-emma/statement?${period}`)).status, 200);
  t.is((await call(anne, 'GET', `/api/accounts/konto-freja/statement?${period}`)).status, 404, 'not her child');

  // Karen, Emma's grandmother: the statement, nothing else.
  const karen = (await signInChromium(browser, base, 'karen', { return: '/api/me' })).page;
  const hers = await call(karen, 'GET', '/api/me/accounts');
  t.deepEqual(
    hers.body.accounts.map((a: { account_id: string; role: string }) => [a.account_id, a.role]),
    [['konto-emma', 'relation']],
  );
  t.is((await call(karen, 'GET', `/api/accounts/konto-emma/statement?${period}`)).status, 200);
  const patch = await call(karen, 'PATCH', '/api/accounts/konto-emma', { limits: [] });
  t.is(patch.status, 403);
  t.is(patch.body.code, 'scope_denied');
  t.is((await call(karen, 'GET', '/api/accounts/konto-emma/cards')).status, 403);
  t.is((await call(karen, 'GET', '/api/accounts/konto-emma/relations')).status, 403);
  t.deepEqual((await central.accounts.get('konto-emma'))?.limits, limits, 'her refused PATCH changed nothing');

  // Lone, the school office at Søndervang: the site's card stock; no child's money or settings.
  const lone = (await signInChromium(browser, base, 'lone', { return: '/api/me' })).page;
  t.is((await call(lone, 'GET', '/api/sites/soendervang/stock')).status, 200);
  t.is((await call(lone, 'GET', '/api/me/accounts')).body.accounts.length, 0);
  t.is((await call(lone, 'GET', `/api/accounts/konto-emma/statement?${period}`)).status, 403);
  t.is((await call(lone, 'PATCH', '/api/accounts/konto-emma', { limits: [] })).status, 403);
  t.is((await call(lone, 'POST', '/api/accounts/konto-emma/deposits', { amount_ore: 100 })).status, 403);
  t.is((await central.accounts.get('konto-emma'))?.balance_ore, 15_000, 'no money moved');
});
