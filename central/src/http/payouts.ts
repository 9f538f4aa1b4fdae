import { check, KantineError } from '@kantine/protocol';
import Type from 'typebox';
import type { Actor } from '../auth/actor.ts';
import type { PayoutService } from '../payouts/payouts.ts';
import { actorOf, noteAudit } from './api.ts';
import { Id, param, type Route } from './route.ts';

const UUID = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

/**
 * A guardian's withdrawal. The account fields are strings the service checks itself, so a wrong
 * number is `payout_account_invalid` (what the portal shows), not a schema refusal.
 */
const PayoutBody = Type.Object(
  {
    /** The client's id for this request (a UUID): a retry with it gets the same answer. */
    id: Type.Optional(Type.String({ pattern: UUID })),
    amount_ore: Type.Integer({ minimum: 1, maximum: 100_000_000 }),
    to: Type.Union([
      Type.Object(
        {
          kind: Type.Literal('bank'),
          reg_nr: Type.String({ maxLength: 20 }),
          account_nr: Type.String({ maxLength: 20 }),
        },
        { additionalProperties: false },
      ),
      // The guardian's own NemKonto: no number in the request (nobody can direct money to a CPR number).
      Type.Object({ kind: Type.Literal('nemkonto') }, { additionalProperties: false }),
    ]),
  },
  { additionalProperties: false },
);

/** Who closed or sent a batch, for its row (the audit log has the whole actor). */
function byWhom(actor: Actor): string {
  return actor.kind === 'person' ? `person:${actor.person_id}` : `token:${actor.token_name}`;
}

/** Payouts to guardians and the batches finance sends to the bank (docs/operations/payouts.md). */
export function payoutRoutes(payouts: PayoutService): Route[] {
  return [
    {
      method: 'POST',
      url: '/api/accounts/:account/payouts',
      // Guardians only: not a relation, not office staff, not a token (guardians.md, money rule 6).
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const account_id = param(Id, req, 'account');
        const actor = actorOf(req);
        if (actor.kind !== 'person' || actor.account_role !== 'guardian')
          throw new KantineError('scope_denied', 'only a guardian may withdraw');
        const body = check(PayoutBody, req.body, 'invalid_request');
        const payout = await payouts.request({
          ...(body.id === undefined ? {} : { id: body.id }),
          account_id,
          person_id: actor.person_id,
          holder_name: actor.name,
          amount_ore: body.amount_ore,
          to: body.to,
        });
        noteAudit(req, { payout: payout.payout_id, batch: payout.batch_id, to: body.to.kind });
        return reply.status(201).send(payout);
      },
    },
    {
      method: 'GET',
      url: '/api/accounts/:account/payouts',
      access: { tokens: ['finance'], people: ['guardian', 'finance'] },
      handler: async (req) => ({ payouts: await payouts.ofAccount(param(Id, req, 'account')) }),
    },
    {
      method: 'GET',
      url: '/api/payout-batches',
      access: { tokens: ['finance'], people: ['finance'] },
      handler: async () => ({ batches: await payouts.batches() }),
    },
    {
      method: 'GET',
      url: '/api/payout-batches/:batch',
      access: { tokens: ['finance'], people: ['finance'] },
      handler: async (req) => payouts.batch(batchParam(req)),
    },
    {
      method: 'POST',
      url: '/api/payout-batches/:batch/close',
      access: { tokens: ['finance'], people: ['finance'] },
      handler: async (req) => payouts.close(batchParam(req), byWhom(actorOf(req))),
    },
    {
      method: 'GET',
      url: '/api/payout-batches/:batch/pain.001.xml',
      access: { tokens: ['finance'], people: ['finance'] },
      handler: async (req, reply) => {
        // A NemKonto batch's file carries CPR numbers: the service audits who took it before giving it.
        const { file_name, xml } = await payouts.export(batchParam(req), actorOf(req));
        return reply
          .header('content-type', 'application/xml; charset=utf-8')
          .header('content-disposition', `attachment; filename="${file_name}"`)
          .header('cache-control', 'no-store')
          .send(xml);
      },
    },
    {
      method: 'POST',
      url: '/api/payout-batches/:batch/sent',
      access: { tokens: ['finance'], people: ['finance'] },
      handler: async (req) => payouts.markSent(batchParam(req), byWhom(actorOf(req))),
    },
  ];
}

/** A batch id that is no UUID names no batch: the same answer as an unknown one. */
function batchParam(req: Parameters<Route['handler']>[0]): string {
  const id = (req.params as Record<string, unknown>).batch;
  if (typeof id !== 'string' || !new RegExp(UUID).test(id)) throw new KantineError('not_found', 'no such payout batch');
  return id;
}
