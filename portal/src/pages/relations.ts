import { Cpr, check, ID_PATTERN, KantineError } from '@kantine/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { PageRoute, Pages, PortalServices } from '../portal.ts';
import { accountParam } from './accounts.ts';
import { chooser } from './choose.ts';

const EmailForm = Type.Object({ email: Type.String({ format: 'email', maxLength: 200 }) });
const CprForm = Type.Object({ cpr: Cpr });
const PersonParam = Type.Object({ person: Type.String({ pattern: ID_PATTERN }) });
// An invitation's token: 32 random bytes, base64url (people's own check).
const INVITE_TOKEN = /^[A-Za-z0-9_-]{43}$/;

type FieldErrors = { email?: string; cpr?: string; form?: string };

/**
 * "Relationer" (guardians only): whom a child's account is shared with (signed-in relations,
 * CPR numbers waiting for a first sign-in — masked — and open e-mail invitations), a form to
 * invite by e-mail (the page shows the link to send: the mail comes with the money issue's
 * mailer), a form to share by CPR number, and a remove button per relation. And the invitation's
 * own page, where the invited person (signed in) accepts.
 */
export function relationPages(
  central: PortalServices,
  pages: Pages,
  publicUrl: (req: FastifyRequest) => string,
): PageRoute[] {
  const { people } = central;
  const { views } = central.accounts;

  const show = async (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: { errors?: FieldErrors; message?: string; link?: string; email?: string } = {},
  ) => {
    const t = pages.dictionary(req);
    const lang = pages.lang(req);
    const account = accountParam(req);
    const [overview] = await views.overview([{ account_id: account, role: 'guardian' }]);
    if (!overview) throw new KantineError('not_found', `no account ${account}`);
    const list = await people.relations(account);
    const date = (d: Date | string) =>
      new Date(d).toLocaleDateString(lang === 'da' ? 'da-DK' : 'en-GB', { timeZone: 'Europe/Copenhagen' });
    const errors = extra.errors ?? {};
    const summary = (['email', 'cpr', 'form'] as const)
      .filter((f) => errors[f] !== undefined)
      .map((f) => ({ field: f === 'form' ? undefined : f, text: errors[f] as string }));
    if (summary.length > 0) reply.status(400);
    return pages.render(req, reply, 'relations', {
      title: `${t.relations.title} – ${overview.first_name} ${overview.last_name}`,
      name: `${overview.first_name} ${overview.last_name}`,
      account,
      relations: list.people.map((p) => ({
        id: p.id,
        name: p.name,
        since: date(p.since),
        remove_label: t.relations.remove_label.replace('{name}', p.name),
      })),
      waiting: list.waiting.map((w) => ({ cpr_masked: w.cpr_masked, since: date(w.since) })),
      invites: list.invites.map((i) => ({ email: i.email, until: date(i.expires_at) })),
      errors,
      summary,
      message: extra.message,
      link: extra.link,
      email: extra.email ?? '',
    });
  };

  const form = (req: FastifyRequest) => (req.body ?? {}) as Record<string, unknown>;

  return [
    chooser(central, pages, {
      url: '/relationer',
      page: 'relationer',
      roles: ['guardian'],
      heading: (t) => t.relations.title,
    }),
    {
      method: 'GET',
      url: '/konti/:account/relationer',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const besked = (req.query as Record<string, unknown>).besked;
        const message = besked === 'fjernet' ? t.relations.removed : besked === 'delt' ? t.relations.shared : undefined;
        return show(req, reply, message ? { message } : {});
      },
    },
    {
      method: 'POST',
      url: '/konti/:account/relationer/email',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const person = pages.person(req);
        const account = accountParam(req);
        const typed = typeof form(req).email === 'string' ? (form(req).email as string).trim() : '';
        let email: string;
        try {
          email = check(EmailForm, { email: typed }, 'invalid_request').email;
        } catch {
          return show(req, reply, { errors: { email: t.relations.email_invalid }, email: typed.slice(0, 200) });
        }
        let token: string;
        try {
          token = (await people.inviteByEmail(account, person.person_id, email)).token;
        } catch (err) {
          if (err instanceof KantineError && err.code === 'invalid_request')
            return show(req, reply, { errors: { form: t.relations.too_many } });
          throw err;
        }
        // Shown once, on this answer only (never in a URL of ours): the person sends it on.
        return show(req, reply, { link: `${publicUrl(req)}/invitation/${token}` });
      },
    },
    {
      method: 'POST',
      url: '/konti/:account/relationer/cpr',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const account = accountParam(req);
        const typed = typeof form(req).cpr === 'string' ? (form(req).cpr as string).replace(/\s/g, '') : '';
        let cpr: string;
        try {
          cpr = check(CprForm, { cpr: typed }, 'invalid_request').cpr;
        } catch {
          // The typed CPR number is not shown again, not even beside its error.
          return show(req, reply, { errors: { cpr: t.relations.cpr_invalid } });
        }
        try {
          await people.inviteByCpr(account, cpr);
        } catch (err) {
          if (err instanceof KantineError && err.code === 'invalid_request')
            return show(req, reply, { errors: { form: t.relations.too_many } });
          throw err;
        }
        return reply.redirect(`/konti/${account}/relationer?besked=delt`, 303);
      },
    },
    {
      method: 'POST',
      url: '/konti/:account/relationer/:person/fjern',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const account = accountParam(req);
        const { person } = check(PersonParam, req.params, 'invalid_request');
        await people.removeRelation(account, person);
        return reply.redirect(`/konti/${account}/relationer?besked=fjernet`, 303);
      },
    },
    {
      method: 'GET',
      url: '/invitation/:invite',
      access: { tokens: [], people: ['person'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const token = (req.params as { invite: string }).invite;
        if (!INVITE_TOKEN.test(token)) throw new KantineError('invite_invalid');
        return pages.render(req, reply, 'invitation', { title: t.invitation.title, action: `/invitation/${token}` });
      },
    },
    {
      method: 'POST',
      url: '/invitation/:invite',
      access: { tokens: [], people: ['person'] },
      handler: async (req, reply) => {
        const person = pages.person(req);
        const token = (req.params as { invite: string }).invite;
        if (!INVITE_TOKEN.test(token)) throw new KantineError('invite_invalid');
        await people.acceptInvite(person.person_id, token);
        return reply.redirect('/konti', 303);
      },
    },
  ];
}
