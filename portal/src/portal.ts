import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import view from '@fastify/view';
import { type Access, type Actor, type Central, type PersonActor, SESSION_COOKIE } from '@kantine/central';
import { codes, KantineError } from '@kantine/protocol';
import { Eta } from 'eta';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Dictionary } from './dictionary/da.ts';
import { applySavedLanguage, dictionary, LANG_COOKIE, LANGS, type Lang, languageOf, localPath } from './language.ts';
import { formatOre } from './money.ts';
import { acceptMultipart } from './multipart.ts';
import { accountPages } from './pages/accounts.ts';
import { autotopupPages } from './pages/autotopup.ts';
import { cardTroublePages } from './pages/card-trouble.ts';
import { cardPages } from './pages/cards.ts';
import { officePages } from './pages/office.ts';
import { payoutPages } from './pages/payout.ts';
import { profilePages } from './pages/profile.ts';
import { relationPages } from './pages/relations.ts';
import { settingsPages } from './pages/settings.ts';
import { topupPages } from './pages/topup.ts';
import { webshopPages } from './pages/webshop.ts'; // webshopui
import { shopOf } from './pages/webshop-central.ts'; // webshopui

/** The services of central the portal calls (never its tables). */
export type PortalServices = Pick<
  Central,
  | 'personAuth'
  | 'accounts'
  | 'people'
  | 'sessions'
  | /* portalchild: */ 'catalogue'
  | 'contact'
  | 'webshop'
  | /* — portalcards — */ 'replacements'
  | 'support'
  | 'payouts'
  | 'sites'
  | /* autotopup: */ 'autotopup'
> &
  Partial<Pick<Central, 'topup' | 'payments'>>; // — topup —

/** What the portal needs of central: its services and the API hook's findings. */
export interface PortalOptions {
  central: PortalServices;
  /** Central's external base URL (identity.public_url), for links sent on (an invitation); else the request's. */
  publicUrl?: string;
  /** Central's clock (the statement's "this month"). */
  clock: { now(): Date };
  /** The actor the API hook let in (central's `actorOf`). */
  actorOf: (req: FastifyRequest) => Actor;
  /** The session's CSRF token of a person's request (central's `sessionCsrf`), for `_csrf` in forms. */
  sessionCsrf: (req: FastifyRequest) => string | undefined;
  log: Logger;
}

/** One entry of the main menu (`ready`: its page is built; the others are not shown yet). */
interface NavItem {
  key: keyof Dictionary['nav'];
  href: string;
  ready: boolean;
  /** Only for school office staff and the municipality's administrators (portalcards). */
  staff?: boolean;
  /** portalfix: for everyone signed in, staff or family (the others are a family's: see `familyMenu`). */
  everyone?: boolean;
  /** portalfix: the group it is shown in (`nav_groups` in the dictionaries), or none: on its own. */
  group?: keyof Dictionary['nav_groups'];
}

// portalfix: the menu in groups (Konti, Penge), so the wide screen's bar is one line; a phone's
// list shows the same groups under their names.
const NAV: readonly NavItem[] = [
  { key: 'accounts', href: '/konti', ready: true, group: 'accounts' },
  { key: 'statement', href: '/kontoudtog', ready: true, group: 'accounts' },
  { key: 'cards', href: '/kort', ready: true, group: 'accounts' },
  { key: 'settings', href: '/indstillinger', ready: true, group: 'accounts' },
  { key: 'relations', href: '/relationer', ready: true, group: 'accounts' },
  { key: 'card_trouble', href: '/kortet-virker-ikke', ready: true, group: 'accounts' },
  // — topup —
  { key: 'topup', href: '/indbetal', ready: true, group: 'money' },
  { key: 'payments', href: '/betalinger', ready: true, group: 'money' },
  { key: 'autotopup', href: '/automatisk-optankning', ready: true, group: 'money' },
  { key: 'payout', href: '/udbetaling', ready: true, group: 'money' },
  { key: 'webshop', href: '/webshop', ready: true }, // webshopui
  { key: 'office', href: '/kontor', ready: true, staff: true },
  { key: 'profile', href: '/profil', ready: true, everyone: true },
];

/** The menu entry a path belongs to (`/konti/konto-emma/kontoudtog` is the statement's). */
function currentNav(path: string): NavItem['key'] | undefined {
  if (path === '/konti') return 'accounts';
  // webshopui: an order's pages (/konti/konto-emma/ordrer/…) are the webshop's
  if (/^\/(?:konti\/[^/]+\/)?(?:ordrer|webshop)(?:\/|$)/.test(path)) return 'webshop';
  if (path.startsWith('/kontor')) return 'office';
  const page = /^\/konti\/[^/]+\/([a-z-]+)$/.exec(path)?.[1] ?? path.slice(1);
  return NAV.find((n) => n.href === `/${page}`)?.key;
}

/** Where a signed-in person lands. */
export const HOME = '/konti';
const STYLESHEET = '/portal/portal.css';

/** What every page's template gets (`it` in the templates). */
export interface PageData {
  t: Dictionary;
  lang: Lang;
  /** The page's title (before the site's name). */
  title: string;
  /** The signed-in person, or undefined on the public pages. */
  person: { name: string } | undefined;
  csrf: string | undefined;
  nav: { key: string; href: string; label: string; current: boolean; group?: string }[];
  /** The language switch's link (back to this page). */
  switch_href: string;
  stylesheet: string;
  money: (ore: number) => string;
  [more: string]: unknown;
}

/** A page route: a route of central's app that declares its access and answers refusals with pages. */
export interface PageRoute {
  method: 'GET' | 'POST';
  url: string;
  access: Access;
  handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
}

/** The tools a page's handler has (the language, rendering in the layout, the person). */
export interface Pages {
  render(
    req: FastifyRequest,
    reply: FastifyReply,
    template: string,
    data: { title: string; [more: string]: unknown },
  ): Promise<FastifyReply>;
  person(req: FastifyRequest): PersonActor;
  dictionary(req: FastifyRequest): Dictionary;
  lang(req: FastifyRequest): Lang;
  now(): Date;
  /** portalfix: whether this person gets the family's menu (not staff without a child of their own). */
  familyMenu(req: FastifyRequest): Promise<boolean>;
}

const PAGE_HEADERS = {
  // Our own stylesheet and nothing else: no script runs on a page (none is needed).
  'content-security-policy':
    "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  // A person's pages are theirs: never kept by a shared cache or the back button of a shared PC.
  'cache-control': 'no-store',
};

/**
 * The guardians' portal on central's HTTP server: server-rendered pages (eta through
 * @fastify/view), plain forms, Danish by default with English beside it. Every page is a route
 * of central's app and declares its access like the API's routes; the API hook decides. A page's
 * refusal is a page: without a live session the visitor is sent to sign in, any other refusal
 * shows why in their language (`PageErrors` in central's api.ts).
 */
export function registerPortal(app: FastifyInstance, opts: PortalOptions): Pages {
  const { central } = opts;
  const views = fileURLToPath(new URL('../views', import.meta.url));
  const eta = new Eta({ views, autoEscape: true, cache: true });
  void app.register(view, { engine: { eta }, root: views, production: true });
  // Plain HTML forms post application/x-www-form-urlencoded: central's API reads them (its own
  // parser, which refuses a field given twice) and takes `_csrf` from them. A form with a file
  // (the child's photo) posts multipart/form-data, read the same way (multipart.ts).
  acceptMultipart(app);

  const css = readFileSync(new URL('../static/portal.css', import.meta.url));

  const pageData = (req: FastifyRequest, data: { title: string; [more: string]: unknown }): PageData => {
    const lang = languageOf(req);
    const t = dictionary(lang);
    let person: { name: string } | undefined;
    let staff = false;
    try {
      const actor = opts.actorOf(req);
      if (actor.kind === 'person') person = { name: actor.name };
      if (actor.kind === 'person') staff = actor.office_sites.length > 0 || actor.staff.includes('admin');
    } catch {
      person = undefined; // a public page
    }
    const path = req.url.split('?')[0] ?? '/';
    const other = LANGS.find((l) => l !== lang) as Lang;
    return {
      t,
      lang,
      person,
      csrf: person ? opts.sessionCsrf(req) : undefined,
      nav: NAV.filter((n) => n.ready && (!n.staff || staff)).map((n) => ({
        key: n.key,
        href: n.href,
        label: t.nav[n.key],
        current: n.key === currentNav(path),
        ...(n.group ? { group: n.group } : {}),
      })),
      switch_href: `/sprog/${other}?return=${encodeURIComponent(localPath(req.url) ?? '/')}`,
      stylesheet: STYLESHEET,
      money: formatOre,
      ...data,
    };
  };

  const render: Pages['render'] = async (req, reply, template, data) => {
    reply.headers(PAGE_HEADERS).type('text/html; charset=utf-8');
    const page = pageData(req, data);
    // portalfix: staff who are no child's guardian or relation see the staff's menu (and Profil) only.
    if (!(await familyMenu(req)))
      page.nav = page.nav.filter(
        (n) => NAV.find((x) => x.key === n.key)?.everyone || NAV.find((x) => x.key === n.key)?.staff,
      );
    return reply.view(template, page);
  };

  /**
   * portalfix: whether the signed-in person gets the family's menu (Mine konti, top-up, webshop…):
   * everyone who is not staff (a new guardian adds their child from Mine konti), and staff who are
   * a child's guardian or relation. School office staff or an administrator with no child of their
   * own get only what they may use.
   */
  const familyMenu = async (req: FastifyRequest): Promise<boolean> => {
    let actor: ReturnType<PortalOptions['actorOf']>;
    try {
      actor = opts.actorOf(req);
    } catch {
      return true; // a public page: no menu anyway
    }
    if (actor.kind !== 'person') return true;
    if (actor.office_sites.length === 0 && !actor.staff.includes('admin')) return true;
    return (await central.accounts.views.accountsOf(actor.person_id)).length > 0;
  };

  const errors = {
    signIn(req: FastifyRequest): string {
      const back = req.method === 'GET' ? localPath(req.url) : undefined;
      const ended = req.cookies?.[SESSION_COOKIE] !== undefined;
      const q = new URLSearchParams();
      if (back && back !== HOME) q.set('return', back);
      if (ended) q.set('ended', '1');
      const s = q.toString();
      return s ? `/?${s}` : '/';
    },
    async refuse(req: FastifyRequest, reply: FastifyReply, err: KantineError, status: number) {
      const lang = languageOf(req);
      const t = dictionary(lang);
      const kind =
        err.code === 'not_found'
          ? 'not_found'
          : err.code === 'csrf_failed'
            ? 'csrf'
            : err.code === 'scope_denied' || status === 403 // webshopui: any other refusal by role (its code says why)
              ? 'denied'
              : 'error';
      const heading =
        kind === 'not_found'
          ? t.refusal.heading_not_found
          : kind === 'denied'
            ? t.refusal.heading_denied
            : kind === 'csrf'
              ? t.refusal.heading_csrf
              : t.refusal.heading_error;
      const info = codes[err.code];
      const text =
        kind === 'not_found'
          ? t.refusal.text_not_found
          : kind === 'denied'
            ? err.code === 'scope_denied'
              ? t.refusal.text_denied
              : info[lang]
            : kind === 'csrf'
              ? info[lang]
              : status >= 500
                ? t.refusal.text_error
                : info[lang];
      reply.status(status);
      return render(req, reply, 'refusal', { title: heading, heading, text, code: err.code, kind });
    },
  };

  // portalfix: a signed-in person's saved language on a browser that has none yet (language.ts).
  const savedLanguage = async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.method !== 'GET' || req.cookies?.[LANG_COOKIE] !== undefined) return;
    await applySavedLanguage(req, reply, async () => {
      let actor: ReturnType<PortalOptions['actorOf']>;
      try {
        actor = opts.actorOf(req);
      } catch {
        return undefined; // a public page
      }
      return actor.kind === 'person' ? (await central.contact.get(actor.person_id)).lang : undefined;
    });
  };

  const page = (r: PageRoute): void => {
    app.route({
      method: r.method,
      url: r.url,
      handler: r.handler,
      preHandler: savedLanguage,
      config: { access: r.access, page: errors },
    });
  };

  // ── public: the stylesheet, the sign-in landing, the language switch, the accessibility statement
  page({
    method: 'GET',
    url: STYLESHEET,
    access: 'public',
    handler: async (_req, reply) =>
      reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(css),
  });

  page({
    method: 'GET',
    url: '/',
    access: 'public',
    handler: async (req, reply) => {
      const q = req.query as Record<string, unknown>;
      const back = localPath(q.return) ?? HOME;
      // Already signed in (a live session): straight on.
      const cookie = req.cookies?.[SESSION_COOKIE];
      if (cookie !== undefined && central.personAuth) {
        const live = await central.personAuth.session(cookie).then(
          () => true,
          () => false,
        );
        if (live) return reply.redirect(back, 303);
      }
      const t = dictionary(languageOf(req));
      return render(req, reply, 'landing', {
        title: t.landing.title,
        sign_in_href: `/login?return=${encodeURIComponent(back)}`,
        ended: q.ended === '1',
      });
    },
  });

  page({
    method: 'GET',
    url: '/sprog/:lang',
    access: 'public',
    handler: async (req, reply) => {
      const { lang } = req.params as { lang: string };
      if (!(LANGS as readonly string[]).includes(lang)) throw new KantineError('not_found', `no language ${lang}`);
      const back = localPath((req.query as Record<string, unknown>).return) ?? '/';
      return reply
        .header(
          'set-cookie',
          `${LANG_COOKIE}=${lang}; Path=/; Max-Age=${365 * 24 * 3600}; SameSite=Lax; HttpOnly${
            req.protocol === 'https' ? '; Secure' : ''
          }`,
        )
        .redirect(back, 303);
    },
  });

  page({
    method: 'GET',
    url: '/tilgaengelighed',
    access: 'public',
    handler: async (req, reply) =>
      render(req, reply, 'accessibility', { title: dictionary(languageOf(req)).accessibility.title }),
  });

  const pages: Pages = {
    render,
    person(req) {
      const actor = opts.actorOf(req);
      if (actor.kind !== 'person') throw new KantineError('scope_denied', 'the portal is for people, not tokens');
      return actor;
    },
    dictionary: (req) => dictionary(languageOf(req)),
    lang: languageOf,
    now: () => opts.clock.now(),
    familyMenu,
  };
  const publicUrl = (req: FastifyRequest) => opts.publicUrl ?? `${req.protocol}://${req.host}`;
  for (const r of [
    ...accountPages(central, pages),
    ...cardPages(central, pages),
    ...relationPages(central, pages, publicUrl),
    ...profilePages(central, pages),
    ...settingsPages(central, pages),
    ...autotopupPages(central, pages),
    ...topupPages(central, pages),
    ...webshopPages(central, shopOf(central, opts.clock), pages, publicUrl), // webshopui
    // — portalcards —
    ...cardTroublePages(central, pages),
    ...payoutPages(central, pages),
    ...officePages(central, pages),
  ])
    page(r);
  return pages;
}
