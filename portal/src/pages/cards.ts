import { CardNumberParam, check, KantineError } from '@kantine/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { PageRoute, Pages, PortalServices } from '../portal.ts';
import { accountParam } from './accounts.ts';
import { chooser } from './choose.ts';
import { replacementData, replacementPages } from './replacement.ts';

const NumberParam = Type.Object({ number: CardNumberParam });

/** What the page says after a change (the `besked` of the redirect after a form). */
const MESSAGES = ['spaerret', 'genaabnet', 'bestilt', 'aktiveret'] as const;
type Message = (typeof MESSAGES)[number];

/**
 * "Kort" (guardians only): the child's cards by the number printed on them, blocked when lost and
 * re-opened when found — each a plain form with the session's CSRF token that answers with a
 * redirect back (so a reload does not post again). The till follows within seconds: the change
 * goes to every site of the account on the link. A relation is refused (a page saying so).
 */
export function cardPages(central: PortalServices, pages: Pages): PageRoute[] {
  const { views } = central.accounts;
  const show = cardsPage(central, pages);
  const block = (blocked: boolean): PageRoute => ({
    method: 'POST',
    url: `/konti/:account/kort/:number/${blocked ? 'spaer' : 'genaabn'}`,
    access: { tokens: [], people: ['guardian'] },
    handler: async (req, reply) => {
      const account = accountParam(req);
      const { number } = check(NumberParam, req.params, 'invalid_request');
      await views.setBlockedByNumber(account, number, blocked);
      const message: Message = blocked ? 'spaerret' : 'genaabnet';
      return reply.redirect(`/konti/${account}/kort?besked=${message}`, 303);
    },
  });
  return [
    chooser(central, pages, { url: '/kort', page: 'kort', roles: ['guardian'], heading: (t) => t.cards.title }),
    {
      method: 'GET',
      url: '/konti/:account/kort',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req: FastifyRequest, reply) => {
        const besked = (req.query as Record<string, unknown>).besked;
        const message = MESSAGES.includes(besked as Message) ? (besked as Message) : undefined;
        return show(req, reply, message);
      },
    },
    block(true),
    block(false),
    ...replacementPages(central, pages, show),
  ];
}

/** The Kort page, with what a form's answer adds (an error tied to its field, what was typed). */
export type ShowCards = (
  req: FastifyRequest,
  reply: FastifyReply,
  message?: string,
  extra?: { errors?: Record<string, string>; typed?: Record<string, string> },
) => Promise<FastifyReply>;

function cardsPage(central: PortalServices, pages: Pages): ShowCards {
  const { views } = central.accounts;
  return async (req, reply, message, extra = {}) => {
    const t = pages.dictionary(req);
    const account = accountParam(req);
    const [overview] = await views.overview([{ account_id: account, role: 'guardian' }]);
    if (!overview) throw new KantineError('not_found', `no account ${account}`);
    const cards = await views.cards(account);
    const orders = await central.replacements.ordersOf(account);
    const open = orders.find((o) => !o.activated);
    const errors = extra.errors ?? {};
    if (Object.keys(errors).length > 0 && reply.statusCode < 400) reply.status(400);
    return pages.render(req, reply, 'cards', {
      ...replacementData(t, overview.balance_ore, open, errors, extra.typed ?? {}),
      title: `${t.cards.title} – ${overview.first_name} ${overview.last_name}`,
      name: `${overview.first_name} ${overview.last_name}`,
      account,
      message:
        message === 'spaerret'
          ? t.cards.blocked_done
          : message === 'genaabnet'
            ? t.cards.unblocked_done
            : message === 'bestilt'
              ? t.card_care.ordered_done
              : message === 'aktiveret'
                ? t.card_care.activated_done
                : undefined,
      cards: cards.map((c) => ({
        ...c,
        state_text: t.card_state[c.state],
        kind_text: c.kind === 'ntag424' ? t.cards.kind_ntag424 : t.cards.kind_legacy,
      })),
    });
  };
}
