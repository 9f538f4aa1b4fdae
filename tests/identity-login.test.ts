/**
 * Sign-in at central through the dev identity provider (a real process), every step a real HTTP
 * redirect: the code flow with PKCE, state and nonce; each refusal (wrong, replayed or tampered
 * state, replayed code, changed nonce, no CPR claim, a return path elsewhere); sessions that end
 * when idle, at their maximum age, at logout (at central and at the provider) and when their
 * person ends them; the cookie's flags; CSRF; a login started on one worker finished on another
 * (two CentralService on one Postgres); and no CPR number in any log line of the run.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CentralService, type Db, openPostgres, parseCentralConfig } from '@kantine/central';
import { DEMO_CHILDREN, DEMO_PEOPLE } from '@kantine/idp';
import test, { type ExecutionContext } from 'ava';
import pino from 'pino';
import { startCentral } from './helpers/central.ts';
import { CookieJar, pickPerson, type RunningIdp, signOutAtIdp, startIdp, walkIdp } from './helpers/idp.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { freePort } from './helpers/process.ts';
import { callback, SESSION_COOKIE, setCookie, signIn, startLogin } from './helpers/sign-in.ts';

const CLIENT_ID = 'kantine-central';
const CLIENT_SECRET = 'central-secret-for-tests-0123456789';

/** Central's clock: real time moved on by `offset_ms` (idle end and maximum age without waiting). */
const clock = {
  offset_ms: 0,
  now: () => new Date(Date.now() + clock.offset_ms),
};
const MINUTE = 60_000;

let logText = '';
const logStream = new Writable({
  write(chunk, _enc, done) {
    logText += chunk.toString();
    done();
  },
});
// Everything central logs, down to debug, into one string for the CPR check at the end.
const log = pino({ level: 'debug' }, logStream);

interface Rig {
  idp: RunningIdp;
  /** Two workers on one Postgres behind one public address (A's). */
  a: string;
  b: string;
  /** A third worker whose scopes leave out `ssn`: the provider gives no CPR. */
  noCpr: string;
  /** A fourth behind a reverse proxy on loopback, letting one address start 3 sign-ins in 10 minutes. */
  tight: string;
  publicUrl: string;
  db: Db;
  services: CentralService[];
}
let rig: Rig;
const cleanups: (() => unknown)[] = [];
const hooks = { teardown: (fn: () => unknown) => cleanups.push(fn) } as unknown as ExecutionContext;

test.before(async () => {
  const [portA, portB, portC] = [await freePort(), await freePort(), await freePort()];
  const publicUrl = `http://127.0.0.1:${portA}`;
  const noCprUrl = `http://127.0.0.1:${portC}`;
  const idp = await startIdp(hooks, [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [`${publicUrl}/login/callback`, `${noCprUrl}/login/callback`],
      post_logout_redirect_uris: [`${publicUrl}/`, `${noCprUrl}/`],
    },
  ]);
  const dbUrl = await freshDatabase(hooks, 'identity');
  // The workers' shared CPR key (made 0600 by the first to start), not the repository's data/.
  const keyDir = mkdtempSync(join(tmpdir(), 'kantine-identity-'));
  cleanups.push(() => rmSync(keyDir, { recursive: true, force: true }));
  const services: CentralService[] = [];
  const worker = async (port: number, identity: Record<string, unknown>, http: Record<string, unknown> = {}) => {
    const service = new CentralService({
      config: parseCentralConfig({
        database: { url: dbUrl },
        mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0, tls: 'off' },
        http: { host: '127.0.0.1', port, ...http },
        identity: {
          issuer: idp.issuer,
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          public_url: publicUrl,
          cpr_key_file: join(keyDir, 'cpr.key'),
          ...identity,
        },
      }),
      clock,
      log,
    });
    await service.start();
    services.push(service);
    cleanups.push(() => service.stop());
    return `http://127.0.0.1:${service.httpPort}`;
  };
  const a = await worker(portA, {});
  const b = await worker(portB, {});
  const noCpr = await worker(portC, { public_url: noCprUrl, scopes: ['openid', 'profile', 'email'] });
  const tight = await worker(await freePort(), { login_starts_per_source: 3 }, { trust_proxy: ['127.0.0.1'] });
  const db = await openPostgres(dbUrl);
  cleanups.push(() => db.close());
  rig = { idp, a, b, noCpr, tight, publicUrl, db, services };
});

test.after.always(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

test.afterEach.always(() => {
  clock.offset_ms = 0;
});

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, read field by field
async function json(res: Response): Promise<any> {
  const text = await res.text();
  return text ? JSON.parse(text) : undefined;
}

function me(base: string, cookie: string): Promise<Response> {
  return fetch(`${base}/api/me`, { headers: { cookie } });
}

function post(base: string, path: string, cookie: string, csrf?: string): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, ...(csrf === undefined ? {} : { 'x-csrf-token': csrf }) },
  });
}

test.serial('a guardian signs in through the provider and lands on the return path with a session', async (t) => {
  const anne = await signIn(rig.a, rig.idp, 'anne', { return: '/mine-konti?fane=kort#top' });
  t.is(anne.location, '/mine-konti?fane=kort#top');
  const res = await me(rig.a, anne.cookie);
  t.is(res.status, 200);
  const body = await json(res);
  t.is(body.name, 'Anne Hansen');
  t.is(body.person_id, anne.person_id);
  t.is(body.session_id, anne.session_id);
  t.deepEqual(body.staff, []);
  // The CPR number only masked.
  const cpr = DEMO_PEOPLE.find((p) => p.key === 'anne')?.cpr as string;
  t.is(body.cpr_masked, `${cpr.slice(0, 6)}-xxxx`);
  t.false(JSON.stringify(body).includes(cpr));
  // The sign-in is in the audit log, under the person.
  const [row] = await rig.db.query<{ action: string; person_id: string }>(
    `SELECT action, person_id FROM audit_log WHERE person_id = $1 AND action = 'GET /login/callback'`,
    [anne.person_id],
  );
  t.is(row?.person_id, anne.person_id);
});

test.serial(
  'the session cookie is HttpOnly, Secure, SameSite=Lax, Path=/; central keeps only its SHA-256',
  async (t) => {
    const peter = await signIn(rig.a, rig.idp, 'peter');
    const flags = peter.set_cookie.split(';').map((s) => s.trim());
    t.true(flags.includes('HttpOnly'));
    t.true(flags.includes('Secure'));
    t.true(flags.includes('SameSite=Lax'));
    t.true(flags.includes('Path=/'));
    t.regex(peter.session, /^[A-Za-z0-9_-]{43}$/);
    const rows = await rig.db.query<{ id_sha256: Buffer; person_id: string }>('SELECT * FROM sessions WHERE id = $1', [
      peter.session_id,
    ]);
    t.is(rows.length, 1);
    t.deepEqual(
      Buffer.from((rows[0] as { id_sha256: Buffer }).id_sha256),
      createHash('sha256').update(peter.session).digest(),
    );
    const everything = JSON.stringify(
      await rig.db.query("SELECT encode(id_sha256, 'hex') AS h, *, encode(id_token, 'base64') AS t FROM sessions"),
    );
    t.false(everything.includes(peter.session));
    // The ID token is not kept (it carries the CPR claim): nothing of it in the sessions table.
    t.is((rows[0] as unknown as { id_token: unknown }).id_token, null);
    const cpr = DEMO_PEOPLE.find((p) => p.key === 'peter')?.cpr as string;
    t.false(everything.includes(cpr));
    t.false(everything.includes(Buffer.from(cpr).toString('base64').slice(0, 12)));
  },
);

test.serial('a login started on worker A finishes on worker B, and the session works on both', async (t) => {
  const karen = await signIn(rig.a, rig.idp, 'karen', { callbackBase: rig.b });
  t.is((await me(rig.b, karen.cookie)).status, 200);
  t.is((await me(rig.a, karen.cookie)).status, 200);
  // And the other way round.
  const lone = await signIn(rig.b, rig.idp, 'lone', { callbackBase: rig.a });
  t.is((await me(rig.a, lone.cookie)).status, 200);
});

test.serial('a callback with another state, or from another browser, signs nobody in', async (t) => {
  let { authorize, loginCookie } = await startLogin(rig.a);
  let back = new URL(await pickPerson(authorize, 'anne'));
  // The state changed on the way.
  const tampered = new URL(back);
  tampered.searchParams.set('state', `${back.searchParams.get('state')}x`);
  let res = await callback(tampered.href, loginCookie);
  t.is(res.status, 400);
  t.is((await json(res)).code, 'login_state_unknown');
  t.is(setCookie(res, SESSION_COOKIE), undefined);
  // No state at all.
  const none = new URL(back);
  none.searchParams.delete('state');
  res = await callback(none.href, loginCookie);
  t.is((await json(res)).code, 'login_state_unknown');
  // The right state in a browser that did not start this login (login CSRF: an attacker's
  // callback URL sent to a victim): refused, and the state is spent, so it cannot be retried.
  const other = await startLogin(rig.a);
  res = await callback(back.href, other.loginCookie);
  t.is((await json(res)).code, 'login_state_unknown');
  res = await callback(back.href, loginCookie);
  t.is((await json(res)).code, 'login_state_unknown');
  // …and in a browser with no login cookie at all.
  ({ authorize, loginCookie } = await startLogin(rig.a));
  back = new URL(await pickPerson(authorize, 'anne'));
  res = await callback(back.href, undefined);
  t.is(res.status, 400);
  t.is((await json(res)).code, 'login_state_unknown');
  t.is(setCookie(res, SESSION_COOKIE), undefined);
});

test.serial('a replayed callback, and a used code under a fresh state, are refused', async (t) => {
  const { authorize, loginCookie } = await startLogin(rig.a);
  const back = await pickPerson(authorize, 'peter');
  const first = await callback(back, loginCookie);
  t.is(first.status, 303);
  await first.body?.cancel();
  // The same callback again (a copied URL, a browser's back button): the state is used.
  const again = await callback(back, loginCookie);
  t.is(again.status, 400);
  t.is((await json(again)).code, 'login_state_unknown');
  // The code with a new login's state and cookie: the provider refuses the used code (and PKCE).
  const fresh = await startLogin(rig.a);
  const freshState = new URL(fresh.authorize).searchParams.get('state') as string;
  const replay = new URL(back);
  replay.searchParams.set('state', freshState);
  const res = await callback(replay.href, fresh.loginCookie);
  t.is(res.status, 400);
  t.is((await json(res)).code, 'login_failed');
  t.is(setCookie(res, SESSION_COOKIE), undefined);
});

test.serial(
  'two logins in one browser (two tabs) both finish; a new sign-in ends the browser’s old session',
  async (t) => {
    const first = await startLogin(rig.a);
    const second = await startLogin(rig.a, { loginCookie: first.loginCookie });
    t.is(second.loginCookie, first.loginCookie);
    const backFirst = await pickPerson(first.authorize, 'peter');
    const backSecond = await pickPerson(second.authorize, 'peter');
    const one = await callback(backSecond, first.loginCookie);
    t.is(one.status, 303);
    await one.body?.cancel();
    const old = `${SESSION_COOKIE}=${setCookie(one, SESSION_COOKIE)?.value}`;
    t.is((await me(rig.a, old)).status, 200);
    // The first tab finishes later, in the same browser (which sends its current session cookie).
    const two = await callback(backFirst, first.loginCookie, { sessionCookie: old });
    t.is(two.status, 303);
    await two.body?.cancel();
    const fresh = `${SESSION_COOKIE}=${setCookie(two, SESSION_COOKIE)?.value}`;
    t.not(fresh, old);
    t.is((await me(rig.a, fresh)).status, 200);
    t.is((await me(rig.a, old)).status, 401);
  },
);

test.serial('a person who cancels at the provider comes back to login_failed, and the login is spent', async (t) => {
  const { authorize, loginCookie } = await startLogin(rig.a);
  const state = new URL(authorize).searchParams.get('state') as string;
  // What a provider sends back when the person cancels (RFC 6749 §4.1.2.1, with RFC 9207's iss).
  const back = new URL(`${rig.publicUrl}/login/callback`);
  back.search = new URLSearchParams({ error: 'access_denied', state, iss: rig.idp.issuer }).toString();
  let res = await callback(back.href, loginCookie);
  t.is(res.status, 400);
  t.is((await json(res)).code, 'login_failed');
  res = await callback(back.href, loginCookie);
  t.is((await json(res)).code, 'login_state_unknown');
});

test.serial('a login not finished within 10 minutes is refused', async (t) => {
  const { authorize, loginCookie } = await startLogin(rig.a);
  const back = await pickPerson(authorize, 'anne');
  clock.offset_ms = 10 * MINUTE;
  const res = await callback(back, loginCookie);
  t.is(res.status, 400);
  t.is((await json(res)).code, 'login_state_unknown');
  t.is(setCookie(res, SESSION_COOKIE), undefined);
});

test.serial('an ID token whose nonce is not the login’s is refused', async (t) => {
  const { authorize, loginCookie } = await startLogin(rig.a);
  const state = new URL(authorize).searchParams.get('state') as string;
  // The nonce central expects is no longer the one the provider put in the token.
  await rig.db.query("UPDATE login_states SET nonce = 'not-the-nonce-the-provider-got' WHERE state = $1", [state]);
  const back = await pickPerson(authorize, 'anne');
  const res = await callback(back, loginCookie);
  t.is(res.status, 400);
  t.is((await json(res)).code, 'login_failed');
  t.is(setCookie(res, SESSION_COOKIE), undefined);
});

test.serial('a provider that gives no CPR number: cpr_missing, as JSON and as a page, and no session', async (t) => {
  const before = await rig.db.query<{ n: number }>('SELECT count(*)::int AS n FROM sessions');
  let { authorize, loginCookie } = await startLogin(rig.noCpr);
  t.false(new URL(authorize).searchParams.get('scope')?.includes('ssn'));
  let res = await callback(await pickPerson(authorize, 'anne'), loginCookie);
  t.is(res.status, 400);
  t.is((await json(res)).code, 'cpr_missing');
  t.is(setCookie(res, SESSION_COOKIE), undefined);
  // A browser gets a page in Danish and English with the code.
  ({ authorize, loginCookie } = await startLogin(rig.noCpr));
  const back = new URL(await pickPerson(authorize, 'anne'));
  res = await fetch(back, {
    redirect: 'manual',
    headers: { cookie: `__Secure-kantine_login=${loginCookie}`, accept: 'text/html' },
  });
  t.is(res.status, 400);
  t.regex(res.headers.get('content-type') ?? '', /^text\/html/);
  const html = await res.text();
  t.regex(html, /<code id="error-code">cpr_missing<\/code>/);
  t.regex(html, /lang="da"/);
  const after = await rig.db.query<{ n: number }>('SELECT count(*)::int AS n FROM sessions');
  t.is(after[0]?.n, before[0]?.n);
});

test.serial('a return path off the site is refused before anything starts', async (t) => {
  const before = await rig.db.query<{ n: number }>('SELECT count(*)::int AS n FROM login_states');
  for (const attack of [
    '//evil.example/phish',
    'https://evil.example/',
    'http:evil.example',
    '/\\evil.example',
    '\\\\evil.example',
    '/\t/evil.example',
    '/\n/evil.example',
    'javascript:alert(1)',
    'evil.example',
    ' /mine-konti',
    `/${'a'.repeat(600)}`,
  ]) {
    const url = new URL('/login', rig.a);
    url.searchParams.set('return', attack);
    const res = await fetch(url, { redirect: 'manual' });
    t.is(res.status, 400, JSON.stringify(attack));
    t.is((await json(res)).code, 'return_path_refused', JSON.stringify(attack));
    t.is(setCookie(res, '__Secure-kantine_login'), undefined);
  }
  // Percent-encoded slashes decode to `//` in the query: refused too.
  const res = await fetch(`${rig.a}/login?return=%2F%2Fevil.example`, { redirect: 'manual' });
  t.is((await json(res)).code, 'return_path_refused');
  // Given twice: refused.
  const twice = await fetch(`${rig.a}/login?return=/a&return=/b`, { redirect: 'manual' });
  t.is((await json(twice)).code, 'return_path_refused');
  const after = await rig.db.query<{ n: number }>('SELECT count(*)::int AS n FROM login_states');
  t.is(after[0]?.n, before[0]?.n);
});

test.serial('a session ends after 15 minutes without a request; each request moves the end', async (t) => {
  const anne = await signIn(rig.a, rig.idp, 'anne');
  clock.offset_ms = 14 * MINUTE;
  t.is((await me(rig.a, anne.cookie)).status, 200);
  clock.offset_ms = 28 * MINUTE; // 14 minutes after the last request
  t.is((await me(rig.b, anne.cookie)).status, 200);
  clock.offset_ms = 43 * MINUTE; // 15 minutes after it
  const res = await me(rig.a, anne.cookie);
  t.is(res.status, 401);
  t.is((await json(res)).code, 'bad_credentials');
  // Ended for good: going back in time does not bring it back.
  clock.offset_ms = 0;
  t.is((await me(rig.a, anne.cookie)).status, 401);
});

test.serial('a session ends 12 hours after sign-in however busy', async (t) => {
  const jens = await signIn(rig.a, rig.idp, 'jens');
  for (let minutes = 14; minutes < 12 * 60; minutes += 14) {
    clock.offset_ms = minutes * MINUTE;
    const res = await me(rig.a, jens.cookie);
    if (res.status !== 200) return t.fail(`refused at ${minutes} minutes`);
  }
  clock.offset_ms = 12 * 60 * MINUTE;
  t.is((await me(rig.a, jens.cookie)).status, 401);
});

test.serial('logout needs the CSRF token, ends the session at central and at the provider', async (t) => {
  const jar = new CookieJar();
  const mette = await signIn(rig.a, rig.idp, 'mette', { jar });
  // Signed in at the provider too: a new login goes straight back to central.
  const sso = await startLogin(rig.a);
  t.is((await walkIdp(sso.authorize, jar)).kind, 'redirect');
  // Without the CSRF token (a page elsewhere posting to /logout): refused, nothing ended.
  let res = await post(rig.a, '/logout', mette.cookie);
  t.is(res.status, 403);
  t.is((await json(res)).code, 'csrf_failed');
  res = await post(rig.a, '/logout', mette.cookie, 'x'.repeat(mette.csrf.length));
  t.is((await json(res)).code, 'csrf_failed');
  t.is((await me(rig.a, mette.cookie)).status, 200);
  const refused = await rig.db.query<{ status: number }>(
    `SELECT status FROM audit_log WHERE person_id = $1 AND action = 'POST /logout'`,
    [mette.person_id],
  );
  t.deepEqual(
    refused.map((r) => r.status),
    [403, 403],
  );
  // The logout button: a form with _csrf.
  res = await fetch(`${rig.b}/logout`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: mette.cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: mette.csrf }).toString(),
  });
  t.is(res.status, 303);
  const cleared = setCookie(res, SESSION_COOKIE);
  t.is(cleared?.value, '');
  const location = new URL(res.headers.get('location') as string);
  t.true(location.href.startsWith(rig.idp.issuer));
  // no ID token in the URL: it is an unencrypted JWT carrying the CPR claim
  t.is(location.searchParams.get('id_token_hint'), null);
  t.notRegex(location.href, /eyJ/, 'no JWT in the logout URL');
  t.is(location.searchParams.get('client_id'), CLIENT_ID);
  t.is(location.searchParams.get('post_logout_redirect_uri'), `${rig.publicUrl}/`);
  t.is((await me(rig.a, mette.cookie)).status, 401);
  const logged = await rig.db.query<{ status: number }>(
    `SELECT status FROM audit_log WHERE person_id = $1 AND action = 'POST /logout' ORDER BY seq`,
    [mette.person_id],
  );
  t.deepEqual(
    logged.map((r) => r.status),
    [403, 403, 303],
  );
  // At the provider: confirmed, sent back to central's front page, and signed out there.
  const out = await signOutAtIdp(location.href, jar);
  t.deepEqual(out, { kind: 'redirect', location: `${rig.publicUrl}/` });
  const next = await startLogin(rig.a);
  t.is((await walkIdp(next.authorize, jar)).kind, 'page');
  // Logging out again (an old tab): just the front page.
  res = await post(rig.a, '/logout', mette.cookie, mette.csrf);
  t.is(res.status, 303);
  t.is(res.headers.get('location'), `${rig.publicUrl}/`);
});

test.serial('a person lists their sessions and ends the others, or one; never another person’s', async (t) => {
  const one = await signIn(rig.a, rig.idp, 'lone', { userAgent: 'phone' });
  const two = await signIn(rig.a, rig.idp, 'lone', { userAgent: 'laptop' });
  const three = await signIn(rig.b, rig.idp, 'lone', { userAgent: 'office' });
  t.is(one.person_id, two.person_id);
  const list = await json(await fetch(`${rig.a}/api/me/sessions`, { headers: { cookie: one.cookie } }));
  const mine = list.sessions.filter((s: { session_id: string }) =>
    [one.session_id, two.session_id, three.session_id].includes(s.session_id),
  );
  t.is(mine.length, 3);
  t.deepEqual(
    list.sessions.filter((s: { current: boolean }) => s.current).map((s: { session_id: string }) => s.session_id),
    [one.session_id],
  );
  t.true(list.sessions.some((s: { user_agent: string }) => s.user_agent === 'laptop'));
  // CSRF on these too.
  let res = await post(rig.a, '/api/me/sessions/end-others', one.cookie);
  t.is(res.status, 403);
  t.is((await json(res)).code, 'csrf_failed');
  t.is((await me(rig.a, two.cookie)).status, 200);
  // Another person's session: not found, and still live.
  const peter = await signIn(rig.a, rig.idp, 'peter');
  res = await post(rig.a, `/api/me/sessions/${peter.session_id}/end`, one.cookie, one.csrf);
  t.is(res.status, 404);
  t.is((await json(res)).code, 'not_found');
  t.is((await me(rig.a, peter.cookie)).status, 200);
  // One of one's own.
  res = await post(rig.a, `/api/me/sessions/${three.session_id}/end`, one.cookie, one.csrf);
  t.is(res.status, 204);
  t.is((await me(rig.b, three.cookie)).status, 401);
  // All the others.
  res = await post(rig.b, '/api/me/sessions/end-others', one.cookie, one.csrf);
  t.is(res.status, 200);
  t.true((await json(res)).ended >= 1);
  t.is((await me(rig.a, two.cookie)).status, 401);
  t.is((await me(rig.a, one.cookie)).status, 200);
  t.is((await me(rig.a, peter.cookie)).status, 200);
});

test.serial('a person’s routes refuse no cookie, a forged one, and a service token', async (t) => {
  let res = await fetch(`${rig.a}/api/me`);
  t.is(res.status, 401);
  t.is((await json(res)).code, 'bad_credentials');
  res = await me(rig.a, `${SESSION_COOKIE}=${'A'.repeat(43)}`);
  t.is(res.status, 401);
  res = await me(rig.a, `${SESSION_COOKIE}=not-even-the-format`);
  t.is(res.status, 401);
  // A machine's token is not a person: refused on a person's route.
  const { token } = (await rig.services[0]?.central.tokens.add('admin', 'identity-tests')) as { token: string };
  res = await fetch(`${rig.a}/api/me`, { headers: { authorization: `Bearer ${token}` } });
  t.is(res.status, 403);
  t.is((await json(res)).code, 'scope_denied');
});

test.serial(
  'a script starting sign-ins from one address is stopped at the bound; another address still signs in',
  async (t) => {
    const start = (from: string, html = false) =>
      fetch(`${rig.tight}/login`, {
        redirect: 'manual',
        headers: { 'x-forwarded-for': from, ...(html ? { accept: 'text/html' } : {}) },
      });
    const count = async () =>
      (await rig.db.query<{ n: number }>('SELECT count(*)::int AS n FROM login_states'))[0]?.n ?? -1;
    const before = await count();
    for (let i = 0; i < 3; i++) t.is((await start('198.51.100.7')).status, 303);
    const json = await start('198.51.100.7');
    t.is(json.status, 429);
    t.is(((await json.json()) as { code: string }).code, 'too_many_attempts');
    t.true(Number(json.headers.get('retry-after')) > 0);
    const page = await start('198.51.100.7', true);
    t.is(page.status, 429, 'a browser gets the refusal as a page');
    t.regex(page.headers.get('content-type') ?? '', /^text\/html/);
    t.true(Number(page.headers.get('retry-after')) > 0);
    t.is(await count(), before + 3, 'a refused start keeps no login');
    t.is((await start('198.51.100.8')).status, 303, 'another address is not held back');
    // Ten minutes on, the address may start again.
    clock.offset_ms = 10 * MINUTE + 1000;
    t.is((await start('198.51.100.7')).status, 303);
  },
);

test('central without an identity section answers identity_not_configured', async (t) => {
  const central = await startCentral(t);
  const res = await fetch(`${central.http}/login`, { redirect: 'manual' });
  t.is(res.status, 503);
  t.is((await json(res)).code, 'identity_not_configured');
});

test('a provider that does not answer: identity_provider_unreachable, and no login is kept', async (t) => {
  const closed = await freePort();
  const central = await startCentral(t, {
    identity: {
      issuer: `http://127.0.0.1:${closed}`,
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      public_url: 'http://127.0.0.1:1',
    },
  });
  const res = await fetch(`${central.http}/login`, { redirect: 'manual' });
  t.is(res.status, 503);
  t.is((await json(res)).code, 'identity_provider_unreachable');
  t.is(setCookie(res, '__Secure-kantine_login'), undefined);
  const rows = await central.service.central.db.query<{ n: number }>('SELECT count(*)::int AS n FROM login_states');
  t.is(rows[0]?.n, 0);
});

test('an http:// issuer or public address beyond loopback stops the start', (t) => {
  const base = {
    issuer: 'https://kantine.idura.broker',
    client_id: 'x',
    client_secret: 'y',
    public_url: 'https://kantine.kommune.dk',
  };
  t.notThrows(() => parseCentralConfig({ identity: base }));
  t.notThrows(() => parseCentralConfig({ identity: { ...base, issuer: 'http://127.0.0.1:9000' } }));
  for (const bad of [{ issuer: 'http://idp.example' }, { public_url: 'http://kantine.kommune.dk' }]) {
    const err = t.throws(() => parseCentralConfig({ identity: { ...base, ...bad } }));
    t.is((err as { code?: string }).code, 'identity_insecure');
  }
  const both = t.throws(() => parseCentralConfig({ identity: { ...base, client_secret_file: '/x' } }));
  t.is((both as { code?: string }).code, 'config_invalid');
  const { client_secret: _, ...noSecret } = base;
  const none = t.throws(() => parseCentralConfig({ identity: noSecret }));
  t.is((none as { code?: string }).code, 'config_invalid');
  const noOpenid = t.throws(() => parseCentralConfig({ identity: { ...base, scopes: ['profile'] } }));
  t.is((noOpenid as { code?: string }).code, 'config_invalid');
  const trailing = t.throws(() => parseCentralConfig({ identity: { ...base, public_url: 'https://k.dk/' } }));
  t.is((trailing as { code?: string }).code, 'config_invalid');
});

test.serial('no CPR number appears in central’s log output or the provider’s during the run', (t) => {
  t.true(logText.includes('a person signed in'), 'the log was captured');
  t.true(logText.includes('sign-in refused'));
  const text = `${logText}\n${rig.idp.output()}`;
  for (const { cpr } of [...DEMO_PEOPLE, ...DEMO_CHILDREN]) {
    t.false(text.includes(cpr), `a CPR number is in the log`);
    t.false(text.includes(`${cpr.slice(0, 6)}-${cpr.slice(6)}`), `a CPR number (with dash) is in the log`);
  }
});
