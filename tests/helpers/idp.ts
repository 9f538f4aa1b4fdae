import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DevIdpClient } from '@kantine/idp';
import type { ExecutionContext } from 'ava';
import { repoRoot, stopGracefully } from './process.ts';

/** The `kantine-dev-idp` command, as `npm start` and IT run it. */
export const idpBin = join(repoRoot, 'idp', 'bin', 'kantine-dev-idp.mjs');

export interface RunningIdp {
  readonly issuer: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr), e.g. to check no CPR is in it. */
  output(): string;
}

/**
 * Runs the development identity provider as a real process (the bin) with these relying parties
 * and stops it in teardown. One client goes on the command line (its secret in the environment,
 * as argv is visible in `ps`); more go in a clients file. Resolves once it prints `issuer <url>`;
 * bounded at 20 s.
 */
export async function startIdp(
  t: Pick<ExecutionContext, 'teardown'>,
  clients: DevIdpClient[],
  options: { host?: string } = {},
): Promise<RunningIdp> {
  const args = ['--host', options.host ?? '127.0.0.1', '--port', '0'];
  const env: Record<string, string> = {};
  const [only] = clients;
  if (clients.length === 1 && only) {
    args.push('--client-id', only.client_id);
    for (const uri of only.redirect_uris) args.push('--redirect-uri', uri);
    for (const uri of only.post_logout_redirect_uris) args.push('--post-logout-redirect-uri', uri);
    env.KANTINE_DEV_IDP_CLIENT_SECRET = only.client_secret;
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'kantine-idp-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'clients.json');
    writeFileSync(file, JSON.stringify(clients), { mode: 0o600 });
    args.push('--clients-file', file);
  }
  const child = spawn(process.execPath, [idpBin, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => stopGracefully(child));
  let output = '';
  child.stderr.on('data', (b: Buffer) => {
    output += b.toString();
  });
  const issuer = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kantine-dev-idp did not start within 60 s\n${output}`));
    }, 60_000);
    child.stdout.on('data', (b: Buffer) => {
      output += b.toString();
      const url = /^issuer (\S+)$/m.exec(output)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve(url);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kantine-dev-idp exited with ${code} before it started\n${output}`));
    });
  });
  return { issuer, port: Number(new URL(issuer).port), child, output: () => output };
}

/** Runs `kantine-dev-idp` with these arguments to its end (a refused start); bounded at 20 s. */
export function runIdpBin(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [idpBin, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The provider's cookies, as a browser keeps them for its host (the provider's only). */
export class CookieJar {
  readonly #cookies = new Map<string, string>();

  /** Takes the response's Set-Cookie headers (a removal, Max-Age=0 or an expiry in the past, deletes). */
  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const removed = attributes.some((a) => {
        const [key = '', value = ''] = a.trim().split('=');
        if (/^max-age$/i.test(key)) return Number(value) <= 0;
        if (/^expires$/i.test(key)) return Date.parse(a.trim().slice(8)) <= Date.now();
        return false;
      });
      if (removed) this.#cookies.delete(name);
      else this.#cookies.set(name, pair.slice(eq + 1).trim());
    }
  }

  header(): string {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  names(): string[] {
    return [...this.#cookies.keys()];
  }
}

/** Where a walk through the provider ended: a page of the provider's, or a redirect away from it. */
export type IdpStop =
  | { readonly kind: 'page'; readonly url: string; readonly status: number; readonly html: string }
  | { readonly kind: 'redirect'; readonly location: string };

/** Redirects inside one sign-in are few (authorize → sign-in → authorize → consent → authorize). */
const REDIRECTS_MAX = 10;

/**
 * Does what a browser does at the provider: requests `url` (GET, or POST with `form`) and follows
 * the provider's redirects with its cookies until it shows a page or sends the browser elsewhere
 * (back to the relying party).
 */
export async function walkIdp(url: string, jar: CookieJar, form?: URLSearchParams): Promise<IdpStop> {
  const origin = new URL(url).origin;
  let next = url;
  let body = form;
  for (let i = 0; i <= REDIRECTS_MAX; i++) {
    const res = await fetch(next, {
      method: body ? 'POST' : 'GET',
      redirect: 'manual',
      headers: {
        cookie: jar.header(),
        ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(body ? { body: body.toString() } : {}),
    });
    jar.store(res);
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      const target = new URL(location, next);
      if (target.origin !== origin) return { kind: 'redirect', location: target.href };
      next = target.href;
      body = undefined;
      continue;
    }
    return { kind: 'page', url: next, status: res.status, html: await res.text() };
  }
  throw new Error(`more than ${REDIRECTS_MAX} redirects at the provider from ${url}`);
}

/** The form on `html` that posts `field=value` (a button's form): its action, resolved against `url`. */
function formAction(html: string, url: string, field: string, value: string): string | undefined {
  for (const m of html.matchAll(/<form\b[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)) {
    const inner = m[2] ?? '';
    if (inner.includes(`name="${field}" value="${value}"`)) return new URL(unescapeHtml(m[1] ?? ''), url).href;
  }
  return undefined;
}

function unescapeHtml(text: string): string {
  return text.replaceAll('&amp;', '&').replaceAll('&quot;', '"').replaceAll('&#39;', "'");
}

/**
 * A browser at the provider: opens the authorization URL, presses the demo person's button on the
 * sign-in page and follows the redirects back. Returns the URL the browser is sent to at the
 * relying party (…/login/callback?code=…&state=…). Throws when no sign-in page was shown (already
 * signed in: use walkIdp) or the person is not on it.
 */
export async function pickPerson(authorizeUrl: string, key: string, jar: CookieJar = new CookieJar()): Promise<string> {
  const first = await walkIdp(authorizeUrl, jar);
  if (first.kind !== 'page') throw new Error(`no sign-in page: the provider sent the browser to ${first.location}`);
  const action = formAction(first.html, first.url, 'person', key);
  if (!action) throw new Error(`no button for '${key}' on the page (${first.status}):\n${first.html}`);
  const after = await walkIdp(action, jar, new URLSearchParams({ person: key }));
  if (after.kind !== 'redirect') throw new Error(`the provider answered a page (${after.status}):\n${after.html}`);
  return after.location;
}

/**
 * A browser at the provider's end_session URL: confirms the sign-out on the provider's page
 * ("Ja, log ud") and returns where it is sent (the post_logout_redirect_uri), or the final page.
 */
export async function signOutAtIdp(endSessionUrl: string, jar: CookieJar): Promise<IdpStop> {
  const first = await walkIdp(endSessionUrl, jar);
  if (first.kind !== 'page') return first;
  // The confirmation page's form (op.logoutForm), or oidc-provider's self-submitting form when
  // nobody is signed in: its hidden fields, and the "yes" button's logout=yes.
  for (const m of first.html.matchAll(/<form\b[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)) {
    const fields = new URLSearchParams();
    for (const input of (m[2] ?? '').matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)"\/?>/g)) {
      fields.set(input[1] ?? '', unescapeHtml(input[2] ?? ''));
    }
    if (!fields.has('xsrf')) continue;
    fields.set('logout', 'yes');
    return walkIdp(new URL(unescapeHtml(m[1] ?? ''), first.url).href, jar, fields);
  }
  return first;
}
