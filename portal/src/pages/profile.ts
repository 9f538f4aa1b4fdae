import { ContactBody, check, ID_PATTERN } from '@kantine/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { LANG_COOKIE } from '../language.ts';
import type { PageRoute, Pages, PortalServices } from '../portal.ts';

const SessionParam = Type.Object({ session: Type.String({ pattern: ID_PATTERN }) });

/** A browser as a person recognises it (`Chrome · Android`), from its user agent; never the raw string. */
export function deviceOf(userAgent: string | null): string | undefined {
  if (!userAgent) return undefined;
  const browser = /Edg\//.test(userAgent)
    ? 'Edge'
    : /Firefox\//.test(userAgent)
      ? 'Firefox'
      : /Chrom(e|ium)\//.test(userAgent)
        ? 'Chrome'
        : /Safari\//.test(userAgent)
          ? 'Safari'
          : undefined;
  const os = /Android/.test(userAgent)
    ? 'Android'
    : /iPhone|iPad/.test(userAgent)
      ? 'iOS'
      : /Windows/.test(userAgent)
        ? 'Windows'
        : /Mac OS X/.test(userAgent)
          ? 'macOS'
          : /Linux/.test(userAgent)
            ? 'Linux'
            : undefined;
  return browser || os ? [browser, os].filter(Boolean).join(' · ') : undefined;
}

/**
 * "Profil" (every signed-in person): the name MitID gave, the e-mail and mobile for receipts and
 * alerts with the language of pages and mail (central's `contact`; the mail module sends to the
 * chosen e-mail), and where the person is signed in — each other session can be signed out, or
 * all of them at once (rp's sessions).
 */
export function profilePages(central: PortalServices, pages: Pages): PageRoute[] {
  const { sessions, contact } = central;
  const show = async (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: { typed?: { email: string; mobile: string }; errors?: { email?: string; mobile?: string } } = {},
  ) => {
    const t = pages.dictionary(req);
    const lang = pages.lang(req);
    const me = pages.person(req);
    const when = (iso: string) =>
      new Date(iso).toLocaleString(lang === 'da' ? 'da-DK' : 'en-GB', {
        timeZone: 'Europe/Copenhagen',
        dateStyle: 'short',
        timeStyle: 'short',
      });
    const besked = (req.query as Record<string, unknown>).besked;
    const list = (await sessions.list(me.person_id)).map((s) => {
      const device = deviceOf(s.user_agent) ?? t.profile.unknown_device;
      return {
        id: s.session_id,
        current: s.session_id === me.session_id,
        device,
        signed_in: when(s.created_at),
        last_seen: when(s.last_seen_at),
        end_label: t.profile.end_label.replace('{device}', device),
      };
    });
    // This device first.
    list.sort((a, b) => Number(b.current) - Number(a.current));
    const mine = await contact.get(me.person_id);
    const errors = extra.errors ?? {};
    const summary = (['email', 'mobile'] as const)
      .filter((f) => errors[f] !== undefined)
      .map((f) => ({ field: f, text: `${t.child[f]}: ${errors[f]}` }));
    if (summary.length > 0) reply.status(400);
    return pages.render(req, reply, 'profile', {
      title: t.profile.title,
      name: me.name,
      sessions: list,
      contact: {
        email: extra.typed?.email ?? mine.email ?? '',
        mobile: extra.typed?.mobile ?? (mine.mobile ? shownMobile(mine.mobile) : ''),
        lang: mine.lang,
        email_hint: mine.sign_in_email
          ? t.child.email_hint.replace('{email}', mine.sign_in_email)
          : t.child.email_hint_none,
      },
      errors,
      summary,
      message:
        besked === 'andre'
          ? t.profile.ended
          : besked === 'afsluttet'
            ? t.profile.ended_one
            : besked === 'kontakt'
              ? t.child.saved_contact
              : undefined,
    });
  };
  return [
    {
      method: 'GET',
      url: '/profil',
      access: { tokens: [], people: ['person'] },
      handler: async (req: FastifyRequest, reply: FastifyReply) => show(req, reply),
    },
    {
      // E-mail, mobile and language: checked as central's API checks them (ContactBody); a slip is
      // an error beside its field and nothing is saved.
      method: 'POST',
      url: '/profil/kontakt',
      access: { tokens: [], people: ['person'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const me = pages.person(req);
        const body = (req.body ?? {}) as Record<string, unknown>;
        const typed = {
          email: typeof body.email === 'string' ? body.email.trim().slice(0, 300) : '',
          mobile: typeof body.mobile === 'string' ? body.mobile.trim().slice(0, 30) : '',
        };
        const lang = body.lang === 'en' ? 'en' : 'da';
        const mobile = typed.mobile === '' ? null : normalMobile(typed.mobile);
        const errors: { email?: string; mobile?: string } = {};
        const email = typed.email === '' ? null : typed.email;
        try {
          check(ContactBody, { email, mobile: null, lang }, 'invalid_request');
        } catch {
          errors.email = t.child.email_invalid;
        }
        if (mobile === undefined) errors.mobile = t.child.mobile_invalid;
        if (errors.email || errors.mobile) return show(req, reply, { typed, errors });
        await contact.set(me.person_id, { email, mobile: mobile ?? null, lang });
        // The pages follow the language chosen here at once (the switch at the top sets the same cookie).
        reply.header(
          'set-cookie',
          `${LANG_COOKIE}=${lang}; Path=/; Max-Age=${365 * 24 * 3600}; SameSite=Lax; HttpOnly${
            req.protocol === 'https' ? '; Secure' : ''
          }`,
        );
        return reply.redirect('/profil?besked=kontakt', 303);
      },
    },
    {
      method: 'POST',
      url: '/profil/sessioner/andre',
      access: { tokens: [], people: ['person'] },
      handler: async (req, reply) => {
        const me = pages.person(req);
        await sessions.endOthers(me.person_id, me.session_id);
        return reply.redirect('/profil?besked=andre', 303);
      },
    },
    {
      method: 'POST',
      url: '/profil/sessioner/:session/afslut',
      access: { tokens: [], people: ['person'] },
      handler: async (req, reply) => {
        const me = pages.person(req);
        const { session } = check(SessionParam, req.params, 'invalid_request');
        await sessions.endOne(me.person_id, session);
        return reply.redirect('/profil?besked=afsluttet', 303);
      },
    },
  ];
}

/**
 * A Danish mobile number as people type it (`12 34 56 78`, `+45 12345678`, `0045-12345678`) as
 * central keeps it (`+4512345678`), or undefined when it is not one.
 */
export function normalMobile(typed: string): string | undefined {
  const digits = typed.replace(/[\s.-]/g, '').replace(/^(\+45|0045)/, '');
  return /^[2-9][0-9]{7}$/.test(digits) ? `+45${digits}` : undefined;
}

/** `+4512345678` as a Dane reads it: `12 34 56 78`. */
function shownMobile(m: string): string {
  return m.slice(3).replace(/(\d{2})(?=\d)/g, '$1 ');
}
