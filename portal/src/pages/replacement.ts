import { randomUUID } from 'node:crypto';
import type { CardOrder } from '@kantine/central';
import { codes, KantineError } from '@kantine/protocol';
import type { Dictionary } from '../dictionary/da.ts';
import type { PageRoute, Pages, PortalServices } from '../portal.ts';
import { accountParam } from './accounts.ts';
import type { ShowCards } from './cards.ts';

/** The replacement card's fee, as the page states it before the guardian orders. */
const FEE_ORE = 1_000;

/** A refusal of a form on the portal's pages, as the text by its field (the code's words and what to do). */
export function fieldError(err: unknown, lang: 'da' | 'en'): { text: string; status: number } | undefined {
  if (!(err instanceof KantineError)) return undefined;
  const info = codes[err.code] as { da: string; en: string; action_da?: string; action_en?: string };
  const action = lang === 'da' ? info.action_da : info.action_en;
  const status =
    err.code === 'too_many_attempts'
      ? 429
      : err.code === 'card_order_open' || err.code === 'card_in_use' || err.code === 'support_request_closed'
        ? 409
        : err.code === 'funds_held_offline'
          ? 503
          : 400;
  return { text: action ? `${info[lang]}. ${action}` : `${info[lang]}.`, status };
}

/**
 * Money taken at central (a fee, a withdrawal) while the child's school holds the balance: central
 * recalls it and the school gives it back within moments when it is online. The page waits a few
 * seconds for that (the same request id, so it is booked once) before it says "try again later".
 */
export async function whileRecalled<T>(fn: () => Promise<T>, tries = 16): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof KantineError) || err.code !== 'funds_held_offline' || i >= tries) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** The codes a replacement order or an activation may answer with on the page (anything else is a refusal page). */
const FORM_CODES = new Set([
  'card_number_invalid',
  'card_not_in_stock',
  'card_in_use',
  'card_order_open',
  'card_order_no_school',
  'insufficient_balance',
  'funds_held_offline',
  'too_many_attempts',
]);

/** What the Kort page shows of replacement cards: the open order, the order form, the activation form. */
export function replacementData(
  t: Dictionary,
  balance: number,
  open: CardOrder | undefined,
  errors: Record<string, string>,
  typed: Record<string, string>,
): Record<string, unknown> {
  return {
    order: open
      ? {
          state: open.state,
          text: open.state === 'ordered' ? t.card_care.order_waiting : t.card_care.order_handed_out,
          card_number: open.card_number,
        }
      : undefined,
    order_id: randomUUID(),
    fee_ore: FEE_ORE,
    balance_short: balance < FEE_ORE,
    errors,
    typed_number: typed.number ?? '',
    summary: Object.entries(errors).map(([field, text]) => ({ field, text })),
  };
}

/**
 * "Kort" (guardians only), replacement cards: order one (the 10 kr fee is booked at once as its
 * own statement line; the card is collected at the school office), and activate a card by the
 * number printed on it (8 characters after the first 4 digits): it becomes the child's card, the
 * account's balance, limits and agreements stay, and every older card stops at the till. A
 * refusal is shown by its field, with nothing changed.
 */
export function replacementPages(central: PortalServices, pages: Pages, show: ShowCards): PageRoute[] {
  const form = (req: Parameters<PageRoute['handler']>[0]) => (req.body ?? {}) as Record<string, unknown>;
  return [
    {
      method: 'POST',
      url: '/konti/:account/kort/bestil',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const account = accountParam(req);
        const person = pages.person(req);
        const id = form(req).order_id;
        // The form's own id: posting it twice (a double click, a reload) orders and charges once.
        const orderId = typeof id === 'string' && /^[0-9a-f-]{36}$/.test(id) ? id : randomUUID();
        try {
          await whileRecalled(() => central.replacements.order(account, person.person_id, orderId));
        } catch (err) {
          const e = fieldError(err, pages.lang(req));
          if (!e || !FORM_CODES.has((err as KantineError).code)) throw err;
          reply.status(e.status);
          return show(req, reply, undefined, { errors: { order: e.text } });
        }
        return reply.redirect(`/konti/${account}/kort?besked=bestilt`, 303);
      },
    },
    {
      method: 'POST',
      url: '/konti/:account/kort/aktiver',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const account = accountParam(req);
        const person = pages.person(req);
        const raw = form(req).number;
        const number = typeof raw === 'string' ? raw.slice(0, 40) : '';
        try {
          await central.replacements.activate(account, person.person_id, number);
        } catch (err) {
          const e = fieldError(err, pages.lang(req));
          if (!e || !FORM_CODES.has((err as KantineError).code)) throw err;
          if (err instanceof KantineError && err.code === 'too_many_attempts')
            reply.header('retry-after', String((err as { retry_after_s?: number }).retry_after_s ?? 60));
          reply.status(e.status);
          return show(req, reply, undefined, { errors: { number: e.text }, typed: { number } });
        }
        return reply.redirect(`/konti/${account}/kort?besked=aktiveret`, 303);
      },
    },
  ];
}
