import { AccountBody, AccountPatch, check, KantineError } from '@kantine/protocol';
import type { AccountService } from '../accounts/accounts.ts';
import { checkLimits } from '../accounts/patch.ts';
import { actorOf, noteAudit } from './api.ts';
import { Id, param, type Route } from './route.ts';

/** Accounts: the child, where the card works, and the guardians' choices. */
export function accountRoutes(accounts: AccountService): Route[] {
  return [
    {
      method: 'PUT',
      url: '/api/accounts/:account',
      access: { tokens: ['admin'], people: ['admin'] },
      handler: async (req, reply) => {
        const id = param(Id, req, 'account');
        const body = check(AccountBody, req.body, 'invalid_request');
        if (body.limits) checkLimits(body.limits);
        await accounts.put({ id, ...body });
        return reply.status(204).send();
      },
    },
    {
      // Some groups of the settings, each saved whole; the rest stays (a PUT resets what it leaves out).
      method: 'PATCH',
      url: '/api/accounts/:account',
      access: { tokens: ['admin'], people: ['guardian', 'admin'] },
      handler: async (req, reply) => {
        const id = param(Id, req, 'account');
        const body = check(AccountPatch, req.body, 'invalid_request');
        const actor = actorOf(req);
        // A guardian sets the child's choices; which school and club the card works at is the municipality's.
        if (body.sites && actor.kind === 'person' && actor.role !== 'admin')
          throw new KantineError('scope_denied', 'only an administrator moves an account to other sites');
        // The photo is made central's own (a small square JPEG, refused by its bytes) in `patch`.
        noteAudit(req, { groups: Object.keys(body).join(',') });
        await accounts.patch(id, body);
        return reply.status(204).send();
      },
    },
    {
      method: 'GET',
      url: '/api/accounts/:account',
      access: { tokens: ['admin'], people: ['admin', 'guardian'] },
      handler: async (req) => {
        const id = param(Id, req, 'account');
        const account = await accounts.get(id);
        if (!account) throw new KantineError('not_found', `no account ${id}`);
        return account;
      },
    },
  ];
}
