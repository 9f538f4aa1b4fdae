import { timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import fastifyCookie from '@fastify/cookie';
import { check, codes, KantineError } from '@kantine/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import pino, { type Logger } from 'pino';
import Type from 'typebox';
import {
  type Actor,
  type PersonAuth,
  SESSION_COOKIE,
  type ServiceActor,
  type SessionHolder,
  type StaffRole,
} from '../auth/actor.ts';
import { SCOPES, type Scope } from '../auth/tokens.ts';
import type { Central } from '../central.ts';
import type { HttpMetrics } from '../metrics/index.ts';
import { restoreRoutes } from '../restore/routes.ts';
import { accountRoutes } from './accounts.ts';
import { autotopupRoutes } from './autotopup.ts';
import { cardRoutes } from './cards.ts';
import { catalogueRoutes } from './catalogue.ts';
import { acceptForms, identityRoutes } from './identity.ts';
import { importRoutes } from './import.ts';
import { moneyRoutes } from './money.ts';
import { paymentRoutes } from './payments.ts';
import { payoutRoutes } from './payouts.ts';
import { peopleRoutes } from './people.ts';
import { portalRoutes } from './portal-api.ts';
import { type Access, PERSON_ROLES, type PersonRole, type Route } from './route.ts';
import { siteRoutes } from './sites.ts';
import { webshopRoutes } from './webshop.ts';

export interface ApiOptions {
  central: Central;
  log: Logger;
  /** Link messages this worker has handled, for /healthz. */
  linkMessages: () => number;
  /** The routes to serve (default: `apiRoutes(…)`); each must declare its access. */
  routes?: readonly Route[];
  /** More routes, besides `routes` (operations: /readyz, /metrics). */
  ops?: readonly Route[];
  /** Counts every answered request and every refused token or scope. */
  metrics?: HttpMetrics;
}

const AuditQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    since: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);

/** Every route of the API, each concept's module with the services it needs. */
export function apiRoutes(central: Central, linkMessages: () => number, log?: Logger): Route[] {
  return [
    {
      method: 'GET',
      url: '/healthz',
      access: 'public',
      // Up or not, and how busy: nothing about a site, a child or money.
      handler: async () => ({ ok: true, link_messages: linkMessages() }),
    },
    ...siteRoutes(central.sites),
    ...accountRoutes(central.accounts),
    ...moneyRoutes(central.accounts, central.money),
    ...payoutRoutes(central.payouts),
    ...paymentRoutes(central),
    ...autotopupRoutes(central), // moneyfix
    ...peopleRoutes(central),
    ...cardRoutes(central.batches, central.stock, central.cards),
    ...importRoutes(central.imports),
    ...portalRoutes(central),
    ...catalogueRoutes(central),
    ...identityRoutes(central, log ?? pino({ level: 'silent' })),
    ...restoreRoutes(central),
    ...webshopRoutes(central.webshop),
    {
      method: 'GET',
      url: '/api/audit',
      access: { tokens: ['admin'], people: ['admin'] },
      handler: async (req) => {
        const q = req.query as Record<string, string | undefined>;
        const parsed = {
          ...(q.limit === undefined ? {} : { limit: /^[0-9]{1,6}$/.test(q.limit) ? Number(q.limit) : q.limit }),
          ...(q.since === undefined ? {} : { since: q.since }),
        };
        const { limit, since } = check(AuditQuery, parsed, 'invalid_request');
        return {
          entries: await central.audit.list({
            ...(limit === undefined ? {} : { limit }),
            ...(since === undefined ? {} : { since: new Date(since) }),
          }),
        };
      },
    },
  ];
}

export function statusFor(code: string): number {
  switch (code) {
    case 'not_found':
    case 'autotopup_no_agreement':
      return 404;
    case 'webshop_relation_not_allowed':
      return 403;
    case 'webshop_order_closed':
    case 'webshop_cancel_closed':
    case 'webshop_sold_out':
    case 'webshop_order_state':
    case 'place_not_allowed':
    case 'category_not_allowed':
    case 'limit_exceeded_day':
    case 'limit_exceeded_week':
    case 'limit_exceeded_month':
    case 'insufficient_funds':
    case 'allergen_check':
      return 409;
    case 'webshop_bank_card_unavailable':
      return 503;
    case 'bad_credentials':
      return 401;
    case 'scope_denied':
    case 'csrf_failed':
    case 'guardian_self_refused':
      return 403;
    case 'account_blocked':
    case 'insufficient_balance':
    case 'cpr_taken':
    case 'entry_id_reused':
    case 'batch_key_conflict':
    case 'cpr_mismatch':
    case 'payout_batch_state':
    case 'payout_cpr_missing':
    case 'topup_over_max_balance':
    case 'reconciliation_differences':
      return 409;
    case 'payment_webhook_refused':
      return 401;
    case 'payments_not_configured':
    case 'payment_provider_unreachable':
      return 503;
    case 'payment_request_refused':
      return 502;
    case 'too_many_attempts':
      return 429;
    case 'funds_held_offline':
      return 503; // try again in a moment (Retry-After)
    case 'identity_not_configured':
    case 'identity_provider_unreachable':
    case 'payouts_not_configured':
      return 503;
    case 'internal_error':
      return 500;
    default:
      return 400;
  }
}

function accessOf(req: FastifyRequest): Access | undefined {
  return (req.routeOptions.config as { access?: Access } | undefined)?.access;
}

function isAccess(a: unknown): a is Access {
  if (a === 'public') return true;
  if (typeof a !== 'object' || a === null) return false;
  const { tokens, people, ...rest } = a as { tokens?: unknown; people?: unknown };
  return (
    Object.keys(rest).length === 0 &&
    Array.isArray(tokens) &&
    tokens.every((s) => (SCOPES as readonly unknown[]).includes(s)) &&
    Array.isArray(people) &&
    people.every((r) => (PERSON_ROLES as readonly unknown[]).includes(r))
  );
}

/** The path parameters a route has (`/api/accounts/:account` → `account`). */
function paramsOf(url: string): string[] {
  return [...url.matchAll(/:([A-Za-z_]+)/g)].map((m) => m[1] as string);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A route as central registered it, with its declaration (what the route × role test walks). */
export interface DeclaredRoute {
  method: string;
  url: string;
  access: Access;
}
const declared = new WeakMap<FastifyInstance, DeclaredRoute[]>();

/** Every route registered on `app` through `registerApi`'s hooks, HEAD copies left out. */
export function declaredRoutes(app: FastifyInstance): readonly DeclaredRoute[] {
  return declared.get(app) ?? [];
}

/** Who the API knows a request to be from (set by the hook; every non-public route has one). */
const actors = new WeakMap<FastifyRequest, Actor>();

/** The CSRF token of the session a person's request came with (set by the hook). */
const csrfOf = new WeakMap<FastifyRequest, string>();

/** The session's CSRF token of a person's request (what a page puts in its forms as `_csrf`). */
export function sessionCsrf(req: FastifyRequest): string | undefined {
  return csrfOf.get(req);
}

/**
 * How a route that answers a browser with pages (the portal's; route config `page`) answers a
 * refusal: a visitor without a live session is sent to sign in, any other refusal is a page in
 * the person's language, never JSON.
 */
export interface PageErrors {
  /** Where to send a visitor without a live session (a relative URL). */
  signIn(req: FastifyRequest): string;
  /** Answers with a refusal page for this coded error and status. */
  refuse(
    req: FastifyRequest,
    reply: FastifyReply,
    err: KantineError,
    status: number,
  ): FastifyReply | Promise<FastifyReply>;
}

function pageOf(req: FastifyRequest): PageErrors | undefined {
  return (req.routeOptions.config as { page?: PageErrors } | undefined)?.page;
}

/** The exact bytes of a request's body, on routes that ask for them (`Route.rawBody`: a webhook's signature). */
const rawBodies = new WeakMap<FastifyRequest, Buffer>();

/** The raw body of a request to a `rawBody` route (empty when it had none). */
export function rawBodyOf(req: FastifyRequest): Buffer {
  return rawBodies.get(req) ?? Buffer.alloc(0);
}

/** What handlers add to their request's audit line (ids and words only, never a CPR number). */
const auditNotes = new WeakMap<FastifyRequest, Record<string, string>>();

/** Adds to the target of this request's audit line (e.g. which groups of settings a PATCH changed). */
export function noteAudit(req: FastifyRequest, note: Record<string, string>): void {
  auditNotes.set(req, { ...auditNotes.get(req), ...note });
}

/** The actor of a request that passed the hook (a handler of a non-public route). */
export function actorOf(req: FastifyRequest): Actor {
  const actor = actors.get(req);
  if (!actor) throw new KantineError('bad_credentials', 'a valid API token or session is required');
  return actor;
}

/**
 * Office staff are let in at their own sites: on a route with a `:site`, that site; with an
 * `:account`, an account one of their sites serves; else anywhere (the handler keeps to their sites).
 */
async function officeHolds(
  auth: PersonAuth,
  offices: readonly string[],
  site: string | undefined,
  account: string | undefined,
): Promise<boolean> {
  if (offices.length === 0) return false;
  if (site !== undefined) return offices.includes(site);
  if (account !== undefined) return (await auth.accountSites(account)).some((s) => offices.includes(s));
  return true;
}

/**
 * The role a person is let in as on this route, or why not: `not_found` when the route is about
 * an account they have nothing to do with (a curious parent, or another school's office, learns
 * nothing of other children), `scope_denied` otherwise.
 */
async function personRole(
  auth: PersonAuth,
  access: Exclude<Access, 'public'>,
  person: { person_id: string; staff: readonly StaffRole[]; office_sites: readonly string[] },
  params: Record<string, unknown>,
): Promise<{ role: PersonRole; account_role: 'guardian' | 'relation' | null } | KantineError> {
  const account = typeof params.account === 'string' ? params.account : undefined;
  const site = typeof params.site === 'string' ? params.site : undefined;
  const accountRole = account === undefined ? null : await auth.onAccount(person.person_id, account);
  for (const role of access.people) {
    const holds =
      role === 'person' ||
      ((role === 'admin' || role === 'finance') && person.staff.includes(role)) ||
      (role === 'office' && (await officeHolds(auth, person.office_sites, site, account))) ||
      ((role === 'guardian' || role === 'relation') && accountRole === role);
    if (holds) return { role, account_role: accountRole };
  }
  // Nothing to do with the account (no role on it, no staff role, not the office of a site that
  // serves it): the same answer as an account that does not exist.
  if (
    account !== undefined &&
    accountRole === null &&
    person.staff.length === 0 &&
    !(await officeHolds(auth, person.office_sites, undefined, account))
  ) {
    return new KantineError('not_found', `no account ${account}`);
  }
  return new KantineError('scope_denied', 'your role may not do this');
}

/**
 * Central's HTTP API: what IT, finance, monitoring and the people of the portal (guardians,
 * relations, school offices, the municipality's administrators and finance) do. Every route
 * declares who may use it (`Route.access`: token scopes and person roles), and the one hook here
 * decides by the route the router matched, never by the raw URL: `/%61pi/…` is the same route as
 * `/api/…` and needs the same credential. No route is served without a declaration, and nothing
 * but the public routes without a valid token (`Authorization: Bearer`) or session (the
 * `__Host-kantine_session` cookie, whose state-changing requests also carry the session's CSRF token in
 * `x-csrf-token`). Every request that changes state (and every refusal) is written to the audit log
 * before it is answered. Every body and parameter is checked against a schema; every refusal is a
 * coded error `{code, message, details}` from the one error handler here. Amounts are whole øre.
 * CPR numbers go in, never out, and never into a log line.
 */
export function registerApi(app: FastifyInstance, opts: ApiOptions): void {
  const { central, log } = opts;

  if (!app.hasDecorator('parseCookie')) void app.register(fastifyCookie);
  acceptForms(app);

  // Default deny: a route registered without a declaration stops central at start-up, and so
  // does a guardian or relation role on a route that names no account.
  const list: DeclaredRoute[] = [];
  declared.set(app, list);
  app.addHook('onRoute', (route) => {
    const access = (route.config as { access?: unknown } | undefined)?.access;
    if (!isAccess(access)) {
      throw new Error(`central's route ${String(route.method)} ${route.url} declares no access`);
    }
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') list.push({ method, url: route.url ?? '', access });
    }
    if (
      access !== 'public' &&
      access.people.some((r) => r === 'guardian' || r === 'relation') &&
      !paramsOf(route.url ?? '').includes('account')
    ) {
      throw new Error(`central's route ${String(route.method)} ${route.url} lets guardians in but names no :account`);
    }
  });

  // Routes that verify a signature over the body keep its exact bytes (then it is parsed as usual).
  app.addHook('preParsing', async (req, _reply, payload) => {
    if (!(req.routeOptions.config as { rawBody?: boolean } | undefined)?.rawBody) return payload;
    const limit = req.routeOptions.bodyLimit ?? 1024 * 1024;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of payload) {
      size += (chunk as Buffer).length;
      if (size > limit) throw new KantineError('invalid_request', 'the body is too large');
      chunks.push(chunk as Buffer);
    }
    const raw = Buffer.concat(chunks);
    rawBodies.set(req, raw);
    return Readable.from([raw]);
  });

  // By the matched route's pattern, never the raw URL (one label value per route, not per id).
  app.addHook('onResponse', async (req, reply) => {
    opts.metrics?.request(req.method, req.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
  });

  // `reason` for the metrics: which credential or scope was refused (a bounded set of words).
  // Requests the hook itself refused (credential, scope, role, CSRF): their answer says so in a
  // header, whatever the page or JSON around it — the route × role test reads it, and a caller
  // learns only that they were refused, which the status tells them anyway.
  const refusedByHook = new WeakSet<FastifyRequest>();
  const refuse = (req: FastifyRequest, err: KantineError, why: string, reason: string): never => {
    refusedByHook.add(req);
    if (err instanceof KantineError) opts.metrics?.refused(err.code, reason);
    log.warn(
      { request_id: req.id, source: req.ip, method: req.method, route: req.routeOptions.url, code: err.code },
      why,
    );
    throw err;
  };

  app.addHook('onRequest', async (req) => {
    const access = accessOf(req);
    if (access === 'public') return;
    const header = req.headers.authorization;
    const cookie = req.cookies?.[SESSION_COOKIE];
    // An unmatched URL (no route: the 404 handler) is answered only after a valid credential.
    const unmatched = access === undefined && req.routeOptions.url === undefined;
    if (header !== undefined || cookie === undefined) {
      const given = /^Bearer ([\x21-\x7e]{1,200})$/.exec(header ?? '')?.[1];
      let actor: ServiceActor;
      try {
        if (!given) throw new KantineError('bad_credentials', 'a valid API token or session is required');
        actor = await central.tokens.verify(given);
      } catch (err) {
        return refuse(
          req,
          err as KantineError,
          'central API: request without a valid token',
          given ? 'invalid' : 'missing',
        );
      }
      actors.set(req, actor);
      if (unmatched) return;
      if (access === undefined || !access.tokens.includes(actor.scope as Scope)) {
        const err = new KantineError(
          'scope_denied',
          `a ${actor.scope} token may not ${req.method} ${req.routeOptions.url}`,
        );
        return refuse(req, err, 'central API: token scope refused', actor.scope);
      }
      return;
    }
    const auth = central.personAuth;
    let holder: SessionHolder;
    let person: Awaited<ReturnType<PersonAuth['person']>>;
    try {
      if (!auth) throw new KantineError('bad_credentials', 'a valid API token or session is required');
      holder = await auth.session(cookie);
      person = await auth.person(holder.person_id);
    } catch (err) {
      return refuse(req, err as KantineError, 'central API: request without a valid session', 'session');
    }
    const base = {
      kind: 'person' as const,
      person_id: holder.person_id,
      name: person.name,
      session_id: holder.session_id,
      staff: person.staff,
      office_sites: person.office_sites,
    };
    csrfOf.set(req, holder.csrf);
    if (unmatched) {
      actors.set(req, { ...base, account_role: null, role: 'person' });
      return;
    }
    const let_in =
      access === undefined
        ? new KantineError('scope_denied', 'your role may not do this')
        : await personRole(auth, access, base, (req.params ?? {}) as Record<string, unknown>);
    if (let_in instanceof KantineError) {
      actors.set(req, { ...base, account_role: null, role: 'person' });
      return refuse(req, let_in, 'central API: person refused by role', 'person');
    }
    actors.set(req, { ...base, ...let_in });
  });

  // A person's state-changing request carries the session's CSRF token (a header from scripts,
  // `_csrf` from a form): a page elsewhere cannot make their browser act for them.
  app.addHook('preHandler', async (req) => {
    const want = csrfOf.get(req);
    if (want === undefined || SAFE_METHODS.has(req.method)) return;
    const body = req.body as Record<string, unknown> | undefined;
    let given = req.headers['x-csrf-token'];
    if (given === undefined && body && typeof body === 'object' && typeof body._csrf === 'string') {
      given = body._csrf;
      delete body._csrf;
    }
    // bytes, not characters (é is two): a length that matches in characters only is still a refusal
    const ok =
      typeof given === 'string' &&
      Buffer.byteLength(given) === Buffer.byteLength(want) &&
      timingSafeEqual(Buffer.from(given), Buffer.from(want));
    if (!ok)
      refuse(
        req,
        new KantineError('csrf_failed', 'the form is out of date: reload the page and try again'),
        'central API: CSRF token missing or wrong',
        'csrf',
      );
  });

  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('x-request-id', req.id);
    if (refusedByHook.has(req)) reply.header('x-kantine-refused', 'access');
    const actor = actors.get(req);
    const route = req.routeOptions.url;
    if (!actor || route === undefined) return payload;
    if (SAFE_METHODS.has(req.method) && reply.statusCode !== 403) return payload;
    const target: Record<string, string> = {};
    for (const [k, v] of Object.entries((req.params ?? {}) as Record<string, unknown>)) {
      // an invitation's token is a secret (kept hashed): the audit names the route, not the token
      if (k === 'invite') continue;
      if (typeof v === 'string') target[k] = v.slice(0, 100);
    }
    for (const [k, v] of Object.entries(auditNotes.get(req) ?? {})) target[k] ??= v.slice(0, 200);
    await central.audit.write({
      actor,
      action: `${req.method} ${route}`,
      target,
      status: reply.statusCode,
      request_id: req.id,
      source: req.ip,
    });
    return payload;
  });

  app.setErrorHandler((err: unknown, req, reply: FastifyReply) => {
    const page = pageOf(req);
    if (page) {
      // A page's refusal: sign in again (the session ended), or a page saying why, never JSON.
      if (err instanceof KantineError && err.code === 'bad_credentials') return reply.redirect(page.signIn(req), 303);
      const status = err instanceof KantineError ? statusFor(err.code) : (err as { statusCode?: number }).statusCode;
      if (err instanceof KantineError || (status !== undefined && status < 500)) {
        const coded = err instanceof KantineError ? err : new KantineError('invalid_request', (err as Error).message);
        return page.refuse(req, reply, coded, status ?? 400);
      }
      const e = err as { message?: string; code?: string; stack?: string };
      log.error({ err: { message: e.message, code: e.code, stack: e.stack }, request_id: req.id }, 'portal page error');
      return page.refuse(req, reply, new KantineError('internal_error'), 500);
    }
    if (err instanceof KantineError) {
      if (err.code === 'funds_held_offline') reply.header('retry-after', '2');
      if (err.code === 'payment_provider_unreachable') reply.header('retry-after', '10');
      if (err.code === 'too_many_attempts') {
        reply.header('retry-after', String((err as { retry_after_s?: number }).retry_after_s ?? 60));
      }
      return reply.status(statusFor(err.code)).send(err.toJSON());
    }
    const e = err as { statusCode?: number; message?: string; code?: string; constraint?: string; stack?: string };
    if (e.statusCode && e.statusCode < 500) {
      return reply.status(e.statusCode).send({ code: 'invalid_request', message: e.message ?? '', details: [] });
    }
    // Taken between the service's check and its insert (two requests at once): the check's answer.
    if (e.code === '23505' && /cpr/.test(e.constraint ?? '')) {
      return reply.status(409).send(new KantineError('cpr_taken').toJSON());
    }
    if (e.code === '23505' && e.constraint === 'entries_id_key') {
      return reply.status(409).send(new KantineError('entry_id_reused').toJSON());
    }
    // Only the message, code and stack: a database error's `detail` may quote a row (a CPR number).
    log.error(
      { err: { message: e.message, code: e.code, constraint: e.constraint, stack: e.stack }, request_id: req.id },
      'central API error',
    );
    return reply.status(500).send({ code: 'internal_error', message: codes.internal_error.en, details: [] });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ code: 'not_found', message: `no route ${req.method} ${req.url}`, details: [] });
  });

  for (const r of [...(opts.routes ?? apiRoutes(central, opts.linkMessages, log)), ...(opts.ops ?? [])]) {
    app.route({
      method: r.method,
      url: r.url,
      handler: r.handler,
      config: { access: r.access, ...(r.rawBody ? { rawBody: true } : {}) },
      ...(r.bodyLimit === undefined ? {} : { bodyLimit: r.bodyLimit }),
    });
  }
}
