/**
 * A payment provider that answers another currency than we asked: central asks Nexi for DKK, and
 * a payment that Nexi says is 100.00 in EUR (or any currency but DKK) is not 100 kr. The adapter
 * refuses such an answer (`payment_request_refused`) rather than hand central an amount in øre
 * that is not øre. Against a local server that answers as Nexi's payment API v1 does.
 */
import { NexiAdapter } from '@kantine/payments';
import { KantineError } from '@kantine/protocol';
import test from 'ava';
import Fastify from 'fastify';

const SECRET_KEY = 'test-secret-key-0f1e2d3c4b5a69788796a5b4c3d2e1f0';

test('a payment Nexi reports in another currency than DKK is refused, not read as øre', async (t) => {
  const payments = new Map<string, Record<string, unknown>>();
  const app = Fastify();
  app.addHook('onRequest', async (req, reply) => {
    if (req.headers.authorization !== SECRET_KEY) return reply.status(401).send({ message: 'Unauthorized' });
  });
  app.get<{ Params: { id: string } }>('/v1/payments/:id', async (req, reply) => {
    const p = payments.get(req.params.id);
    return p ? { payment: p } : reply.status(404).send();
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const { port } = app.server.address() as { port: number };
  const adapter = new NexiAdapter({
    api_url: `http://127.0.0.1:${port}`,
    secret_key: SECRET_KEY,
    webhook_url: 'https://kantine.example.dk/payments/webhook',
    webhook_authorization: 'kantineWebhook0123456789',
    checkout_language: 'da-DK',
    request_timeout_ms: 2_000,
  });
  const paid = (currency: string) => ({
    summary: { reservedAmount: 10_000, chargedAmount: 10_000 },
    orderDetails: { amount: 10_000, currency, reference: 'int_0001' },
    charges: [{ chargeId: 'c-1', amount: 10_000 }],
  });

  payments.set('p-dkk', { paymentId: 'p-dkk', ...paid('DKK') });
  t.like(await adapter.getPayment('p-dkk'), { state: 'paid', amount_ore: 10_000 });
  for (const currency of ['EUR', 'SEK', 'dkk ', '']) {
    payments.set(`p-${currency}`, { paymentId: `p-${currency}`, ...paid(currency) });
    const err = await t.throwsAsync(adapter.getPayment(`p-${currency}`));
    t.true(err instanceof KantineError && err.code === 'payment_request_refused', `${currency}: ${String(err)}`);
  }
});
