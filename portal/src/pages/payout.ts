import { KantineError } from '@kantine/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PageRoute, Pages, PortalServices } from '../portal.ts';
import { accountParam } from './accounts.ts';
import { localTime } from './card-trouble.ts';
import { chooser } from './choose.ts';
import { fieldError, whileRecalled } from './replacement.ts';
import { parseKroner } from './settings.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Fields = 'amount' | 'reg_nr' | 'account_nr' | 'to';

/** How central's payouts name a NemKonto payout (`NEMKONTO_SHOWN` in central/src/payouts): never a number. */
const NEMKONTO_SHOWN = 'NemKonto';

/**
 * "Udbetaling" (guardians only; issue 19 rules 7 and 11): money from the child's account to the
 * guardian's own Danish bank account (reg. no. 4 digits, account up to 10), or NemKonto where the
 * municipality runs it, through central's payouts; the earlier withdrawals with their state. The
 * amount leaves the balance at once. A relation is refused (a page saying so).
 */
export function payoutPages(central: PortalServices, pages: Pages): PageRoute[] {
  const { payouts } = central;
  const show = async (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: { done?: string; errors?: Partial<Record<Fields, string>>; typed?: Partial<Record<Fields, string>> } = {},
  ) => {
    const t = pages.dictionary(req);
    const account = accountParam(req);
    const [overview] = await central.accounts.views.overview([{ account_id: account, role: 'guardian' }]);
    if (!overview) throw new KantineError('not_found', `no account ${account}`);
    const date = localTime(pages.lang(req));
    const state = { open: t.payout.state_open, closed: t.payout.state_closed, sent: t.payout.state_sent };
    const errors = extra.errors ?? {};
    const labels: Record<Fields, string> = {
      amount: t.payout.amount_label,
      reg_nr: t.payout.reg_label,
      account_nr: t.payout.account_label,
      to: t.payout.to_heading,
    };
    // nemkonto: the summary links to the choice's first radio button (a fieldset takes no focus).
    const anchor = (f: Fields) => (f === 'to' ? (payouts.destinations().nemkonto ? 'to_nemkonto' : 'amount') : f);
    const summary = (Object.keys(errors) as Fields[]).map((f) => ({
      field: anchor(f),
      text: `${labels[f]}: ${errors[f]}`,
    }));
    if (summary.length > 0 && reply.statusCode < 400) reply.status(400);
    return pages.render(req, reply, 'payout', {
      title: `${t.payout.title} – ${overview.first_name} ${overview.last_name}`,
      name: `${overview.first_name} ${overview.last_name}`,
      account,
      balance_ore: overview.balance_ore,
      destinations: payouts.destinations(),
      payout_id: crypto.randomUUID(),
      errors,
      typed: extra.typed ?? {},
      summary,
      message: extra.done,
      earlier: (await payouts.ofAccount(account)).map((p) => ({
        ...p,
        to: p.to === NEMKONTO_SHOWN ? t.nemkonto.shown : p.to,
        date: date(p.created_at),
        state_text: state[p.state],
      })),
    });
  };
  return [
    chooser(central, pages, {
      url: '/udbetaling',
      page: 'udbetaling',
      roles: ['guardian'],
      heading: (t) => t.payout.title,
    }),
    {
      method: 'GET',
      url: '/konti/:account/udbetaling',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        if ((req.query as Record<string, unknown>).besked !== 'udbetalt') return show(req, reply);
        const [latest] = await payouts.ofAccount(accountParam(req));
        if (latest?.to === NEMKONTO_SHOWN) return show(req, reply, { done: t.nemkonto.done });
        return show(req, reply, latest ? { done: t.payout.done.replace('{to}', latest.to) } : {});
      },
    },
    {
      method: 'POST',
      url: '/konti/:account/udbetaling',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const account = accountParam(req);
        const person = pages.person(req);
        if (person.account_role !== 'guardian') throw new KantineError('scope_denied', 'only a guardian may withdraw');
        const body = (req.body ?? {}) as Record<string, unknown>;
        const str = (k: string) => (typeof body[k] === 'string' ? (body[k] as string).trim().slice(0, 20) : '');
        const typed = {
          amount: str('amount'),
          reg_nr: str('reg_nr'),
          account_nr: str('account_nr'),
          to: str('to') === 'nemkonto' ? 'nemkonto' : 'bank',
        };
        const amount = parseKroner(typed.amount);
        if (amount === undefined || amount <= 0)
          return show(req, reply, { errors: { amount: t.payout.amount_invalid }, typed });
        const id =
          typeof body.payout_id === 'string' && UUID.test(body.payout_id) ? body.payout_id : crypto.randomUUID();
        // nemkonto: the guardian's own NemKonto — the form has no number for it, central uses the
        // CPR number MitID confirmed for the person signed in.
        const to =
          typed.to === 'nemkonto'
            ? ({ kind: 'nemkonto' } as const)
            : ({ kind: 'bank', reg_nr: typed.reg_nr, account_nr: typed.account_nr } as const);
        try {
          await whileRecalled(() =>
            payouts.request({
              id,
              account_id: account,
              person_id: person.person_id,
              holder_name: person.name,
              amount_ore: amount,
              to,
            }),
          );
        } catch (err) {
          const e = fieldError(err, pages.lang(req));
          const code = (err as { code?: string }).code;
          if (!e || code === 'payouts_not_configured') throw err;
          reply.status(e.status);
          const field: Fields =
            code === 'payout_account_invalid'
              ? 'account_nr'
              : code === 'payout_cpr_missing' || code === 'payout_nemkonto_off'
                ? 'to'
                : 'amount';
          return show(req, reply, { errors: { [field]: e.text }, typed });
        }
        return reply.redirect(`/konti/${account}/udbetaling?besked=udbetalt`, 303);
      },
    },
  ];
}
