/**
 * Signing a demo person in at central the way a browser does: central's /login, the dev
 * provider's sign-in page (a button per demo person), the callback back at central — every step a
 * real HTTP request and redirect, no shortcut into the session store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CentralService, type Clock, parseCentralConfig } from '@kantine/central';
import type { ExecutionContext } from 'ava';
import type { Logger } from 'pino';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { TEST_MAIL_OUTBOX } from './central.ts';
import { CookieJar, pickPerson, type RunningIdp, startIdp } from './idp.ts';
import { freshDatabase } from './postgres.ts';
import { freePort } from './process.ts';
import { silent } from './site.ts';

export const SESSION_COOKIE = '__Host-kantine_session';
const LOGIN_COOKIE = '__Secure-kantine_login';

/** A signed-in person, as a test uses them with `fetch`. */
export interface SignedIn {
  /** The `Cookie` header to send (`__Host-kantine_session=…`). */
  cookie: string;
  /** The session's CSRF token: send it as `x-csrf-token` (or a form's `_csrf`) on every POST/PUT/PATCH. */
  csrf: string;
  /** The cookie's value alone. */
  session: string;
  session_id: string;
  person_id: string;
  /** Where central sent the browser after sign-in (the `return` path). */
  location: string;
  /** The raw Set-Cookie header central gave the session cookie (its flags). */
  set_cookie: string;
  /** The provider's cookies (its own session): pass it to sign in again or sign out there. */
  idp_jar: CookieJar;
}

export interface SignInOptions {
  /** `return` for /login (a path on central). */
  return?: string;
  /** The provider's cookies (default: a new browser). */
  jar?: CookieJar;
  /** Where the callback goes (default: `central`): another worker behind the same address. */
  callbackBase?: string;
  userAgent?: string;
}

/** The value of cookie `name` from a response's Set-Cookie headers, and the whole header line. */
export function setCookie(res: Response, name: string): { value: string; line: string } | undefined {
  for (const line of res.headers.getSetCookie()) {
    const m = new RegExp(`^${name}=([^;]*)`).exec(line);
    if (m) return { value: m[1] as string, line };
  }
  return undefined;
}

/**
 * Starts a login at central and returns the provider's authorization URL with the login cookie
 * central set (what the browser holds until the callback).
 */
export async function startLogin(
  central: string,
  opts: { return?: string; userAgent?: string; loginCookie?: string } = {},
): Promise<{ authorize: string; loginCookie: string }> {
  const url = new URL('/login', central);
  if (opts.return !== undefined) url.searchParams.set('return', opts.return);
  const res = await fetch(url, {
    redirect: 'manual',
    headers: {
      ...(opts.userAgent ? { 'user-agent': opts.userAgent } : {}),
      ...(opts.loginCookie ? { cookie: `${LOGIN_COOKIE}=${opts.loginCookie}` } : {}),
    },
  });
  const text = await res.text();
  if (res.status !== 303) throw new Error(`GET /login answered ${res.status}: ${text}`);
  const login = setCookie(res, LOGIN_COOKIE);
  if (!login) throw new Error('GET /login set no login cookie');
  return { authorize: res.headers.get('location') as string, loginCookie: login.value };
}

/** Sends the browser back to central's callback (the URL the provider redirected to), with the login cookie. */
export async function callback(
  callbackUrl: string,
  loginCookie: string | undefined,
  opts: { base?: string; userAgent?: string; sessionCookie?: string } = {},
): Promise<Response> {
  const url = new URL(callbackUrl);
  const target = opts.base ? new URL(`${url.pathname}${url.search}`, opts.base) : url;
  const cookies = [
    ...(loginCookie === undefined ? [] : [`${LOGIN_COOKIE}=${loginCookie}`]),
    ...(opts.sessionCookie === undefined ? [] : [opts.sessionCookie]),
  ];
  return fetch(target, {
    redirect: 'manual',
    headers: {
      ...(cookies.length ? { cookie: cookies.join('; ') } : {}),
      ...(opts.userAgent ? { 'user-agent': opts.userAgent } : {}),
    },
  });
}

/**
 * Signs the demo person `personKey` (`anne`, `peter`, `karen`, `lone`, `jens`, `mette`) in at
 * central (`central`: its HTTP base, e.g. `http://127.0.0.1:8090`) through the provider `idp`
 * (its issuer, to check the login goes there) and returns the session cookie and CSRF token.
 */
export async function signIn(
  central: string,
  idp: { issuer: string },
  personKey: string,
  opts: SignInOptions = {},
): Promise<SignedIn> {
  const jar = opts.jar ?? new CookieJar();
  const { authorize, loginCookie } = await startLogin(central, opts);
  if (!authorize.startsWith(`${idp.issuer.replace(/\/$/, '')}/`)) {
    throw new Error(`central sent the browser to ${authorize}, not to the provider ${idp.issuer}`);
  }
  const back = await pickPerson(authorize, personKey, jar);
  const res = await callback(back, loginCookie, {
    ...(opts.callbackBase ? { base: opts.callbackBase } : {}),
    ...(opts.userAgent ? { userAgent: opts.userAgent } : {}),
  });
  const text = await res.text();
  const session = setCookie(res, SESSION_COOKIE);
  if (res.status !== 303 || !session) throw new Error(`the callback answered ${res.status}: ${text}`);
  const cookie = `${SESSION_COOKIE}=${session.value}`;
  const me = await fetch(new URL('/api/me', opts.callbackBase ?? central), { headers: { cookie } });
  if (me.status !== 200) throw new Error(`GET /api/me answered ${me.status}: ${await me.text()}`);
  const body = (await me.json()) as { csrf: string; session_id: string; person_id: string };
  return {
    cookie,
    csrf: body.csrf,
    session: session.value,
    session_id: body.session_id,
    person_id: body.person_id,
    location: res.headers.get('location') as string,
    set_cookie: session.line,
    idp_jar: jar,
  };
}

/**
 * The same in real Chromium: a new browser context opens central's /login, presses the person's
 * button on the provider's page and lands back at central signed in. Returns the context (its
 * cookies hold the session) and its page, at the `return` path.
 */
export async function signInChromium(
  browser: Browser,
  central: string,
  personKey: string,
  opts: { return?: string } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const url = new URL('/login', central);
  if (opts.return !== undefined) url.searchParams.set('return', opts.return);
  await page.goto(url.href);
  await Promise.all([
    page.waitForURL((u) => u.origin === new URL(central).origin && !u.pathname.startsWith('/login'), {
      timeout: 20_000,
    }),
    page.locator(`#person-${personKey}`).click(),
  ]);
  return { context, page };
}

/** Central with sign-in: the dev provider (a real process) and central worker(s) on one Postgres. */
export interface CentralWithIdp {
  idp: RunningIdp;
  /** Each worker's HTTP base; the first is also the public address the provider sends people back to. */
  http: string[];
  services: CentralService[];
  publicUrl: string;
  dbUrl: string;
}

export const TEST_CLIENT_ID = 'kantine-central';
const TEST_CLIENT_SECRET = 'central-secret-for-tests-0123456789';

/**
 * Starts the dev identity provider and `workers` central workers (default 1) on a new Postgres
 * database, all behind the first worker's address (`public_url`), with the provider registered
 * for it. `identity` adds to (or replaces) central's identity section; `config` to its config.
 * Everything stops in `t`'s teardown. Sign people in with `signIn(rig.http[0], rig.idp, 'anne')`.
 */
export async function startCentralWithIdp(
  t: Pick<ExecutionContext, 'teardown'>,
  opts: {
    workers?: number;
    identity?: Record<string, unknown>;
    config?: Record<string, unknown>;
    clock?: Clock;
    log?: Logger;
    /** The mail outbox's timing (default `TEST_MAIL_OUTBOX`; `HELD_MAIL_OUTBOX` keeps rows queued). */
    mailOutbox?: typeof TEST_MAIL_OUTBOX;
  } = {},
): Promise<CentralWithIdp> {
  const ports: number[] = [];
  for (let i = 0; i < (opts.workers ?? 1); i++) ports.push(await freePort());
  const publicUrl = `http://127.0.0.1:${ports[0]}`;
  const idp = await startIdp(t, [
    {
      client_id: TEST_CLIENT_ID,
      client_secret: TEST_CLIENT_SECRET,
      redirect_uris: [`${publicUrl}/login/callback`],
      post_logout_redirect_uris: [`${publicUrl}/`],
    },
  ]);
  const dbUrl = await freshDatabase(t as ExecutionContext, 'signin');
  const keyDir = mkdtempSync(join(tmpdir(), 'kantine-signin-'));
  const services: CentralService[] = [];
  t.teardown(async () => {
    for (const s of services.reverse()) await s.stop();
    rmSync(keyDir, { recursive: true, force: true });
  });
  for (const port of ports) {
    const service = new CentralService({
      config: parseCentralConfig({
        database: { url: dbUrl },
        mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0, tls: 'off' },
        http: { host: '127.0.0.1', port },
        ...opts.config,
        identity: {
          issuer: idp.issuer,
          client_id: TEST_CLIENT_ID,
          client_secret: TEST_CLIENT_SECRET,
          public_url: publicUrl,
          // The workers' shared CPR key (made 0600 by the first), not the repository's data/.
          cpr_key_file: join(keyDir, 'cpr.key'),
          ...opts.identity,
        },
      }),
      ...(opts.clock ? { clock: opts.clock } : {}),
      log: opts.log ?? silent,
      mailOutbox: opts.mailOutbox ?? TEST_MAIL_OUTBOX,
    });
    await service.start();
    services.push(service);
  }
  return { idp, http: ports.map((p) => `http://127.0.0.1:${p}`), services: [...services], publicUrl, dbUrl };
}
