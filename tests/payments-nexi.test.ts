/**
 * The Nexi Checkout adapter against a local server that speaks Nexi's payment API v1 as its
 * reference documents it (create payment, retrieve payment, unscheduled subscriptions, charges,
 * refunds) and records every request, so each request the adapter makes is checked field by field.
 */

import { isDeclined, isProviderUnreachable, NEXI_WEBHOOK_EVENTS, NexiAdapter } from '@kantine/payments';
import { KantineError } from '@kantine/protocol';
import test from 'ava';
import Fastify from 'fastify';

const SECRET_KEY = 'test-secret-key-0f1e2d3c4b5a69788796a5b4c3d2e1f0';
const WEBHOOK_AUTH = 'kantineWebhook0123456789';
const WEBHOOK_URL = 'https://kantine.example.dk/payments/webhook';

interface Recorded {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** What the server answers next for a route, set per test. */
interface Plan {
  status?: number;
  body?: unknown;
}

async function startNexi() {
  const requests: Recorded[] = [];
  const payments = new Map<string, Record<string, unknown>>();
  const plans = new Map<string, Plan>();
  const idempotent = new Map<string, { status: number; body: unknown }>();
  let ids = 0;
  const app = Fastify();
  app.addHook('preHandler', async (req) => {
    requests.push({ method: req.method, url: req.url, headers: { ...req.headers }, body: req.body });
  });
  app.addHook('onRequest', async (req, reply) => {
    if (req.headers.authorization !== SECRET_KEY) return reply.status(401).send({ message: 'Unauthorized' });
  });
  const planned = (key: string) => {
    const plan = plans.get(key);
    plans.delete(key);
    return plan;
  };

  app.post('/v1/payments', async (_req, reply) => {
    const plan = planned('create');
    if (plan) return reply.status(plan.status ?? 200).send(plan.body);
    const paymentId = `0254000063${String(++ids).padStart(22, '0')}`;
    return reply.status(201).send({
      paymentId,
      hostedPaymentPageUrl: `https://test.checkout.dibspayment.eu/hostedpaymentpage/?checkoutKey=abc&pid=${paymentId}`,
    });
  });
  app.get<{ Params: { id: string } }>('/v1/payments/:id', async (req, reply) => {
    const plan = planned('get');
    if (plan) return reply.status(plan.status ?? 200).send(plan.body);
    const p = payments.get(req.params.id);
    if (!p) return reply.status(404).send();
    return { payment: p };
  });
  app.get<{ Params: { id: string } }>('/v1/unscheduledsubscriptions/:id', async (req) => ({
    unscheduledSubscriptionId: req.params.id,
    paymentDetails: {
      paymentType: 'CARD',
      paymentMethod: 'Dankort',
      cardDetails: { expiryDate: '0828', maskedPan: '571000******0001' },
    },
  }));
  app.post<{ Params: { id: string } }>('/v1/unscheduledsubscriptions/:id/charges', async (req, reply) => {
    const key = String(req.headers['idempotency-key']);
    const seen = idempotent.get(key);
    if (seen) return reply.status(seen.status).send(seen.body);
    const plan = planned('charge');
    const answer = plan
      ? { status: plan.status ?? 201, body: plan.body }
      : { status: 201, body: { paymentId: `charge-payment-${++ids}`, chargeId: `charge-${ids}` } };
    if (answer.status < 500) idempotent.set(key, answer);
    return reply.status(answer.status).send(answer.body);
  });
  app.put<{ Params: { id: string } }>('/v1/unscheduledsubscriptions/:id/terminate', async (_req, reply) =>
    reply.status(204).send(),
  );
  app.post<{ Params: { id: string } }>('/v1/charges/:id/refunds', async () => ({ refundId: 'refund-1' }));
  // Terminate: only a checkout not completed (nothing charged); a completed one is refused with 400.
  app.put<{ Params: { id: string } }>('/v1/payments/:id/terminate', async (req, reply) => {
    const p = payments.get(req.params.id) as { summary?: { chargedAmount?: number }; terminated?: string } | undefined;
    if (!p) return reply.status(404).send();
    if ((p.summary?.chargedAmount ?? 0) > 0) return reply.status(400).send({ message: 'Payment is completed' });
    p.terminated = '2026-12-07T10:00:00Z';
    return reply.status(204).send();
  });

  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return { app, url: `http://127.0.0.1:${port}`, requests, payments, plans };
}

const nexi = await startNexi();
test.after.always(() => nexi.app.close());

// The adapter insists on https in config (the schema); the recording server is plain http on loopback.
const adapter = new NexiAdapter({
  api_url: nexi.url,
  secret_key: SECRET_KEY,
  webhook_url: WEBHOOK_URL,
  webhook_authorization: WEBHOOK_AUTH,
  checkout_language: 'da-DK',
  request_timeout_ms: 2_000,
});
const code = (err: unknown) => (err instanceof KantineError ? err.code : String(err));
const last = () => nexi.requests.at(-1);
const webHooks = NEXI_WEBHOOK_EVENTS.map((eventName) => ({ eventName, url: WEBHOOK_URL, authorization: WEBHOOK_AUTH }));
const topUpOrder = (amount: number, reference: string) => ({
  items: [
    {
      reference: 'topup',
      name: 'Optankning af kantinekort / Canteen card top-up',
      quantity: 1,
      unit: 'stk',
      unitPrice: amount,
      taxRate: 0,
      taxAmount: 0,
      grossTotalAmount: amount,
      netTotalAmount: amount,
    },
  ],
  amount,
  currency: 'DKK',
  reference,
});

test.serial(
  'create payment: hosted page, termsUrl, immediate charge, our webhooks with our authorization, the intent as reference and idempotency key',
  async (t) => {
    const c = await adapter.createCheckout({
      intent_id: 'int_0001',
      amount_ore: 10_000,
      return_url: 'https://kantine.example.dk/portal/topup/return',
      cancel_url: 'https://kantine.example.dk/portal/topup',
      terms_url: 'https://kantine.example.dk/terms',
    });
    const req = last();
    t.is(req?.method, 'POST');
    t.is(req?.url, '/v1/payments');
    t.is(req?.headers.authorization, SECRET_KEY, 'the secret key is the whole Authorization header');
    t.regex(String(req?.headers['content-type']), /^application\/json/);
    t.is(req?.headers['idempotency-key'], 'intent-int_0001');
    t.deepEqual(req?.body, {
      order: topUpOrder(10_000, 'int_0001'),
      checkout: {
        integrationType: 'HostedPaymentPage',
        returnUrl: 'https://kantine.example.dk/portal/topup/return',
        cancelUrl: 'https://kantine.example.dk/portal/topup',
        termsUrl: 'https://kantine.example.dk/terms',
        charge: true,
        merchantHandlesConsumerData: false,
      },
      notifications: { webHooks },
    });
    t.regex(c.payment_id, /^0254000063/);
    const page = new URL(c.checkout_url);
    t.is(page.origin, 'https://test.checkout.dibspayment.eu');
    t.is(page.searchParams.get('pid'), c.payment_id);
    t.is(page.searchParams.get('language'), 'da-DK');
  },
);

test.serial(
  'create payment that keeps the card: unscheduledSubscription.create, and a 0 kr card check is allowed only then',
  async (t) => {
    await adapter.createCheckout({
      intent_id: 'int_0002',
      amount_ore: 0,
      return_url: 'https://kantine.example.dk/r',
      cancel_url: 'https://kantine.example.dk/c',
      terms_url: 'https://kantine.example.dk/t',
      save_card_for_agreement: true,
    });
    t.deepEqual((last()?.body as Record<string, unknown>).unscheduledSubscription, { create: true });
    t.deepEqual((last()?.body as { order: unknown }).order, topUpOrder(0, 'int_0002'));
    const before = nexi.requests.length;
    const err = await t.throwsAsync(
      adapter.createCheckout({
        intent_id: 'x',
        amount_ore: 0,
        return_url: 'https://a/',
        cancel_url: 'https://a/',
        terms_url: 'https://a/',
      }),
    );
    t.is(code(err), 'invalid_request');
    t.is(nexi.requests.length, before, 'Nexi was not asked');
  },
);

test.serial(
  'a webhook counts only through a fresh fetch: pending until chargedAmount covers the order, then paid',
  async (t) => {
    const paymentId = 'p-webhook-1';
    const raw = JSON.stringify({
      id: 'evt-1',
      merchantId: 100017120,
      timestamp: '2026-12-07T10:00:00.000+00:00',
      event: 'payment.charge.created.v2',
      data: { paymentId, chargeId: 'c-1', amount: { amount: 10_000, currency: 'DKK' } },
    });
    const event = adapter.verifyWebhook(
      { authorization: WEBHOOK_AUTH, 'content-type': 'application/json' },
      Buffer.from(raw),
    );
    t.deepEqual(event, { event_id: 'evt-1', type: 'payment.charge.created.v2', payment_id: paymentId });

    nexi.payments.set(paymentId, {
      paymentId,
      summary: {},
      orderDetails: { amount: 10_000, currency: 'DKK', reference: 'int_0003' },
    });
    t.deepEqual(await adapter.getPayment(paymentId), { payment_id: paymentId, state: 'pending', amount_ore: 10_000 });
    const get = last();
    t.is(get?.method, 'GET');
    t.is(get?.url, `/v1/payments/${paymentId}`);
    t.is(get?.headers.authorization, SECRET_KEY);

    nexi.payments.set(paymentId, {
      paymentId,
      summary: { reservedAmount: 10_000, chargedAmount: 10_000 },
      orderDetails: { amount: 10_000, currency: 'DKK', reference: 'int_0003' },
      paymentDetails: {
        paymentType: 'CARD',
        paymentMethod: 'Visa',
        cardDetails: { maskedPan: '457100******0001', expiryDate: '1228' },
      },
      charges: [{ chargeId: 'c-1', amount: 10_000 }],
    });
    t.deepEqual(await adapter.getPayment(paymentId), { payment_id: paymentId, state: 'paid', amount_ore: 10_000 });
  },
);

test.serial(
  'a paid checkout that kept the card gives the unscheduled subscription as the agreement, with the card expiry',
  async (t) => {
    const paymentId = 'p-agreement-1';
    nexi.payments.set(paymentId, {
      paymentId,
      summary: { reservedAmount: 20_000, chargedAmount: 20_000 },
      orderDetails: { amount: 20_000, currency: 'DKK', reference: 'int_0004' },
      paymentDetails: { paymentType: 'CARD', paymentMethod: 'Dankort', cardDetails: { expiryDate: '0828' } },
      unscheduledSubscription: { unscheduledSubscriptionId: 'ucof-1' },
    });
    t.deepEqual(await adapter.getPayment(paymentId), {
      payment_id: paymentId,
      state: 'paid',
      amount_ore: 20_000,
      agreement: { id: 'ucof-1', card_expiry: '2028-08', card_last4: '0001' },
    });
    t.is(last()?.url, '/v1/unscheduledsubscriptions/ucof-1');
  },
);

test.serial('a cancelled or terminated payment is cancelled; an unknown one is payment_not_found', async (t) => {
  nexi.payments.set('p-cancel', {
    paymentId: 'p-cancel',
    summary: { cancelledAmount: 5_000 },
    orderDetails: { amount: 5_000 },
  });
  t.is((await adapter.getPayment('p-cancel')).state, 'cancelled');
  nexi.payments.set('p-term', {
    paymentId: 'p-term',
    summary: {},
    orderDetails: { amount: 5_000 },
    terminated: '2026-12-07T10:00:00Z',
  });
  t.is((await adapter.getPayment('p-term')).state, 'cancelled');
  t.is(code(await t.throwsAsync(adapter.getPayment('p-nobody'))), 'payment_not_found');
});

test('a webhook without our Authorization, with another one or a broken body is refused (compared in constant time)', (t) => {
  const raw = JSON.stringify({ id: 'e', event: 'payment.charge.created.v2', data: { paymentId: 'p' } });
  for (const headers of [
    {},
    { authorization: 'kantineWebhook0123456788' },
    { authorization: `${WEBHOOK_AUTH}x` },
    { authorization: '' },
  ]) {
    t.is(code(t.throws(() => adapter.verifyWebhook(headers, raw))), 'payment_webhook_refused');
  }
  t.is(
    code(t.throws(() => adapter.verifyWebhook({ authorization: WEBHOOK_AUTH }, '{not json'))),
    'payment_webhook_refused',
  );
  t.is(
    code(
      t.throws(() => adapter.verifyWebhook({ authorization: WEBHOOK_AUTH }, JSON.stringify({ id: 'e', event: 'x' }))),
    ),
    'payment_webhook_refused',
  );
});

test.serial(
  'an unscheduled subscription charge: the order, charge at once, our webhooks, the Idempotency-Key — and the same key charges once',
  async (t) => {
    const first = await adapter.chargeAgreement({
      agreement_id: 'ucof-1',
      amount_ore: 15_000,
      idempotency_key: 'purchase-4711',
    });
    const req = last();
    t.is(req?.method, 'POST');
    t.is(req?.url, '/v1/unscheduledsubscriptions/ucof-1/charges');
    t.is(req?.headers.authorization, SECRET_KEY);
    t.is(req?.headers['idempotency-key'], 'purchase-4711');
    t.deepEqual(req?.body, { order: topUpOrder(15_000, 'purchase-4711'), charge: true, notifications: { webHooks } });
    t.deepEqual(first, { payment_id: first.payment_id, state: 'paid', amount_ore: 15_000 });
    const again = await adapter.chargeAgreement({
      agreement_id: 'ucof-1',
      amount_ore: 15_000,
      idempotency_key: 'purchase-4711',
    });
    t.is(again.payment_id, first.payment_id);
  },
);

test.serial(
  'a declined charge comes back as its reason; a 5xx as unreachable (retry on the same key); a 409 as not known yet',
  async (t) => {
    nexi.plans.set('charge', { status: 400, body: { errors: { card: ['Card expired'] } } });
    const expired = await t.throwsAsync(
      adapter.chargeAgreement({ agreement_id: 'ucof-1', amount_ore: 100, idempotency_key: 'k-1' }),
    );
    t.is(code(expired), 'payment_card_expired');
    t.true(isDeclined(expired));

    nexi.plans.set('charge', { status: 402, body: { message: 'Insufficient funds' } });
    t.is(
      code(
        await t.throwsAsync(
          adapter.chargeAgreement({ agreement_id: 'ucof-1', amount_ore: 100, idempotency_key: 'k-2' }),
        ),
      ),
      'payment_insufficient_funds',
    );

    nexi.plans.set('charge', { status: 400, body: { message: 'Refused by issuer' } });
    t.is(
      code(
        await t.throwsAsync(
          adapter.chargeAgreement({ agreement_id: 'ucof-1', amount_ore: 100, idempotency_key: 'k-3' }),
        ),
      ),
      'payment_declined',
    );

    nexi.plans.set('charge', { status: 502, body: { message: 'Bad gateway' } });
    const down = await t.throwsAsync(
      adapter.chargeAgreement({ agreement_id: 'ucof-1', amount_ore: 100, idempotency_key: 'k-4' }),
    );
    t.true(isProviderUnreachable(down));
    t.false(isDeclined(down));
    const retried = await adapter.chargeAgreement({ agreement_id: 'ucof-1', amount_ore: 100, idempotency_key: 'k-4' });
    t.is(retried.state, 'paid');

    nexi.plans.set('charge', { status: 409, body: { message: 'in progress' } });
    t.is(
      code(
        await t.throwsAsync(
          adapter.chargeAgreement({ agreement_id: 'ucof-1', amount_ore: 100, idempotency_key: 'k-5' }),
        ),
      ),
      'payment_provider_unreachable',
    );
  },
);

test.serial('a wrong secret key is refused as a request error, never as a decline', async (t) => {
  const wrong = new NexiAdapter({
    api_url: nexi.url,
    secret_key: 'test-secret-key-wrong-000000000000',
    webhook_url: WEBHOOK_URL,
    webhook_authorization: WEBHOOK_AUTH,
    checkout_language: 'en-GB',
    request_timeout_ms: 2_000,
  });
  const err = await t.throwsAsync(
    wrong.chargeAgreement({ agreement_id: 'ucof-1', amount_ore: 100, idempotency_key: 'k-9' }),
  );
  t.is(code(err), 'payment_request_refused');
  t.false(isDeclined(err));
});

test('an unreachable Nexi is payment_provider_unreachable', async (t) => {
  const gone = new NexiAdapter({
    api_url: 'http://127.0.0.1:9',
    secret_key: SECRET_KEY,
    webhook_url: WEBHOOK_URL,
    webhook_authorization: WEBHOOK_AUTH,
    checkout_language: 'da-DK',
    request_timeout_ms: 2_000,
  });
  t.is(code(await t.throwsAsync(gone.getPayment('p'))), 'payment_provider_unreachable');
});

test.serial(
  'revoke terminates the unscheduled subscription; refund refunds the payment’s charge with order items and a key',
  async (t) => {
    await adapter.revokeAgreement('ucof-1');
    t.like(last(), { method: 'PUT', url: '/v1/unscheduledsubscriptions/ucof-1/terminate' });
    t.is(last()?.headers.authorization, SECRET_KEY);

    nexi.payments.set('p-refund', {
      paymentId: 'p-refund',
      summary: { chargedAmount: 10_000 },
      orderDetails: { amount: 10_000 },
      charges: [{ chargeId: 'charge-abc', amount: 10_000 }],
    });
    const r = await adapter.refund('p-refund', 2_500, 'refund-key-1');
    t.deepEqual(r, { refund_id: 'refund-1', amount_ore: 2_500 });
    const req = last();
    t.is(req?.url, '/v1/charges/charge-abc/refunds');
    t.is(req?.headers['idempotency-key'], 'refund-key-1');
    t.deepEqual(req?.body, { amount: 2_500, orderItems: topUpOrder(2_500, 'p-refund').items });
  },
);

test.serial(
  'cancel terminates a checkout not completed; a completed one stays paid (the fetch after says so)',
  async (t) => {
    nexi.payments.set('p-open', {
      paymentId: 'p-open',
      summary: {},
      orderDetails: { amount: 5_000, currency: 'DKK', reference: 'int_0009' },
    });
    t.like(await adapter.cancelPayment('p-open'), { payment_id: 'p-open', state: 'cancelled' });
    t.true(nexi.requests.some((r) => r.method === 'PUT' && r.url === '/v1/payments/p-open/terminate'));
    nexi.payments.set('p-done', {
      paymentId: 'p-done',
      summary: { chargedAmount: 5_000, refundedAmount: 5_000 },
      orderDetails: { amount: 5_000, currency: 'DKK', reference: 'int_0010' },
    });
    t.deepEqual(await adapter.cancelPayment('p-done'), {
      payment_id: 'p-done',
      state: 'paid',
      amount_ore: 5_000,
      refunded_ore: 5_000,
    });
  },
);
