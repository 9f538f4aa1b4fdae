import { CardNumberParam, check, KantineError, StatementQuery } from '@kantine/protocol';
import { accountHistory } from '../accounts/history.ts';
import type { Central } from '../central.ts';
import { statementCsv } from '../statement/statement.ts';
import { actorOf, noteAudit } from './api.ts';
import { Id, param, type Route } from './route.ts';

/**
 * The portal's API (issue 17): what a guardian's or a relation's pages call. "Mine konti" with
 * balance, card state and spend against the limits; an account's cards by their printed number,
 * blocked and re-opened by a guardian; the statement over a period (JSON or CSV), for guardians
 * and relations; and the account's audit lines, for guardians. Amounts are integer øre.
 */
export function portalRoutes(central: Pick<Central, 'accounts' | 'audit'>): Route[] {
  const { views, statements } = central.accounts;
  const block = (blocked: boolean): Route => ({
    method: 'POST',
    url: `/api/accounts/:account/cards/:number/${blocked ? 'block' : 'unblock'}`,
    access: { tokens: ['admin'], people: ['guardian', 'admin'] },
    handler: async (req) => {
      const account = param(Id, req, 'account');
      const number = param(CardNumberParam, req, 'number');
      const card = await views.setBlockedByNumber(account, number, blocked);
      if (card.number) noteAudit(req, { card_number: card.number });
      return { card };
    },
  });
  return [
    {
      method: 'GET',
      url: '/api/me/accounts',
      access: { tokens: [], people: ['person'] },
      handler: async (req) => {
        const actor = actorOf(req);
        if (actor.kind !== 'person') throw new KantineError('scope_denied', 'only a signed-in person has accounts');
        return { accounts: await views.overview(await views.accountsOf(actor.person_id)) };
      },
    },
    {
      method: 'GET',
      url: '/api/accounts/:account/cards',
      access: { tokens: ['admin'], people: ['guardian', 'admin'] },
      handler: async (req) => ({ cards: await views.cards(param(Id, req, 'account')) }),
    },
    block(true),
    block(false),
    {
      method: 'GET',
      url: '/api/accounts/:account/statement',
      access: { tokens: ['admin', 'finance'], people: ['guardian', 'relation', 'admin', 'finance'] },
      handler: async (req, reply) => {
        const account = param(Id, req, 'account');
        const q = check(StatementQuery, req.query ?? {}, 'invalid_request');
        const s = await statements.statement(account, q.from, q.to);
        if (q.format !== 'csv') return s;
        return reply
          .header('content-type', 'text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="kontoudtog-${account}-${q.from}-${q.to}.csv"`)
          .header('cache-control', 'no-store')
          .send(statementCsv(s));
      },
    },
    {
      method: 'GET',
      url: '/api/accounts/:account/audit',
      access: { tokens: ['admin'], people: ['guardian', 'admin'] },
      handler: async (req) => {
        const account = param(Id, req, 'account');
        if (!(await central.accounts.get(account))) throw new KantineError('not_found', `no account ${account}`);
        return { lines: accountHistory(await central.audit.forAccount(account)) };
      },
    },
  ];
}
