import type { PersonActor } from '@kantine/central';
import { ID_PATTERN, KantineError } from '@kantine/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PageRoute, Pages, PortalServices } from '../portal.ts';
import { localTime, requestView } from './card-trouble.ts';
import { fieldError } from './replacement.ts';

const MESSAGES = ['udleveret', 'besvaret', 'lukket'] as const;
/** portalfix: the municipality's office for requests about children at no school (administrators). */
const UNPLACED = '/kontor-kommunen';
type Message = (typeof MESSAGES)[number];

/**
 * "Skolekontoret" (school office staff of the school, and the municipality's administrators for
 * every school): the blank cards in the school's pile, the replacement cards guardians ordered
 * (hand one to the child: the card is then that child's to activate), and the guardians' support
 * requests (answer, close). The school is in the URL as `:school`, not `:site`: another school's
 * office is let through the door and then finds nothing here — the same 404 as a school that
 * does not exist, so nothing of this school is learnt.
 */
export function officePages(central: PortalServices, pages: Pages): PageRoute[] {
  const { replacements, support } = central;
  const access = { tokens: [], people: ['office', 'admin'] } as const;

  /** The schools this person runs the office of (every school for an administrator). */
  const schoolsOf = async (person: PersonActor): Promise<{ id: string; name: string }[]> => {
    const all = await central.sites.list();
    const admin = person.staff.includes('admin');
    return all.filter((s) => admin || person.office_sites.includes(s.id)).map((s) => ({ id: s.id, name: s.name }));
  };
  /** The route's school, if this person runs its office; else `not_found` (another school's office learns nothing). */
  const school = async (req: FastifyRequest): Promise<{ id: string; name: string }> => {
    const id = (req.params as Record<string, unknown>).school;
    const person = pages.person(req);
    const mine =
      typeof id === 'string' && new RegExp(ID_PATTERN).test(id)
        ? (await schoolsOf(person)).find((s) => s.id === id)
        : undefined;
    if (!mine) throw new KantineError('not_found', `no school office ${String(id)} for you`);
    return mine;
  };

  const show = async (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: { message?: Message; errors?: Record<string, string>; typed?: Record<string, string> } = {},
  ) => {
    const t = pages.dictionary(req);
    const s = await school(req);
    const date = localTime(pages.lang(req));
    const stock = await replacements.stockAt(s.id);
    const blank = stock.filter((c) => c.handed_to === null);
    const handed = stock.filter((c) => c.handed_to !== null);
    const errors = extra.errors ?? {};
    if (Object.keys(errors).length > 0 && reply.statusCode < 400) reply.status(400);
    const done = {
      udleveret: t.office.handed_out_done,
      besvaret: t.office.answered_done,
      lukket: t.office.closed_done,
    };
    return pages.render(req, reply, 'office', {
      title: `${t.office.title} – ${s.name}`,
      school: s,
      base: `/kontor/${s.id}`,
      unplaced: false,
      // portalfix: an administrator is told of requests for children at no school (UNPLACED).
      unplaced_href: pages.person(req).staff.includes('admin') && (await openUnplaced()) > 0 ? UNPLACED : undefined,
      message: extra.message ? done[extra.message] : undefined,
      stock_text:
        blank.length === 1
          ? t.office.stock_count_one
          : blank.length > 0
            ? t.office.stock_count.replace('{n}', String(blank.length))
            : t.office.stock_none,
      blank: blank.map((c) => c.card_number),
      handed,
      orders: (await replacements.ordersAt(s.id)).map((o) => ({
        ...o,
        ordered: date(o.ordered_at),
        handed: o.handed_out_at ? date(o.handed_out_at) : '',
      })),
      requests: (await support.atSite(s.id)).map((r) => requestView(t, r, date)),
      errors,
      typed: extra.typed ?? {},
      summary: Object.entries(errors).map(([field, text]) => ({ field, text })),
    });
  };

  /** portalfix: how many requests for children at no school are not closed (the municipality's to answer). */
  const openUnplaced = async () => (await support.atSite(null)).filter((r) => r.state !== 'closed').length;

  /**
   * portalfix: the municipality's own office (administrators): support requests for children who
   * are at no school, which no school office sees — answered and closed here as a school's are.
   */
  const showUnplaced = async (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: { message?: Message; errors?: Record<string, string>; typed?: Record<string, string> } = {},
  ) => {
    const t = pages.dictionary(req);
    const date = localTime(pages.lang(req));
    const errors = extra.errors ?? {};
    if (Object.keys(errors).length > 0 && reply.statusCode < 400) reply.status(400);
    const done = {
      udleveret: t.office.handed_out_done,
      besvaret: t.office.answered_done,
      lukket: t.office.closed_done,
    };
    return pages.render(req, reply, 'office', {
      title: `${t.office.title} – ${t.office_unplaced.title}`,
      school: { id: '', name: t.office_unplaced.title },
      base: UNPLACED,
      unplaced: true,
      unplaced_href: undefined,
      message: extra.message ? done[extra.message] : undefined,
      requests: (await support.atSite(null)).map((r) => requestView(t, r, date)),
      orders: [],
      blank: [],
      handed: [],
      stock_text: '',
      errors,
      typed: extra.typed ?? {},
      summary: Object.entries(errors).map(([field, text]) => ({ field, text })),
    });
  };
  const adminOnly = { tokens: [], people: ['admin'] } as const;

  const form = (req: FastifyRequest) => (req.body ?? {}) as Record<string, unknown>;
  const text = (req: FastifyRequest, k: string, max: number) => {
    const v = form(req)[k];
    return typeof v === 'string' ? v.slice(0, max) : '';
  };
  const idParam = (req: FastifyRequest, k: string) => {
    const v = (req.params as Record<string, unknown>)[k];
    return typeof v === 'string' ? v.slice(0, 64) : '';
  };

  return [
    {
      method: 'GET',
      url: '/kontor',
      access,
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const person = pages.person(req);
        const schools = await schoolsOf(person);
        // portalfix: an administrator also chooses the municipality's own office while it has open requests.
        const unplaced = person.staff.includes('admin') && (await openUnplaced()) > 0;
        const [only] = schools;
        if (schools.length === 1 && only && !unplaced) return reply.redirect(`/kontor/${only.id}`, 303);
        if (schools.length === 0 && unplaced) return reply.redirect(UNPLACED, 303);
        return pages.render(req, reply, 'choose-account', {
          title: t.office.title,
          heading: t.office.choose,
          accounts: [
            ...schools.map((s) => ({ name: s.name, href: `/kontor/${s.id}` })),
            ...(unplaced ? [{ name: t.office_unplaced.title, href: UNPLACED }] : []),
          ],
        });
      },
    },
    {
      method: 'GET',
      url: '/kontor/:school',
      access,
      handler: async (req, reply) => {
        const besked = (req.query as Record<string, unknown>).besked;
        return show(req, reply, MESSAGES.includes(besked as Message) ? { message: besked as Message } : {});
      },
    },
    {
      method: 'POST',
      url: '/kontor/:school/kort/:order/udlever',
      access,
      handler: async (req, reply) => {
        const s = await school(req);
        const order = idParam(req, 'order');
        const number = text(req, 'number', 40);
        try {
          await replacements.handOut(s.id, order, number, pages.person(req).name);
        } catch (err) {
          const e = fieldError(err, pages.lang(req));
          if (!e || (err as KantineError).code === 'not_found') throw err;
          reply.status(e.status);
          const message =
            (err as KantineError).code === 'card_not_in_stock' ? pages.dictionary(req).office.not_in_pile : e.text;
          return show(req, reply, { errors: { [`number-${order}`]: message }, typed: { [`number-${order}`]: number } });
        }
        return reply.redirect(`/kontor/${s.id}?besked=udleveret`, 303);
      },
    },
    {
      method: 'POST',
      url: '/kontor/:school/henvendelser/:request/svar',
      access,
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const s = await school(req);
        const request = idParam(req, 'request');
        const answer = text(req, 'answer', 4_000);
        try {
          await support.answer(s.id, request, pages.person(req).name, answer);
        } catch (err) {
          const e = fieldError(err, pages.lang(req));
          const code = (err as KantineError).code;
          if (!e || code === 'not_found') throw err;
          reply.status(e.status);
          const message = code === 'invalid_request' ? t.office.answer_invalid : e.text;
          return show(req, reply, {
            errors: { [`answer-${request}`]: message },
            typed: { [`answer-${request}`]: answer },
          });
        }
        return reply.redirect(`/kontor/${s.id}?besked=besvaret`, 303);
      },
    },
    {
      method: 'POST',
      url: '/kontor/:school/henvendelser/:request/luk',
      access,
      handler: async (req, reply) => {
        const s = await school(req);
        await support.close(s.id, idParam(req, 'request'));
        return reply.redirect(`/kontor/${s.id}?besked=lukket`, 303);
      },
    },
    // — portalfix: the municipality's office for children at no school —
    {
      method: 'GET',
      url: UNPLACED,
      access: adminOnly,
      handler: async (req, reply) => {
        const besked = (req.query as Record<string, unknown>).besked;
        return showUnplaced(req, reply, MESSAGES.includes(besked as Message) ? { message: besked as Message } : {});
      },
    },
    {
      method: 'POST',
      url: `${UNPLACED}/henvendelser/:request/svar`,
      access: adminOnly,
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const request = idParam(req, 'request');
        const answer = text(req, 'answer', 4_000);
        try {
          await support.answer(null, request, pages.person(req).name, answer);
        } catch (err) {
          const e = fieldError(err, pages.lang(req));
          const code = (err as KantineError).code;
          if (!e || code === 'not_found') throw err;
          reply.status(e.status);
          return showUnplaced(req, reply, {
            errors: { [`answer-${request}`]: code === 'invalid_request' ? t.office.answer_invalid : e.text },
            typed: { [`answer-${request}`]: answer },
          });
        }
        return reply.redirect(`${UNPLACED}?besked=besvaret`, 303);
      },
    },
    {
      method: 'POST',
      url: `${UNPLACED}/henvendelser/:request/luk`,
      access: adminOnly,
      handler: async (req, reply) => {
        await support.close(null, idParam(req, 'request'));
        return reply.redirect(`${UNPLACED}?besked=lukket`, 303);
      },
    },
  ];
}
