/**
 * Automatic top-up as JSON (issue 19 rule 6), beside the portal's "Automatisk optankning" page and
 * with the same rules: a guardian of the account only (a relation, staff and tokens are refused by
 * the routes' declarations). `GET` shows the agreement, its limits and recent charges; `PUT` starts
 * the provider's checkout that keeps the card (a new agreement, or a new card and amount for the
 * account's agreement — nothing changes until the provider says it is paid); `DELETE` cancels the
 * agreement (its card revoked at the provider, an open checkout voided).
 */
import { check, KantineError } from '@kantine/protocol';
import Type from 'typebox';
import type { Agreement, ChargeRow } from '../autotopup/autotopup.ts';
import type { Central } from '../central.ts';
import { actorOf, noteAudit } from './api.ts';
import { Id, param, type Route } from './route.ts';

const AgreementBody = Type.Object(
  {
    /** Whole kroner in øre, within the municipality's limits (`autotopup_amount_invalid`). */
    amount_ore: Type.Number(),
    /** The guardian's consent to keep the card for merchant-initiated top-ups. */
    consent: Type.Boolean(),
  },
  { additionalProperties: false },
);

const agreementView = (a: Agreement) => ({
  state: a.state,
  amount_ore: Number(a.amount_ore),
  threshold_ore: Number(a.threshold_ore),
  card_expiry: a.card_expiry,
  card_last4: a.card_last4,
  failures: a.failures,
  created_at: a.created_at.toISOString(),
  updated_at: a.updated_at.toISOString(),
});

const chargeView = (c: ChargeRow) => ({
  id: c.id,
  state: c.state,
  amount_ore: Number(c.amount_ore),
  reason: c.reason,
  created_at: c.created_at.toISOString(),
  settled_at: c.settled_at?.toISOString() ?? null,
});

export function autotopupRoutes(central: Central): Route[] {
  const at = central.autotopup;
  const guardian = (req: Parameters<Route['handler']>[0]): string => {
    const actor = actorOf(req);
    if (actor.kind !== 'person') throw new KantineError('scope_denied');
    return actor.person_id;
  };
  const account = async (req: Parameters<Route['handler']>[0]): Promise<string> => {
    const id = param(Id, req, 'account');
    if (!(await central.accounts.get(id))) throw new KantineError('not_found', `no account ${id}`);
    return id;
  };
  return [
    {
      method: 'GET',
      url: '/api/accounts/:account/autotopup',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req) => {
        const id = await account(req);
        const person = guardian(req);
        const agreement = await at.agreement(id);
        const { min_amount_ore, max_amount_ore, max_charges_per_day } = at.config;
        return {
          agreement: agreement ? agreementView(agreement) : null,
          limits: { min_amount_ore, max_amount_ore, max_charges_per_day },
          charges: (await at.charges(id, 10)).map(chargeView),
          low_balance_alert_ore: await at.lowBalanceAlert(id, person),
        };
      },
    },
    {
      method: 'PUT',
      url: '/api/accounts/:account/autotopup',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const id = await account(req);
        const person = guardian(req);
        const body = check(AgreementBody, req.body, 'invalid_request');
        if (!body.consent) throw new KantineError('terms_not_accepted', undefined, ['/consent must be true']);
        at.checkAmount(body.amount_ore);
        const started = await at.startCheckout({ account_id: id, person_id: person, amount_ore: body.amount_ore });
        noteAudit(req, { intent: started.intent_id });
        return reply.status(201).send(started);
      },
    },
    {
      method: 'DELETE',
      url: '/api/accounts/:account/autotopup',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req) => {
        const id = await account(req);
        guardian(req);
        return { agreement: agreementView(await at.cancel(id)) };
      },
    },
  ];
}
