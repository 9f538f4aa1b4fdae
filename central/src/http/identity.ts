import { timingSafeEqual } from 'node:crypto';
import { codes, KantineError } from '@kantine/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { type PersonActor, SESSION_COOKIE } from '../auth/actor.ts';
import type { Central } from '../central.ts';
import type { IdentityService } from '../identity/identity.ts';
import { LOGIN_TTL_MS } from '../identity/login-states.ts';
import { actorOf, statusFor } from './api.ts';
import { access, Id, param, type Route } from './route.ts';

/** The short-lived cookie that ties a login to the browser that started it (only /login sees it). */
/** `__Secure-`: browsers take it only over HTTPS (its path is /login, so it cannot be `__Host-`). */
export const LOGIN_COOKIE = '__Secure-kantine_login';
const LOGIN_COOKIE_PATH = '/login';

// Secure even on loopback: browsers treat http://127.0.0.1 and localhost as secure origins.
const SESSION_COOKIE_OPTIONS = { httpOnly: true, secure: true, sameSite: 'lax', path: '/' } as const;
const LOGIN_COOKIE_OPTIONS = { httpOnly: true, secure: true, sameSite: 'lax', path: LOGIN_COOKIE_PATH } as const;

const FORM = 'application/x-www-form-urlencoded';
// A form post of the portal is a few fields; a larger one is refused before parsing.
const FORM_BYTES_MAX = 64 * 1024;

/**
 * Plain HTML forms post `application/x-www-form-urlencoded` (a logout button, the portal's forms
 * with their `_csrf` field). Parsed into one string per field; a field given twice is refused (which
 * `_csrf` would count?). Added once, unless another part of central already reads forms.
 */
export function acceptForms(app: FastifyInstance): void {
  if (app.hasContentTypeParser(FORM)) return;
  app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: FORM_BYTES_MAX }, (_req, body, done) => {
    const fields: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(body as string)) {
      if (Object.hasOwn(fields, k)) {
        done(
          new KantineError('invalid_request', `the form field ${k} is given twice`, [`/${k} given twice`]),
          undefined,
        );
        return;
      }
      fields[k] = v;
    }
    done(null, fields);
  });
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A refusal as a person's browser sees it: a page in Danish with English beside it, and its code. */
function errorPage(err: KantineError): string {
  const info = codes[err.code];
  const action = 'action_da' in info ? `<p>${escapeHtml(info.action_da)}</p>` : '';
  return `<!doctype html>
<html lang="da">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(info.da)} – Kantine</title></head>
<body>
<main>
<h1>${escapeHtml(info.da)}</h1>
<p lang="en">${escapeHtml(info.en)}</p>
${action}
<p>Fejlkode / error code: <code id="error-code">${escapeHtml(err.code)}</code></p>
<p><a href="/login">Log ind igen</a> · <a href="/login" lang="en">Sign in again</a></p>
</main>
</body>
</html>
`;
}

function wantsHtml(req: FastifyRequest): boolean {
  return /\btext\/html\b/.test(req.headers.accept ?? '');
}

/** A sign-in refusal: a page for a browser, the API's coded JSON for anything else. */
function refusal(req: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  if (!(err instanceof KantineError) || !wantsHtml(req)) throw err;
  if (err.code === 'too_many_attempts')
    reply.header('retry-after', String((err as { retry_after_s?: number }).retry_after_s ?? 60));
  return reply.status(statusFor(err.code)).type('text/html; charset=utf-8').send(errorPage(err));
}

function rawQuery(req: FastifyRequest): string {
  const at = req.url.indexOf('?');
  return at < 0 ? '' : req.url.slice(at + 1);
}

function configured(central: Central): IdentityService {
  if (!central.identity) throw new KantineError('identity_not_configured');
  return central.identity;
}

function csrfMatches(want: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const [a, b] = [Buffer.from(given), Buffer.from(want)];
  return a.length === b.length && timingSafeEqual(a, b); // bytes, not characters: é is two
}

/** The person as the audit log names them, for the sign-in routes (public: the hook made no actor). */
async function personActor(central: Central, personId: string, sessionId: string): Promise<PersonActor> {
  const person = await central.people.person(personId);
  return {
    kind: 'person',
    person_id: personId,
    name: person.name,
    session_id: sessionId,
    staff: person.staff,
    office_sites: person.office_sites,
    account_role: null,
    role: 'person',
  };
}

/**
 * Sign-in, sign-out and a person's own sessions (issue 17). The login's redirects are public;
 * the person routes are for anyone signed in (`person`). Nothing here writes a CPR number
 * anywhere: it goes from the provider's claims to the people service only.
 */
export function identityRoutes(central: Central, log: Logger): Route[] {
  return [
    {
      method: 'GET',
      url: '/login',
      access: 'public',
      handler: async (req, reply) => {
        reply.header('cache-control', 'no-store');
        try {
          const { location, browser } = await configured(central).startLogin(
            (req.query as { return?: unknown }).return,
            req.cookies?.[LOGIN_COOKIE],
            req.ip,
          );
          reply.setCookie(LOGIN_COOKIE, browser, { ...LOGIN_COOKIE_OPTIONS, maxAge: LOGIN_TTL_MS / 1000 });
          return reply.redirect(location, 303);
        } catch (err) {
          log.warn({ code: (err as KantineError).code, source: req.ip }, 'sign-in not started');
          return refusal(req, reply, err);
        }
      },
    },
    {
      method: 'GET',
      url: '/login/callback',
      access: 'public',
      handler: async (req, reply) => {
        reply.header('cache-control', 'no-store');
        // The callback URL holds a code: no page after it should learn it from a Referer.
        reply.header('referrer-policy', 'no-referrer');
        reply.clearCookie(LOGIN_COOKIE, LOGIN_COOKIE_OPTIONS);
        try {
          const identity = configured(central);
          const done = await identity.finishLogin(rawQuery(req), req.cookies?.[LOGIN_COOKIE], {
            source: req.ip,
            ...(req.headers['user-agent'] === undefined ? {} : { user_agent: req.headers['user-agent'] }),
          });
          log.info({ person_id: done.person_id, session_id: done.session_id, source: req.ip }, 'a person signed in');
          // A session this browser had before ends: one browser, one session (and no fixation).
          const before = req.cookies?.[SESSION_COOKIE];
          if (before !== undefined) await central.sessions.end(before);
          await central.audit.write({
            actor: await personActor(central, done.person_id, done.session_id),
            action: 'GET /login/callback',
            target: {},
            status: 303,
            request_id: req.id,
            source: req.ip,
          });
          reply.setCookie(SESSION_COOKIE, done.cookie, SESSION_COOKIE_OPTIONS);
          return reply.redirect(done.return_to, 303);
        } catch (err) {
          // Only the code and openid-client's reason: never the claims.
          log.warn(
            { code: (err as KantineError).code, reason: (err as Error).message, source: req.ip },
            'sign-in refused',
          );
          return refusal(req, reply, err);
        }
      },
    },
    {
      method: 'POST',
      url: '/logout',
      access: 'public', // a browser whose session already ended may still press "log out"
      handler: async (req, reply) => {
        reply.header('cache-control', 'no-store');
        const identity = configured(central);
        const cookie = req.cookies?.[SESSION_COOKIE];
        let holder: Awaited<ReturnType<typeof central.sessions.verify>> | undefined;
        if (cookie !== undefined) holder = await central.sessions.verify(cookie).catch(() => undefined);
        if (cookie === undefined || holder === undefined) {
          reply.clearCookie(SESSION_COOKIE, SESSION_COOKIE_OPTIONS);
          return reply.redirect(identity.frontPage, 303);
        }
        const body = req.body as Record<string, unknown> | undefined;
        const given = req.headers['x-csrf-token'] ?? (body && typeof body === 'object' ? body._csrf : undefined);
        if (!csrfMatches(holder.csrf, given)) {
          log.warn({ source: req.ip, route: '/logout' }, 'central API: CSRF token missing or wrong');
          await central.audit.write({
            actor: await personActor(central, holder.person_id, holder.session_id),
            action: 'POST /logout',
            target: {},
            status: 403,
            request_id: req.id,
            source: req.ip,
          });
          return refusal(
            req,
            reply,
            new KantineError('csrf_failed', 'the form is out of date: reload the page and try again'),
          );
        }
        const ended = await central.sessions.end(cookie);
        reply.clearCookie(SESSION_COOKIE, SESSION_COOKIE_OPTIONS);
        if (ended) {
          await central.audit.write({
            actor: await personActor(central, ended.person_id, ended.session_id),
            action: 'POST /logout',
            target: {},
            status: 303,
            request_id: req.id,
            source: req.ip,
          });
        }
        return reply.redirect(await identity.endSessionUrl(), 303);
      },
    },
    {
      method: 'GET',
      url: '/api/me',
      access: access.people('person'),
      handler: async (req) => {
        const me = actorOf(req) as PersonActor;
        const { csrf } = await central.sessions.verify(req.cookies[SESSION_COOKIE] as string);
        const profile = await central.people.profile(me.person_id);
        return {
          person_id: me.person_id,
          name: profile.name,
          email: profile.email,
          // Masked (`120382-xxxx`): the whole number never leaves central.
          cpr_masked: profile.cpr_masked,
          staff: profile.staff,
          office_sites: profile.office_sites,
          accounts: profile.accounts,
          session_id: me.session_id,
          // For scripts of the portal's own pages (no other origin can read this answer).
          csrf,
        };
      },
    },
    {
      method: 'GET',
      url: '/api/me/sessions',
      access: access.people('person'),
      handler: async (req) => {
        const me = actorOf(req) as PersonActor;
        const sessions = await central.sessions.list(me.person_id);
        return { sessions: sessions.map((s) => ({ ...s, current: s.session_id === me.session_id })) };
      },
    },
    {
      method: 'POST',
      url: '/api/me/sessions/:session/end',
      access: access.people('person'),
      handler: async (req, reply) => {
        const me = actorOf(req) as PersonActor;
        await central.sessions.endOne(me.person_id, param(Id, req, 'session'));
        return reply.status(204).send();
      },
    },
    {
      method: 'POST',
      url: '/api/me/sessions/end-others',
      access: access.people('person'),
      handler: async (req) => {
        const me = actorOf(req) as PersonActor;
        return { ended: await central.sessions.endOthers(me.person_id, me.session_id) };
      },
    },
  ];
}
