/**
 * Sign-in in real Chromium: the browser follows central's and the dev provider's redirects
 * itself, keeps the session cookie (HttpOnly, Secure on loopback, SameSite=Lax), posts the logout
 * form with its CSRF token, confirms the sign-out at the provider and is signed out at both.
 */
import test from 'ava';
import { browserMissing, launch } from './helpers/browser.ts';
import { signInChromium, startCentralWithIdp } from './helpers/sign-in.ts';

test('a guardian signs in and out in Chromium, at central and at the provider', async (t) => {
  if (browserMissing) return t.fail(browserMissing);
  t.timeout(120_000);
  const rig = await startCentralWithIdp(t);
  const central = rig.http[0] as string;
  const browser = await launch();
  t.teardown(() => browser.close());

  const { context, page } = await signInChromium(browser, central, 'anne', { return: '/api/me' });
  t.is(new URL(page.url()).pathname, '/api/me');
  const me = JSON.parse((await page.locator('body').innerText()).trim());
  t.is(me.name, 'Anne Hansen');
  t.regex(me.cpr_masked, /^[0-9]{6}-xxxx$/);

  const [session] = (await context.cookies(central)).filter((c) => c.name === '__Host-kantine_session');
  t.truthy(session);
  t.true(session?.httpOnly);
  t.true(session?.secure);
  t.is(session?.sameSite, 'Lax');
  t.is(session?.path, '/');
  // HttpOnly: the page's scripts cannot read it.
  t.false(String(await page.evaluate('document.cookie')).includes('kantine_session'));

  // The logout button: a plain form with the CSRF token.
  // (A string: the tests compile without the DOM's types.)
  await page.evaluate(`(() => {
    const form = document.createElement('form');
    form.method = 'post';
    form.action = '/logout';
    const field = document.createElement('input');
    field.type = 'hidden';
    field.name = '_csrf';
    field.value = ${JSON.stringify(me.csrf)};
    form.append(field);
    document.body.append(form);
    form.submit();
  })()`);
  // At the provider: its sign-out confirmation, then back to central's front page.
  await page.waitForURL((u) => u.href.startsWith(rig.idp.issuer), { timeout: 20_000 });
  await Promise.all([page.waitForURL(`${rig.publicUrl}/`, { timeout: 20_000 }), page.locator('#logout-yes').click()]);
  const after = await page.goto(`${central}/api/me`);
  t.is(after?.status(), 401);
  t.is(JSON.parse(await page.locator('body').innerText()).code, 'bad_credentials');
  // Signed out at the provider too: a new sign-in shows its page with the people again.
  await page.goto(`${central}/login`);
  await page.locator('#person-anne').waitFor({ timeout: 20_000 });
  t.true(page.url().startsWith(rig.idp.issuer));
});
