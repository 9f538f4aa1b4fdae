import type { CardCheck, SupportRequest } from '@kantine/central';
import { KantineError } from '@kantine/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Dictionary } from '../dictionary/da.ts';
import { formatOre } from '../money.ts';
import type { PageRoute, Pages, PortalServices } from '../portal.ts';
import { accountParam } from './accounts.ts';
import { chooser } from './choose.ts';
import { fieldError } from './replacement.ts';

/** One point of the checklist: what was found, whether it is fine, and what to do if not. */
interface CheckItem {
  key: string;
  /** Fine, to check, or a tip (a broken card the checklist cannot see). */
  ok: boolean | 'tip';
  text: string;
  action?: string;
  href?: string;
  link?: string;
}

/** The seeds' "Sådan gør du hvis kortet ikke virker", answered from the child's live state. */
export function checklist(t: Dictionary, account: string, c: CardCheck, money: (ore: number) => string): CheckItem[] {
  const tt = t.card_trouble;
  const cards = { href: `/konti/${account}/kort`, link: tt.go_cards };
  const settings = { href: `/konti/${account}/indstillinger`, link: tt.go_settings };
  const items: CheckItem[] = [];
  const number = c.card.number ?? t.cards.without_number;
  if (c.card.state === 'active') {
    items.push({
      key: 'card',
      ok: true,
      text: tt.card_active.replace('{number}', number),
      action: tt.card_check_number.replace('{number}', number),
    });
  } else if (c.card.state === 'blocked') {
    items.push({
      key: 'card',
      ok: false,
      text: tt.card_blocked.replace('{number}', number),
      action: tt.card_blocked_do,
      ...cards,
    });
  } else {
    items.push({ key: 'card', ok: false, text: tt.card_none, action: tt.card_none_do, ...cards });
  }
  if (c.card.replaced.length > 0)
    items.push({ key: 'replaced', ok: true, text: tt.card_replaced.replace('{numbers}', c.card.replaced.join(', ')) });
  if (c.order)
    items.push({
      key: 'order',
      ok: false,
      text:
        c.order.state === 'ordered'
          ? tt.order_waiting
          : tt.order_handed_out.replace('{number}', c.order.card_number ?? ''),
      action: tt.order_do,
      ...cards,
    });
  const balance = money(c.balance_ore);
  items.push(
    c.balance_ore > 0
      ? { key: 'balance', ok: true, text: tt.balance_ok.replace('{balance}', balance) }
      : { key: 'balance', ok: false, text: tt.balance_empty.replace('{balance}', balance), action: tt.balance_do },
  );
  const period = { day: tt.period_day, week: tt.period_week, month: tt.period_month };
  if (c.limits_reached.length === 0) items.push({ key: 'limits', ok: true, text: tt.limits_ok });
  for (const l of c.limits_reached)
    items.push({
      key: `limit-${l.place_kind}-${l.period}`,
      ok: false,
      text: tt.limit_reached
        .replace('{place}', t.place[l.place_kind])
        .replace('{period}', period[l.period])
        .replace('{spent}', money(l.spent_ore))
        .replace('{limit}', money(l.limit_ore)),
      action: tt.limits_do,
      ...settings,
    });
  const allowed = c.places.filter((p) => p.allowed).map((p) => t.place[p.place_kind]);
  const denied = c.places.filter((p) => !p.allowed).map((p) => t.place[p.place_kind]);
  if (c.places.length === 0) items.push({ key: 'places', ok: false, text: tt.no_places, action: tt.no_places_do });
  if (allowed.length > 0)
    items.push({ key: 'places', ok: true, text: tt.place_ok.replace('{places}', allowed.join(', ')) });
  if (denied.length > 0)
    items.push({
      key: 'places-denied',
      ok: false,
      text: tt.place_not.replace('{places}', denied.join(', ')),
      action: tt.place_do,
      ...settings,
    });
  items.push({ key: 'damaged', ok: 'tip', text: tt.damaged, action: tt.damaged_do, ...cards });
  return items;
}

export function requestView(t: Dictionary, r: SupportRequest, date: (iso: string) => string) {
  const state = {
    open: t.card_trouble.state_open,
    answered: t.card_trouble.state_answered,
    closed: t.card_trouble.state_closed,
  };
  return {
    ...r,
    state_text: state[r.state],
    created: date(r.created_at),
    answered: r.answered_at ? date(r.answered_at) : '',
  };
}

/** A time as people read it in Denmark (Europe/Copenhagen), day and time. */
export function localTime(lang: 'da' | 'en'): (iso: string) => string {
  const f = new Intl.DateTimeFormat(lang === 'da' ? 'da-DK' : 'en-GB', {
    timeZone: 'Europe/Copenhagen',
    dateStyle: 'short',
    timeStyle: 'short',
  });
  return (iso) => f.format(new Date(iso));
}

/**
 * "Kortet virker ikke" (guardians only): the seeds' checklist answered from the child's live state
 * (which card is the account's, blocked or not activated, a new card on order, the balance, each
 * limit reached today/this week/this month, the places the card may be used), each with what to
 * do; then a support request (free text) to the school office, whose answer shows here.
 */
export function cardTroublePages(central: PortalServices, pages: Pages): PageRoute[] {
  const { views } = central.accounts;
  const show = async (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: { sent?: boolean; error?: string; typed?: string } = {},
  ) => {
    const t = pages.dictionary(req);
    const account = accountParam(req);
    const [overview] = await views.overview([{ account_id: account, role: 'guardian' }]);
    if (!overview) throw new KantineError('not_found', `no account ${account}`);
    const check = await central.replacements.check(account, overview.spend);
    const date = localTime(pages.lang(req));
    if (extra.error && reply.statusCode < 400) reply.status(400);
    return pages.render(req, reply, 'card-trouble', {
      title: `${t.card_trouble.title} – ${overview.first_name} ${overview.last_name}`,
      name: `${overview.first_name} ${overview.last_name}`,
      account,
      items: checklist(t, account, check, formatOre),
      requests: (await central.support.ofAccount(account)).map((r) => requestView(t, r, date)),
      message: extra.sent ? t.card_trouble.sent_done : undefined,
      error: extra.error,
      typed: extra.typed ?? '',
      summary: extra.error ? [{ field: 'message', text: extra.error }] : [],
    });
  };
  return [
    chooser(central, pages, {
      url: '/kortet-virker-ikke',
      page: 'kortet-virker-ikke',
      roles: ['guardian'],
      heading: (t) => t.card_trouble.title,
    }),
    {
      method: 'GET',
      url: '/konti/:account/kortet-virker-ikke',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) =>
        show(req, reply, { sent: (req.query as Record<string, unknown>).besked === 'sendt' }),
    },
    {
      method: 'POST',
      url: '/konti/:account/kortet-virker-ikke',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const account = accountParam(req);
        const person = pages.person(req);
        const raw = ((req.body ?? {}) as Record<string, unknown>).message;
        const typed = typeof raw === 'string' ? raw.slice(0, 4_000) : '';
        try {
          await central.support.open(account, { id: person.person_id, name: person.name }, typed);
        } catch (err) {
          const e = fieldError(err, pages.lang(req));
          if (!e) throw err;
          reply.status(e.status);
          const code = (err as { code?: string }).code;
          return show(req, reply, {
            error: code === 'invalid_request' ? t.card_trouble.message_invalid : e.text,
            typed,
          });
        }
        return reply.redirect(`/konti/${account}/kortet-virker-ikke?besked=sendt`, 303);
      },
    },
  ];
}
