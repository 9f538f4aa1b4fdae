import { refundReason } from '@kantine/central';
import { KantineError } from '@kantine/protocol';
import type { FastifyRequest } from 'fastify';
import type { Dictionary } from '../dictionary/da.ts';
import type { PageRoute, Pages, PortalServices } from '../portal.ts';
import { accountParam } from './accounts.ts';
import { chooser } from './choose.ts';

type PaymentState = 'created' | 'pending' | 'paid' | 'failed' | 'cancelled' | 'expired';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A state as a guardian reads it, and the tag's look. */
function stateOf(t: Dictionary, state: PaymentState, failure: string | null): { text: string; tag: string } {
  // A payment the provider took that central gives back (a blocked card, paid too late, another amount).
  if (state !== 'paid' && refundReason(failure)) return { text: t.topup.state_refunded, tag: 'tag-warning' };
  switch (state) {
    case 'paid':
      return { text: t.topup.state_paid, tag: 'tag-ok' };
    case 'created':
    case 'pending':
      return { text: t.topup.state_pending, tag: 'tag-warning' };
    case 'expired':
      return { text: t.topup.state_expired, tag: 'tag-bad' };
    case 'cancelled':
      return { text: t.topup.state_cancelled, tag: 'tag-bad' };
    default:
      return { text: t.topup.state_failed, tag: 'tag-bad' };
  }
}

/** What a payment that did not count says: money the provider took and central gives back, or none taken. */
function refundedText(t: Dictionary, failure: string | null): string {
  const reason = refundReason(failure);
  if (reason === 'paid_blocked') return t.topup.blocked_refunded_text;
  return reason ? t.topup.refunded_text : t.topup.not_paid_text;
}

/** `100`, `100,00` or `100 kr` → 10000 øre; anything that is not whole kroner → undefined. */
function wholeKroner(raw: unknown): number | undefined {
  if (typeof raw !== 'string') return undefined;
  const m = /^\s*([0-9]{1,7})(?:,00)?\s*(?:kr\.?)?\s*$/i.exec(raw);
  return m?.[1] ? Number(m[1]) * 100 : undefined;
}

/**
 * "Indbetal" (guardians and relations): top up the child's account by card. The form takes whole
 * kroner and the terms; central writes the payment and sends the browser to the provider's hosted
 * page. Back from there, the page shows central's state of the payment ("Afventer betaling" until
 * the provider itself says paid — the address the browser comes back to proves nothing). "Betalinger":
 * the account's payments with their states.
 */
export function topupPages(central: PortalServices, pages: Pages): PageRoute[] {
  const { views } = central.accounts;
  const topup = () => {
    if (!central.topup || !central.payments) throw new KantineError('payments_not_configured');
    return { topup: central.topup, payments: central.payments };
  };
  const nameOf = async (account: string, role: 'guardian' | 'relation' | null) => {
    const [o] = await views.overview([{ account_id: account, role: role ?? 'relation' }]);
    if (!o) throw new KantineError('not_found', `no account ${account}`);
    return { name: `${o.first_name} ${o.last_name}`, first_name: o.first_name, balance_ore: o.balance_ore };
  };
  const roleOf = (req: FastifyRequest) => pages.person(req).account_role;

  const form = async (
    req: FastifyRequest,
    reply: Parameters<PageRoute['handler']>[1],
    account: string,
    extra: { typed?: string; terms?: boolean; error?: { field: 'amount' | 'terms'; text: string } } = {},
  ) => {
    const t = pages.dictionary(req);
    const { topup: service, payments } = topup();
    const child = await nameOf(account, roleOf(req));
    const { min_ore, max_ore, max_balance_ore } = service.limits;
    const limits = t.topup.limits
      .replace('{min}', String(min_ore / 100))
      .replace('{max}', String(max_ore / 100))
      .replace('{max_balance}', String(max_balance_ore / 100));
    return pages.render(req, reply, 'topup', {
      title: `${t.topup.title} – ${child.name}`,
      name: child.name,
      account,
      balance_ore: child.balance_ore,
      limits,
      typed: extra.typed ?? '',
      terms: extra.terms === true,
      terms_url: payments.config.terms_url,
      error: extra.error,
    });
  };

  return [
    chooser(central, pages, {
      url: '/indbetal',
      page: 'indbetal',
      roles: ['guardian', 'relation'],
      heading: (t) => t.topup.title,
    }),
    chooser(central, pages, {
      url: '/betalinger',
      page: 'betalinger',
      roles: ['guardian', 'relation'],
      heading: (t) => t.topup.history_title,
    }),
    {
      method: 'GET',
      url: '/konti/:account/indbetal',
      access: { tokens: [], people: ['guardian', 'relation'] },
      handler: async (req, reply) => form(req, reply, accountParam(req)),
    },
    {
      method: 'POST',
      url: '/konti/:account/indbetal',
      access: { tokens: [], people: ['guardian', 'relation'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const account = accountParam(req);
        const body = (req.body ?? {}) as Record<string, unknown>;
        const typed = typeof body.amount === 'string' ? body.amount.slice(0, 20) : '';
        const terms = body.terms === 'yes';
        const refuse = async (field: 'amount' | 'terms', text: string) => {
          reply.status(400);
          return form(req, reply, account, { typed, terms, error: { field, text } });
        };
        const ore = wholeKroner(typed);
        if (ore === undefined) return refuse('amount', t.topup.amount_invalid);
        if (!terms) return refuse('terms', t.topup.terms_missing);
        try {
          const started = await topup().topup.start({
            account_id: account,
            person_id: pages.person(req).person_id,
            amount_ore: ore,
          });
          // To the provider's hosted page (another origin): the one place the portal sends a browser away.
          return reply.redirect(started.checkout_url, 303);
        } catch (err) {
          if (
            err instanceof KantineError &&
            (err.code === 'topup_amount_invalid' || err.code === 'topup_over_max_balance')
          )
            return refuse(
              'amount',
              err.code === 'topup_amount_invalid' ? t.topup.amount_invalid : t.topup.over_max_balance,
            );
          throw err;
        }
      },
    },
    {
      method: 'GET',
      url: '/konti/:account/indbetal/:payment',
      access: { tokens: [], people: ['guardian', 'relation'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const account = accountParam(req);
        const id = (req.params as Record<string, unknown>).payment;
        const { payments } = topup();
        const known = typeof id === 'string' && UUID.test(id) ? await payments.get(id) : undefined;
        if (!known || known.account_id !== account) throw new KantineError('not_found', 'no such payment');
        // Central's state, asked of the provider when still pending; the query string is ignored.
        const intent = (await payments.current(known.id)) ?? known;
        const child = await nameOf(account, roleOf(req));
        const state = stateOf(t, intent.state, intent.failure);
        return pages.render(req, reply, 'topup-result', {
          title: `${t.topup.result_title} – ${child.name}`,
          name: child.name,
          account,
          payment: intent.id,
          amount_ore: intent.amount_ore,
          state: intent.state,
          state_text: state.text,
          state_tag: state.tag,
          explanation:
            intent.state === 'paid'
              ? t.topup.paid_text.replace('{name}', child.first_name)
              : intent.state === 'pending' || intent.state === 'created'
                ? t.topup.pending_text
                : refundedText(t, intent.failure),
          balance_ore: child.balance_ore,
        });
      },
    },
    {
      method: 'GET',
      url: '/konti/:account/betalinger',
      access: { tokens: [], people: ['guardian', 'relation'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const account = accountParam(req);
        const { payments } = topup();
        const child = await nameOf(account, roleOf(req));
        const list = await payments.ofAccount(account);
        const date = new Intl.DateTimeFormat(pages.lang(req) === 'da' ? 'da-DK' : 'en-GB', {
          dateStyle: 'medium',
          timeStyle: 'short',
          timeZone: 'Europe/Copenhagen',
        });
        return pages.render(req, reply, 'payments', {
          title: `${t.topup.history_title} – ${child.name}`,
          name: child.name,
          account,
          payments: list.map((p) => {
            const s = stateOf(t, p.state, p.failure);
            return {
              id: p.id,
              date: date.format(p.created_at),
              what:
                p.purpose === 'topup'
                  ? t.topup.purpose_topup
                  : p.purpose === 'order'
                    ? t.topup.purpose_order
                    : t.topup.purpose_agreement,
              amount_ore: p.amount_ore,
              state: p.state,
              state_text: s.text,
              state_tag: s.tag,
            };
          }),
        });
      },
    },
  ];
}
