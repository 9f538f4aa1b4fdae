/**
 * The portal's pages in real Chromium (Debian's, through playwright-core, as the kiosk tests):
 * every page a test opens is checked with axe-core (no serious or critical violation of WCAG 2.1
 * A/AA) and kept as two screenshots, phone (390×844) and desktop (1280×900), in artifacts/portal/.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_CHILDREN, DEMO_PEOPLE } from '@kantine/idp';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { browserMissing, launch } from './browser.ts';
import { startCentral, type TestCentral } from './central.ts';
import { startIdp } from './idp.ts';
import { freshDatabase } from './postgres.ts';
import { freePort, repoRoot } from './process.ts';
import { signIn } from './sign-in.ts';

export { browserMissing, launch } from './browser.ts';

/**
 * A portal test file's frame: its tests run one after another with one Chromium for the file,
 * launched before them and closed after. No suite skips itself: without Chromium the file fails.
 */
export function portalTests(): { test: TestFn['serial']; browser: () => Browser } {
  if (browserMissing) throw new Error(`the portal's browser tests need Chromium: ${browserMissing}`);
  let browser: Browser | undefined;
  anyTest.before(async () => {
    browser = await launch();
  });
  anyTest.after.always(async () => {
    await browser?.close();
  });
  return {
    test: anyTest.serial,
    browser: () => {
      if (!browser) throw new Error('Chromium did not start');
      return browser;
    },
  };
}

export const portalArtifacts = join(repoRoot, 'artifacts', 'portal');

export const PHONE = { width: 390, height: 844 } as const;
export const DESKTOP = { width: 1280, height: 900 } as const;

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** What axe found, as a test reads it. */
export interface AxeFinding {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/** A fresh browser context (its own cookies) with a page at phone size; closed in teardown. */
export async function openContext(
  t: ExecutionContext,
  browser: Browser,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: PHONE, locale: 'da-DK' });
  t.teardown(() => context.close());
  const page = await context.newPage();
  page.on('pageerror', (err) => t.fail(`page error: ${err.message}`));
  return { context, page };
}

/** Runs axe-core in the page (injected by the test, not served by central) and returns its violations. */
export async function axe(page: Page): Promise<AxeFinding[]> {
  // evaluate() runs outside the page's Content-Security-Policy (which allows no script at all).
  if (!(await page.evaluate('typeof window.axe !== "undefined"'))) await page.evaluate(axeSource);
  return page.evaluate(async () => {
    // biome-ignore lint/suspicious/noExplicitAny: the page's window, with the global axe the injected source defines
    const page = globalThis as any;
    const result = await page.axe.run(page.document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      resultTypes: ['violations'],
    });
    return (
      result.violations as { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[]
    ).map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(' ')),
    }));
  });
}

/**
 * Checks the page as it is now at both widths: axe finds no serious or critical violation, no
 * text says "undefined" (a missing dictionary entry or field), and the screenshots
 * artifacts/portal/<name>-phone.png and <name>-desktop.png are written. The page is left at phone size.
 */
export async function checkPage(t: ExecutionContext, page: Page, name: string): Promise<void> {
  mkdirSync(portalArtifacts, { recursive: true });
  t.notRegex(await page.locator('body').innerText(), /\bundefined\b|\bNaN\b|\[object Object\]/, `${name}: text`);
  for (const [size, viewport] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const) {
    await page.setViewportSize(viewport);
    // WCAG 1.4.10 (reflow): nothing wider than the screen, no scrolling sideways on a phone.
    const overflow = await page.evaluate(
      // biome-ignore lint/suspicious/noExplicitAny: the page's window
      () => (globalThis as any).document.documentElement.scrollWidth - (globalThis as any).innerWidth,
    );
    t.true(overflow <= 0, `${name} (${size}): the page is ${overflow}px wider than the screen`);
    const bad = (await axe(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
    t.deepEqual(bad, [], `${name} (${size}): axe found serious or critical violations`);
    await page.screenshot({ path: join(portalArtifacts, `${name}-${size}.png`), fullPage: true });
  }
}

// ── The demo's families at a central with sign-in through the dev provider ──

export const CLIENT_ID = 'kantine-central';
const CLIENT_SECRET = 'central-secret-for-portal-page-tests';
export const SITE = 'soendervang';

export function cprOf(key: string): string {
  const p = DEMO_PEOPLE.find((x) => x.key === key) ?? DEMO_CHILDREN.find((x) => x.key === key);
  if (!p) throw new Error(`no demo person ${key}`);
  return p.cpr;
}

/**
 * Central (Postgres) with sign-in through the dev provider, and the demo's families: Emma and
 * Noah with Anne as their guardian (by CPR on the children's records) and Karen as Emma's relation
 * (Anne invites her by CPR); Freja with Peter. Emma has money in and a card fee out, a card, and
 * a day limit at school.
 */
/** Central with the families, and the school's link section (a gateway's `central` config) for a test with a till. */
export type FamilyCentral = TestCentral & { site_link: { url: string; secret: string; ca_file: string } };

export async function families(
  t: ExecutionContext,
  /** More of central's config (e.g. a `payments` section). */
  extra: Record<string, unknown> = {},
  /** Central's clock (default: the machine's). */
  clock?: { now(): Date },
): Promise<FamilyCentral> {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const idp = await startIdp(t, [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [`${publicUrl}/login/callback`],
      post_logout_redirect_uris: [`${publicUrl}/`],
    },
  ]);
  const keys = mkdtempSync(join(tmpdir(), 'kantine-portal-keys-'));
  t.teardown(() => rmSync(keys, { recursive: true, force: true }));
  const central = await startCentral(
    t,
    {
      database: { url: await freshDatabase(t, 'portalpages') },
      http: { port },
      identity: {
        issuer: idp.issuer,
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        public_url: publicUrl,
        cpr_key_file: join(keys, 'cpr.key'),
      },
      ...extra,
    },
    false,
    clock,
  );
  const ok = async (p: Promise<{ status: number; body: unknown }>, status: number) => {
    const r = await p;
    if (r.status !== status) throw new Error(`${r.status} ${JSON.stringify(r.body)}`);
  };
  const site_link = await central.addSite(SITE);
  const put = (key: 'emma' | 'noah' | 'freja', sites: string[]) => {
    const child = DEMO_CHILDREN.find((c) => c.key === key);
    if (!child) throw new Error(`no demo child ${key}`);
    return ok(
      central.api('PUT', `/api/accounts/konto-${key}`, {
        first_name: child.first_name,
        last_name: child.last_name,
        cpr: child.cpr,
        sites,
        ...(key === 'emma' ? { limits: [{ place_kind: 'school', period: 'day', limit_ore: 5_000 }] } : {}),
      }),
      204,
    );
  };
  // Emma's money moves before she joins the school (whose offline gateway would then hold shares of it).
  await put('emma', []);
  const finance = await central.tokenFor('finance', 'Mette Økonomi');
  await ok(central.api('POST', '/api/accounts/konto-emma/deposits', { amount_ore: 20_000 }, finance), 201);
  await ok(central.api('POST', '/api/accounts/konto-emma/deposits', { amount_ore: 123_450 }, finance), 201);
  await ok(
    central.api('POST', '/api/accounts/konto-emma/withdrawals', {
      id: 'fee-card-1',
      amount_ore: 1_000,
      kind: 'fee',
      reason: 'Nyt kort',
    }),
    201,
  );
  for (const key of ['emma', 'noah', 'freja'] as const) await put(key, [SITE]);
  await ok(central.api('PUT', '/api/cards/04000000003E01', { kind: 'legacy', card_number: '1234-7K3M-Q9XA' }), 204);
  await ok(central.api('POST', '/api/cards/04000000003E01/activate', { account_id: 'konto-emma' }), 204);
  await ok(central.api('PUT', '/api/accounts/konto-emma/guardian-cprs', { cprs: [cprOf('anne')] }), 204);
  await ok(central.api('PUT', '/api/accounts/konto-noah/guardian-cprs', { cprs: [cprOf('anne')] }), 204);
  await ok(central.api('PUT', '/api/accounts/konto-freja/guardian-cprs', { cprs: [cprOf('peter')] }), 204);
  // Anne (signed in with fetch) shares Emma's account with Karen by her CPR number.
  const anne = await signIn(central.http, idp, 'anne');
  const invite = await fetch(`${central.http}/api/accounts/konto-emma/relations`, {
    method: 'POST',
    headers: { cookie: anne.cookie, 'x-csrf-token': anne.csrf, 'content-type': 'application/json' },
    body: JSON.stringify({ cpr: cprOf('karen') }),
  });
  if (invite.status !== 201) throw new Error(`invite: ${invite.status} ${await invite.text()}`);
  return Object.assign(central, { site_link });
}

/** Signs `person` in as a browser does: the landing page's button, the provider's page, back at central. */
export async function signInFromLanding(page: Page, central: TestCentral, person: string, from = '/'): Promise<void> {
  await page.goto(`${central.http}${from}`);
  await page.getByTestId('sign-in').click();
  await page.locator(`#person-${person}`).click();
  await page.waitForURL((u) => u.origin === central.http && u.pathname !== '/' && !u.pathname.startsWith('/login'));
}

export const accountCard = (page: Page, account: string) => page.locator(`[data-account="${account}"]`);

/** An element's text with its spaces as one plain space (Intl puts a no-break space before "kr."). */
export const text = async (l: Locator) => (await l.innerText()).replace(/\s+/g, ' ').trim();

/**
 * A link of the main menu as a person reaches it: on a phone the menu is a "Menu" button that
 * opens the list (opened here when it is closed); on a wider screen the bar shows the links, those
 * of a group (Konti, Penge) under the group's button (opened here when it is closed).
 */
export async function menuLink(page: Page, name: string): Promise<Locator> {
  const nav = page.getByRole('navigation', { name: /^(Hovedmenu|Main menu)$/ });
  const menu = nav.getByTestId('nav-menu');
  // biome-ignore lint/suspicious/noExplicitAny: the page's <details> element
  const isOpen = (d: Locator) => d.evaluate((e) => (e as any).open as boolean);
  if (await menu.isVisible()) {
    if (!(await isOpen(menu))) await menu.locator('summary').first().click();
  } else {
    const group = nav.locator('.nav-bar details', { has: page.locator('a', { hasText: name }) });
    for (const g of await group.all()) {
      const texts = await g.locator('a').allTextContents();
      if (texts.some((x) => x.trim() === name) && !(await isOpen(g))) await g.locator('summary').click();
    }
  }
  return nav.getByRole('link', { name, exact: true });
}
