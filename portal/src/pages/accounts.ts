import { check, codes, ID_PATTERN, KantineError, STATEMENT_WORDS, statementDate } from '@kantine/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { danishDate, periodOf } from '../period.ts';
import type { PageRoute, Pages, PortalServices } from '../portal.ts';
import { chooser } from './choose.ts';

type AddChildErrors = { cpr?: string; card_number?: string; form?: string };

const AccountParam = Type.Object({ account: Type.String({ pattern: ID_PATTERN }) });

/** The `:account` of a page's URL, checked (the hook has already decided the person may see it). */
export function accountParam(req: FastifyRequest): string {
  return check(AccountParam, req.params, 'invalid_request').account;
}

/**
 * "Mine konti" (every child the person may act for: balance, card, today's spend against the
 * day limit) and "Kontoudtog" (an account's statement over a period, newest first, with the
 * balance after each line; CSV through the API's own route). A relation sees both, read only.
 */
export function accountPages(central: PortalServices, pages: Pages): PageRoute[] {
  const { views, statements } = central.accounts;

  const showAccounts = async (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: { errors?: AddChildErrors; message?: string; card?: string } = {},
  ) => {
    const t = pages.dictionary(req);
    const person = pages.person(req);
    const accounts = await views.overview(await views.accountsOf(person.person_id));
    const errors = extra.errors ?? {};
    const summary = (['cpr', 'card_number', 'form'] as const)
      .filter((f) => errors[f] !== undefined)
      .map((f) => ({ field: f === 'form' ? undefined : f, text: errors[f] as string }));
    if (summary.length > 0) reply.status(400);
    return pages.render(req, reply, 'accounts', {
      title: t.accounts.title,
      accounts: accounts.map((a) => ({
        ...a,
        initials: `${a.first_name.slice(0, 1)}${a.last_name.slice(0, 1)}`,
        today: a.spend.filter((s) => s.period === 'day'),
      })),
      errors,
      summary,
      message: extra.message,
      card: extra.card ?? '',
    });
  };

  return [
    {
      method: 'GET',
      url: '/konti',
      access: { tokens: [], people: ['person'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const added = (req.query as Record<string, unknown>).besked === 'tilfoejet';
        // portalfix: staff with no child of their own land at the school office (where sign-in sends everyone).
        if (!added && !(await pages.familyMenu(req))) return reply.redirect('/kontor', 303);
        return showAccounts(req, reply, added ? { message: t.add_child.added } : {});
      },
    },
    {
      // Add a child: the child's CPR number and the card's printed number must match the child's
      // record, and the person's CPR number be on it as a guardian's (people's addChild). Every
      // mismatch is the same answer; the typed CPR number is never shown again.
      method: 'POST',
      url: '/konti/tilfoej',
      access: { tokens: [], people: ['person'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const person = pages.person(req);
        const body = (req.body ?? {}) as Record<string, unknown>;
        const cpr = typeof body.cpr === 'string' ? body.cpr.replace(/\s/g, '') : '';
        const card = typeof body.card_number === 'string' ? body.card_number.trim().slice(0, 20) : '';
        const errors: AddChildErrors = {};
        if (!/^[0-9]{6}-?[0-9]{4}$/.test(cpr)) errors.cpr = t.add_child.cpr_invalid;
        if (!/^[0-9A-Za-z]{4}-?[0-9A-Za-z]{4}$/.test(card)) errors.card_number = t.add_child.card_invalid;
        if (errors.cpr || errors.card_number) return showAccounts(req, reply, { errors, card });
        try {
          await central.people.addChild(person.person_id, req.ip, { cpr, card_number: card });
        } catch (err) {
          if (err instanceof KantineError && (err.code === 'account_not_matched' || err.code === 'too_many_attempts')) {
            return showAccounts(req, reply, { errors: { form: codes[err.code][pages.lang(req)] }, card });
          }
          throw err;
        }
        return reply.redirect('/konti?besked=tilfoejet', 303);
      },
    },
    chooser(central, pages, {
      url: '/kontoudtog',
      page: 'kontoudtog',
      roles: ['guardian', 'relation'],
      heading: (t) => t.statement.title,
    }),
    {
      method: 'GET',
      url: '/konti/:account/kontoudtog',
      access: { tokens: [], people: ['guardian', 'relation'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const lang = pages.lang(req);
        const person = pages.person(req);
        const account = accountParam(req);
        const role = person.account_role;
        if (role === null) throw new KantineError('not_found', `no account ${account}`);
        const [overview] = await views.overview([{ account_id: account, role }]);
        if (!overview) throw new KantineError('not_found', `no account ${account}`);
        const period = periodOf((req.query ?? {}) as Record<string, unknown>, pages.now());
        const s = await statements.statement(account, period.from, period.to);
        const base = `/konti/${account}/kontoudtog`;
        const csv = new URLSearchParams({ from: s.from, to: s.to, format: 'csv' });
        const errors = Object.entries(period.errors).map(([field, key]) => ({
          field,
          text: t.errors[key as keyof typeof t.errors],
        }));
        if (errors.length > 0) reply.status(400);
        return pages.render(req, reply, 'statement', {
          title: `${t.statement.title} – ${overview.first_name} ${overview.last_name}`,
          name: `${overview.first_name} ${overview.last_name}`,
          period,
          errors,
          error: Object.fromEntries(errors.map((e) => [e.field, e.text])),
          links: {
            this_month: base,
            last_month: `${base}?periode=last_month`,
            csv: `/api/accounts/${account}/statement?${csv.toString()}`,
          },
          from_shown: danishDate(s.from),
          to_shown: danishDate(s.to),
          // What the date fields show: as typed (beside an error), else the period shown.
          fields: period.choice === 'chosen' ? period.typed : { fra: danishDate(s.from), til: danishDate(s.to) },
          opening_ore: s.opening_balance_ore,
          closing_ore: s.closing_balance_ore,
          lines: s.lines.map((l) => ({
            date: statementDate(l.at),
            // The seeds' words in Danish; in English the first word is English, the items as sold.
            text:
              lang === 'en'
                ? `${STATEMENT_WORDS[l.kind].en}${l.text.slice(STATEMENT_WORDS[l.kind].da.length)}`
                : l.text,
            place: l.place_kind === null ? '' : t.place[l.place_kind],
            amount_ore: l.amount_ore,
            // A webshop order paid by bank card: no money of the account moved (amount 0).
            by_card: l.paid_by === 'card',
            balance_after_ore: l.balance_after_ore,
          })),
        });
      },
    },
  ];
}
