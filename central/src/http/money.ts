import { check, DepositBody, KantineError, WithdrawBody } from '@kantine/protocol';
import type { AccountService } from '../accounts/accounts.ts';
import type { MoneyService } from '../money/money.ts';
import { Id, param, type Route } from './route.ts';

/** Money on an account: its entries, deposits, withdrawals and fees. */
export function moneyRoutes(accounts: AccountService, money: MoneyService): Route[] {
  return [
    {
      method: 'GET',
      url: '/api/accounts/:account/entries',
      access: { tokens: ['admin', 'finance'], people: ['finance'] },
      handler: async (req) => {
        const id = param(Id, req, 'account');
        if (!(await accounts.get(id))) throw new KantineError('not_found', `no account ${id}`);
        return { entries: await money.entries(id) };
      },
    },
    {
      method: 'POST',
      url: '/api/accounts/:account/deposits',
      access: { tokens: ['admin', 'finance'], people: ['finance'] },
      handler: async (req, reply) => {
        const account_id = param(Id, req, 'account');
        const body = check(DepositBody, req.body, 'invalid_request');
        const id = await money.deposit({ ...body, account_id });
        return reply.status(201).send({ entry_id: id });
      },
    },
    {
      method: 'POST',
      url: '/api/accounts/:account/withdrawals',
      access: { tokens: ['admin', 'finance'], people: ['finance'] },
      handler: async (req, reply) => {
        const account_id = param(Id, req, 'account');
        const body = check(WithdrawBody, req.body, 'invalid_request');
        const id = await money.withdraw({ ...body, account_id });
        return reply.status(201).send({ entry_id: id });
      },
    },
  ];
}
