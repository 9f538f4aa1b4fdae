/**
 * The development identity provider (`kantine-dev-idp`, a real process) with openid-client 6 as
 * the relying party: the authorization code flow with PKCE, state and nonce through real HTTP
 * redirects for each demo person, the claims a MitID broker gives (sub, uuid, name, email,
 * cprNumberIdentifier), each refusal, and RP-initiated logout.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DEMO_PEOPLE, type DevIdpClient, startDevIdp } from '@kantine/idp';
import { KantineError } from '@kantine/protocol';
import test from 'ava';
import * as oidc from 'openid-client';
import type { Page, Request } from 'playwright-core';
import { browserMissing, launch } from './helpers/browser.ts';
import { CookieJar, pickPerson, type RunningIdp, runIdpBin, signOutAtIdp, startIdp, walkIdp } from './helpers/idp.ts';
import { repoRoot } from './helpers/process.ts';

const CALLBACK = 'http://127.0.0.1:8090/login/callback';
const AFTER_LOGOUT = 'http://127.0.0.1:8090/';
const central: DevIdpClient = {
  client_id: 'central',
  client_secret: 'central-secret-0123456789',
  redirect_uris: [CALLBACK],
  post_logout_redirect_uris: [AFTER_LOGOUT],
};
const other: DevIdpClient = {
  client_id: 'other-rp',
  client_secret: 'other-secret-0123456789',
  redirect_uris: ['http://127.0.0.1:8091/login/callback'],
  post_logout_redirect_uris: [],
};
const SCOPE = 'openid profile email ssn';

// One provider (two clients, so through a clients file) for most tests; teardowns at the end.
const cleanups: (() => unknown)[] = [];
let shared: RunningIdp;
test.before(async () => {
  shared = await startIdp({ teardown: (fn) => cleanups.push(fn) }, [central, other]);
});
test.after.always(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

/** The relying party's view of the provider: discovery over plain HTTP, allowed as it is loopback. */
function discover(issuer: string, client: DevIdpClient, secret = client.client_secret, post = false) {
  return oidc.discovery(
    new URL(issuer),
    client.client_id,
    undefined,
    post ? oidc.ClientSecretPost(secret) : oidc.ClientSecretBasic(secret),
    { execute: [oidc.allowInsecureRequests] },
  );
}

/** An authorization request as central makes it: PKCE S256, state and nonce. */
async function authorization(config: oidc.Configuration, scope = SCOPE, redirect_uri = CALLBACK) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri,
    scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  return { url: url.href, checks: { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce } };
}

/** The OAuth error code of a refusal: in the body, or (401 with Basic) in the WWW-Authenticate challenge. */
function oauthError(err: unknown): string | undefined {
  if (err instanceof oidc.ResponseBodyError) return err.error;
  if (err instanceof oidc.WWWAuthenticateChallengeError) {
    return err.status === 401 ? err.cause[0]?.parameters.error : `HTTP ${err.status}`;
  }
  return undefined;
}

test.serial(
  'each demo person signs in with PKCE, state and nonce; the ID token carries sub, uuid, name, email and CPR',
  async (t) => {
    t.is(DEMO_PEOPLE.length, 6);
    for (const [i, person] of DEMO_PEOPLE.entries()) {
      // client_secret_basic and client_secret_post both work for the same client.
      const config = await discover(shared.issuer, central, central.client_secret, i % 2 === 1);
      const { url, checks } = await authorization(config);
      const callback = await pickPerson(url, person.key);
      t.true(callback.startsWith(`${CALLBACK}?`), callback);
      const tokens = await oidc.authorizationCodeGrant(config, new URL(callback), checks);
      const claims = tokens.claims();
      t.like(claims, {
        iss: shared.issuer,
        aud: central.client_id,
        sub: person.sub,
        uuid: person.uuid,
        name: person.name,
        email: person.email,
        cprNumberIdentifier: person.cpr,
      });
      t.regex(String(claims?.cprNumberIdentifier), /^[0-9]{10}$/);
      // userinfo answers the same claims.
      const info = await oidc.fetchUserInfo(config, tokens.access_token, person.sub);
      t.like(info, { sub: person.sub, uuid: person.uuid, cprNumberIdentifier: person.cpr });
    }
  },
);

test.serial('without the ssn scope the CPR number is not released', async (t) => {
  const config = await discover(shared.issuer, central);
  const { url, checks } = await authorization(config, 'openid profile email');
  const tokens = await oidc.authorizationCodeGrant(config, new URL(await pickPerson(url, 'anne')), checks);
  const claims = tokens.claims();
  t.is(claims?.sub, 'demo-anne-hansen');
  t.is(claims?.name, 'Anne Hansen');
  t.false('cprNumberIdentifier' in (claims ?? {}));
  const info = await oidc.fetchUserInfo(config, tokens.access_token, 'demo-anne-hansen');
  t.false('cprNumberIdentifier' in info);
});

test.serial('a wrong client secret is refused at the token endpoint', async (t) => {
  const good = await discover(shared.issuer, central);
  const { url, checks } = await authorization(good);
  const callback = new URL(await pickPerson(url, 'peter'));
  const wrong = await discover(shared.issuer, central, 'central-secret-wrong-0000');
  const err = await t.throwsAsync(oidc.authorizationCodeGrant(wrong, callback, checks));
  t.is(oauthError(err), 'invalid_client');
  // Another client's (right) secret does not fit either.
  const otherSecret = await discover(shared.issuer, central, other.client_secret);
  const err2 = await t.throwsAsync(oidc.authorizationCodeGrant(otherSecret, callback, checks));
  t.is(oauthError(err2), 'invalid_client');
});

test.serial('an authorization code is redeemed once, only by its client and only with its PKCE verifier', async (t) => {
  const config = await discover(shared.issuer, central);
  // Another client (with its own right secret) cannot redeem central's code.
  const first = await authorization(config);
  const code = new URL(await pickPerson(first.url, 'jens'));
  const otherConfig = await discover(shared.issuer, other);
  const stolen = await t.throwsAsync(
    oidc.authorizationCodeGrant(otherConfig, code, { ...first.checks }, { redirect_uri: CALLBACK }),
  );
  t.is(oauthError(stolen), 'invalid_grant');
  // The wrong verifier is refused.
  const second = await authorization(config);
  const code2 = new URL(await pickPerson(second.url, 'jens'));
  const wrongVerifier = await t.throwsAsync(
    oidc.authorizationCodeGrant(config, code2, { ...second.checks, pkceCodeVerifier: oidc.randomPKCECodeVerifier() }),
  );
  t.is(oauthError(wrongVerifier), 'invalid_grant');
  // Redeemed once; a second time is refused.
  const third = await authorization(config);
  const code3 = new URL(await pickPerson(third.url, 'jens'));
  t.is((await oidc.authorizationCodeGrant(config, code3, third.checks)).claims()?.sub, 'demo-jens-kommune');
  const again = await t.throwsAsync(oidc.authorizationCodeGrant(config, code3, third.checks));
  t.is(oauthError(again), 'invalid_grant');
});

test.serial('a redirect_uri that is not registered for the client is refused without a redirect', async (t) => {
  const config = await discover(shared.issuer, central);
  for (const uri of [
    'http://evil.example/callback',
    other.redirect_uris[0] ?? '',
    'http://127.0.0.1:8090/login/callback/x',
  ]) {
    const { url } = await authorization(config, SCOPE, uri);
    const stop = await walkIdp(url, new CookieJar());
    t.is(stop.kind, 'page', uri);
    if (stop.kind !== 'page') continue;
    t.is(stop.status, 400);
    t.true(stop.html.includes('invalid_redirect_uri'), stop.html);
    t.false(stop.html.includes('person-anne'), 'no sign-in page for an unregistered redirect_uri');
  }
});

test.serial('an authorization request without PKCE, or with the plain method, is refused', async (t) => {
  const config = await discover(shared.issuer, central);
  const base = {
    redirect_uri: CALLBACK,
    scope: SCOPE,
    state: oidc.randomState(),
    nonce: oidc.randomNonce(),
  };
  const verifier = oidc.randomPKCECodeVerifier();
  for (const params of [base, { ...base, code_challenge: verifier, code_challenge_method: 'plain' }]) {
    const stop = await walkIdp(oidc.buildAuthorizationUrl(config, params).href, new CookieJar());
    t.is(stop.kind, 'redirect');
    if (stop.kind !== 'redirect') continue;
    const back = new URL(stop.location);
    t.is(back.origin + back.pathname, CALLBACK);
    t.is(back.searchParams.get('error'), 'invalid_request');
    t.is(back.searchParams.get('code'), null);
  }
});

test.serial('a person not on the list and a post_logout_redirect_uri not registered are refused', async (t) => {
  const config = await discover(shared.issuer, central);
  const { url } = await authorization(config);
  const jar = new CookieJar();
  const page = await walkIdp(url, jar);
  if (page.kind !== 'page') return t.fail('no sign-in page');
  const action = new URL(/action="([^"]*)"/.exec(page.html)?.[1] ?? '', page.url).href;
  const mallory = await walkIdp(action, jar, new URLSearchParams({ person: 'mallory' }));
  t.is(mallory.kind, 'page');
  if (mallory.kind === 'page') t.is(mallory.status, 400);

  const end = oidc.buildEndSessionUrl(config, {
    client_id: central.client_id,
    post_logout_redirect_uri: 'http://evil.example/',
  });
  const refused = await walkIdp(end.href, new CookieJar());
  t.is(refused.kind, 'page');
  if (refused.kind === 'page') {
    t.is(refused.status, 400);
    t.true(refused.html.includes('post_logout_redirect_uri not registered'));
  }
});

test.serial('the provider refuses to listen beyond loopback', async (t) => {
  for (const host of ['0.0.0.0', '::', '192.168.1.10']) {
    const err = await t.throwsAsync(startDevIdp({ host, clients: [central] }));
    t.true(err instanceof KantineError);
    t.is((err as KantineError).code, 'config_invalid');
  }
  const run = await runIdpBin([
    '--host',
    '0.0.0.0',
    '--client-id',
    central.client_id,
    '--client-secret',
    central.client_secret,
    '--redirect-uri',
    CALLBACK,
  ]);
  t.is(run.code, 1);
  t.regex(run.stderr, /^kantine-dev-idp: config_invalid: /m);
  t.false(run.stdout.includes('issuer'));
});

test.serial(
  'RP-initiated logout ends the session at the provider: the next sign-in shows the people again',
  async (t) => {
    // Its own provider with one client: the command-line path of the bin.
    const idp = await startIdp(t, [central]);
    const config = await discover(idp.issuer, central);
    const jar = new CookieJar();
    const first = await authorization(config);
    const tokens = await oidc.authorizationCodeGrant(
      config,
      new URL(await pickPerson(first.url, 'karen', jar)),
      first.checks,
    );
    t.is(tokens.claims()?.sub, 'demo-karen-hansen');

    // Signed in at the provider: a second authorization goes straight back with a code.
    const second = await authorization(config);
    const sso = await walkIdp(second.url, jar);
    t.is(sso.kind, 'redirect');
    if (sso.kind === 'redirect') t.truthy(new URL(sso.location).searchParams.get('code'));

    const state = oidc.randomState();
    const end = oidc.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token ?? '',
      post_logout_redirect_uri: AFTER_LOGOUT,
      state,
    });
    const out = await signOutAtIdp(end.href, jar);
    t.is(out.kind, 'redirect');
    if (out.kind === 'redirect') {
      const back = new URL(out.location);
      t.is(back.origin + back.pathname, AFTER_LOGOUT);
      t.is(back.searchParams.get('state'), state);
    }

    const third = await authorization(config);
    const page = await walkIdp(third.url, jar);
    t.is(page.kind, 'page');
    if (page.kind === 'page') {
      t.is(page.status, 200);
      for (const p of DEMO_PEOPLE) t.true(page.html.includes(`id="person-${p.key}"`));
    }
    t.true((await pickPerson(third.url, 'lone', jar)).startsWith(`${CALLBACK}?`));
  },
);

/** Screenshots of the provider's pages on a phone (look at them). */
const artifacts = join(repoRoot, 'artifacts', 'idp');

/** axe-core's WCAG 2.1 A/AA findings on the page (labels, contrast, lang, …): `rule (count)` each. */
async function axeViolations(page: Page): Promise<string[]> {
  const axe = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  // Evaluated over the DevTools protocol: the page's own CSP allows no script at all.
  await page.evaluate(axe);
  return page.evaluate(async () => {
    const w = globalThis as unknown as {
      axe: { run(o: object): Promise<{ violations: { id: string; nodes: unknown[] }[] }> };
    };
    const result = await w.axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa'] } });
    return result.violations.map((v) => `${v.id} (${v.nodes.length})`);
  });
}

test.serial('in Chromium on a phone the sign-in page is accessible and one press signs Anne in', async (t) => {
  // No Chromium is a failure, as in every browser test: no suite skips itself.
  if (browserMissing) return t.fail(browserMissing);
  // A stand-in relying party (a real HTTP server: it answers every path) and a provider for it.
  const rp = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('rp'));
  await new Promise<void>((resolve) => rp.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => rp.close(() => resolve())));
  const rpOrigin = `http://127.0.0.1:${(rp.address() as AddressInfo).port}`;
  const client: DevIdpClient = {
    ...central,
    redirect_uris: [`${rpOrigin}/login/callback`],
    post_logout_redirect_uris: [`${rpOrigin}/`],
  };
  const idp = await startIdp(t, [client]);

  const browser = await launch();
  t.teardown(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true });
  const page = await context.newPage();
  const outside: string[] = [];
  page.on('request', (r: Request) => {
    const origin = new URL(r.url()).origin;
    if (origin !== idp.issuer && origin !== rpOrigin) outside.push(r.url());
  });
  page.on('pageerror', (err: Error) => t.fail(`page error: ${err.message}`));
  mkdirSync(artifacts, { recursive: true });

  const config = await discover(idp.issuer, client);
  const { url, checks } = await authorization(config, SCOPE, `${rpOrigin}/login/callback`);
  await page.goto(url);
  t.is(await page.getAttribute('html', 'lang'), 'da');
  t.regex(await page.locator('.warning').innerText(), /ikke MitID/);
  for (const p of DEMO_PEOPLE) {
    t.true(await page.getByRole('button', { name: new RegExp(p.name) }).isVisible(), p.key);
  }
  await page.screenshot({ path: join(artifacts, 'sign-in.png'), fullPage: true });
  await page.screenshot({ path: join(artifacts, 'sign-in-viewport.png') });
  t.deepEqual(await axeViolations(page), [], 'sign-in page');

  // Works without JavaScript: a plain form POST per button.
  const callback = page.waitForURL(`${rpOrigin}/login/callback?**`);
  await page.getByRole('button', { name: /Anne Hansen/ }).click();
  await callback;
  const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url()), checks);
  t.is(tokens.claims()?.sub, 'demo-anne-hansen');

  // The sign-out confirmation, then back at the relying party.
  await page.goto(
    oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token ?? '', post_logout_redirect_uri: `${rpOrigin}/` })
      .href,
  );
  await page.screenshot({ path: join(artifacts, 'sign-out.png') });
  t.deepEqual(await axeViolations(page), [], 'sign-out page');
  const back = page.waitForURL(`${rpOrigin}/`);
  await page.getByRole('button', { name: /Ja, log ud/ }).click();
  await back;

  // An error page (an unregistered redirect_uri) in the same style.
  await page.goto((await authorization(config, SCOPE, 'http://evil.example/cb')).url);
  t.regex(await page.locator('h1').innerText(), /Noget gik galt/);
  await page.screenshot({ path: join(artifacts, 'error.png') });
  t.deepEqual(await axeViolations(page), [], 'error page');
  t.deepEqual(outside, [], 'nothing loaded from outside (no web fonts)');
});

test.serial('no CPR number appears in the provider’s output', (t) => {
  t.truthy(shared.output());
  for (const p of DEMO_PEOPLE) t.false(shared.output().includes(p.cpr), p.key);
});
