import { check, codes, ID_PATTERN, KantineError } from '@kantine/protocol';
import type { FastifyInstance, FastifyReply } from 'fastify';
import Type from 'typebox';
import type { Gateway } from './gateway.ts';
import { MAX_BASKET_LINES } from './ledger.ts';

const TillParams = Type.Object({ till: Type.String({ pattern: ID_PATTERN }) });

export const BasketRequest = Type.Object(
  {
    lines: Type.Array(
      Type.Object(
        {
          product_id: Type.String({ pattern: ID_PATTERN }),
          quantity: Type.Integer({ minimum: 1, maximum: 99 }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_BASKET_LINES },
    ),
    standing: Type.Optional(Type.Boolean({ description: 'keep the basket after each sale (self-service)' })),
  },
  { additionalProperties: false },
);

const DecisionsQuery = Type.Object({ limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,3}$' })) });

function statusFor(code: string): number {
  switch (code) {
    case 'not_found':
    case 'unknown_till':
      return 404;
    case 'internal_error':
      return 500;
    default:
      return 400;
  }
}

/**
 * The till API: staff put a basket on a till; the next tap on that till's reader pays it.
 * Every body and parameter is checked against its schema; errors are `{code, message, details}`.
 */
export function registerTillApi(app: FastifyInstance, gateway: Gateway): void {
  app.setErrorHandler((err: unknown, _req, reply: FastifyReply) => {
    if (err instanceof KantineError) {
      return reply.status(statusFor(err.code)).send(err.toJSON());
    }
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode && e.statusCode < 500) {
      // fastify's own refusals (bad JSON body, wrong content type, too large)
      return reply.status(e.statusCode).send({ code: 'invalid_request', message: e.message ?? '', details: [] });
    }
    gateway.log.error({ err }, 'till API error');
    return reply.status(500).send({ code: 'internal_error', message: codes.internal_error.en, details: [] });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ code: 'not_found', message: `no route ${req.method} ${req.url}`, details: [] });
  });

  const tillOf = (params: unknown) => {
    const { till } = check(TillParams, params, 'invalid_request');
    if (!gateway.ledger.getTill(till)) throw new KantineError('unknown_till', `no till ${till}`);
    return till;
  };

  app.get('/healthz', async () => ({ ok: true }));

  app.get('/api/site', async () => {
    const { ledger } = gateway;
    const readers = ledger.listReaders();
    return {
      site: gateway.config.site,
      places: ledger.listPlaces(),
      tills: ledger.listTills().map((t) => ({
        ...t,
        readers: readers
          .filter((r) => r.till_id === t.id && !r.revoked_at)
          .map((r) => ({ id: r.id, state: gateway.readers.get(r.id)?.state ?? 'offline' })),
      })),
      products: ledger.listProducts(),
    };
  });

  app.get('/api/tills/:till/basket', async (req, reply) => {
    const basket = gateway.ledger.getBasket(tillOf(req.params));
    if (!basket) return reply.status(204).send();
    return basket;
  });

  app.put('/api/tills/:till/basket', async (req) => {
    const till = tillOf(req.params);
    const body = check(BasketRequest, req.body, 'invalid_request');
    return gateway.ledger.setBasket(till, body.lines, body.standing ?? false);
  });

  app.delete('/api/tills/:till/basket', async (req, reply) => {
    gateway.ledger.clearBasket(tillOf(req.params));
    return reply.status(204).send();
  });

  app.get('/api/decisions', async (req) => {
    const q = check(DecisionsQuery, req.query, 'invalid_request');
    return gateway.ledger.recentDecisions(q.limit ? Number(q.limit) : 20);
  });
}
