import { check, KantineError } from '@kantine/protocol';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { Central } from '../central.ts';
import type { Intent, PaymentIntents } from '../payments/intents.ts';
import { type ReconciliationService, reconciliationCsv } from '../payments/reconciliation.ts';
import type { TopupService } from '../payments/topup.ts';
import { actorOf, noteAudit, rawBodyOf } from './api.ts';
import { Id, param, type Route } from './route.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A one-off top-up: whole kroner (checked by the service, so the refusal is `topup_amount_invalid`). */
const TopupBody = Type.Object(
  {
    amount_ore: Type.Number(),
    terms_accepted: Type.Boolean(),
  },
  { additionalProperties: false },
);

const DayQuery = Type.Object(
  {
    date: Type.Optional(Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' })),
    format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')])),
  },
  { additionalProperties: false },
);

/** What a guardian, a relation or finance sees of a payment (no person, no provider address). */
export function paymentView(i: Intent) {
  return {
    id: i.id,
    purpose: i.purpose,
    amount_ore: i.amount_ore,
    state: i.state,
    failure: i.failure,
    created_at: i.created_at.toISOString(),
    paid_at: i.paid_at?.toISOString() ?? null,
  };
}

function configured<T>(x: T | undefined): T {
  if (x === undefined) throw new KantineError('payments_not_configured');
  return x;
}

/** An intent of this account, or `not_found` (another account's id is no different from none). */
export async function intentOfAccount(payments: PaymentIntents, account: string, id: unknown): Promise<Intent> {
  const intent = typeof id === 'string' && UUID.test(id) ? await payments.get(id) : undefined;
  if (!intent || intent.account_id !== account) throw new KantineError('not_found', 'no such payment');
  return intent;
}

function day(req: FastifyRequest): { date: string | undefined; format: 'json' | 'csv' } {
  const q = check(DayQuery, req.query ?? {}, 'invalid_request');
  return { date: q.date, format: q.format ?? 'json' };
}

/**
 * Money in through the payment provider: the provider's webhook (public: its signature over the
 * raw body is the credential, and even then only a hint), a guardian's or relation's top-up, an
 * account's payments, and finance's reconciliation.
 */
export function paymentRoutes(central: Central): Route[] {
  const payments = (): PaymentIntents => configured(central.payments);
  const topup = (): TopupService => configured(central.topup);
  const reconciliation = (): ReconciliationService => configured(central.reconciliation);
  return [
    {
      method: 'POST',
      url: '/payments/webhook',
      access: 'public',
      rawBody: true,
      bodyLimit: 64 * 1024,
      handler: async (req, reply) => {
        // Verified, recorded, then the payment is fetched from the provider: only that answer counts.
        await payments().webhook(req.headers, rawBodyOf(req));
        return reply.status(200).send({ received: true });
      },
    },
    {
      method: 'POST',
      url: '/api/accounts/:account/topups',
      // Guardians and relations (guardians.md); not staff, not a token: a card payment is a person's.
      access: { tokens: [], people: ['guardian', 'relation'] },
      handler: async (req, reply) => {
        const account_id = param(Id, req, 'account');
        const actor = actorOf(req);
        if (actor.kind !== 'person') throw new KantineError('scope_denied');
        const body = check(TopupBody, req.body, 'invalid_request');
        if (!body.terms_accepted) throw new KantineError('terms_not_accepted');
        const started = await topup().start({ account_id, person_id: actor.person_id, amount_ore: body.amount_ore });
        noteAudit(req, { intent: started.intent_id });
        return reply.status(201).send({ intent_id: started.intent_id, checkout_url: started.checkout_url });
      },
    },
    {
      method: 'GET',
      url: '/api/accounts/:account/topups/limits',
      access: { tokens: [], people: ['guardian', 'relation'] },
      handler: async () => topup().limits,
    },
    {
      method: 'GET',
      url: '/api/accounts/:account/payments',
      access: { tokens: ['finance'], people: ['guardian', 'relation', 'finance'] },
      handler: async (req) => {
        const account_id = param(Id, req, 'account');
        if (!(await central.accounts.get(account_id))) throw new KantineError('not_found', `no account ${account_id}`);
        return { payments: (await payments().ofAccount(account_id)).map(paymentView) };
      },
    },
    {
      method: 'GET',
      url: '/api/accounts/:account/payments/:payment',
      access: { tokens: ['finance'], people: ['guardian', 'relation', 'finance'] },
      handler: async (req) => {
        const account_id = param(Id, req, 'account');
        const intent = await intentOfAccount(payments(), account_id, (req.params as Record<string, unknown>).payment);
        // The browser came back (or someone typed the address): ask the provider, never the URL.
        return paymentView((await payments().current(intent.id)) ?? intent);
      },
    },
    {
      method: 'GET',
      url: '/api/payments/reconciliation',
      access: { tokens: ['finance'], people: ['finance'] },
      handler: async (req, reply) => {
        const { date, format } = day(req);
        const report = await reconciliation().report(date);
        if (format === 'csv')
          return reply
            .header('content-type', 'text/csv; charset=utf-8')
            .header('content-disposition', `attachment; filename="kantine-betalinger-${report.date}.csv"`)
            .header('cache-control', 'no-store')
            .send(reconciliationCsv(report));
        return report;
      },
    },
    {
      method: 'POST',
      url: '/api/payments/reconciliation/check',
      access: { tokens: ['finance'], people: ['finance'] },
      handler: async (req) => {
        const { date } = day(req);
        const result = await reconciliation().check(date);
        if (result.differences.length > 0)
          throw new KantineError(
            'reconciliation_differences',
            `${result.differences.length} difference(s) on ${result.date}`,
            result.differences.map((d) => `${d.intent_id ?? d.entry_id}: ${d.problem}`),
          );
        return result;
      },
    },
  ];
}
