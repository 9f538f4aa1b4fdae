import { check, codes, ID_PATTERN, KantineError } from '@kantine/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { Gateway } from './gateway.ts';
import { MAX_BASKET_LINES } from './ledger.ts';
import { localDate } from './spend-limits.ts';
import type { StaffSession } from './staff-sessions.ts';

export const SESSION_COOKIE = 'kantine_till';

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

const LoginRequest = Type.Object(
  {
    till_id: Type.String({ pattern: ID_PATTERN }),
    staff_id: Type.String({ pattern: ID_PATTERN }),
    pin: Type.String({ pattern: '^[0-9]{4,8}$' }),
  },
  { additionalProperties: false },
);
const ConfirmAllergens = Type.Object(
  { basket_id: Type.String({ minLength: 1, maxLength: 64 }), account_id: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);
const VoidRequest = Type.Object(
  {
    entry_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'default: the last sale' })),
    reason: Type.String({ minLength: 3, maxLength: 200 }),
  },
  { additionalProperties: false },
);
const ReportQuery = Type.Object(
  { date: Type.Optional(Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' })) },
  { additionalProperties: false },
);
const PreorderParams = Type.Object({
  till: Type.String({ pattern: ID_PATTERN }),
  id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
});
const DecisionsQuery = Type.Object({ limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,3}$' })) });

function statusFor(code: string): number {
  switch (code) {
    case 'not_found':
    case 'unknown_till':
    case 'sale_not_found':
    case 'preorder_not_found':
      return 404;
    case 'not_logged_in':
    case 'wrong_pin':
      return 401;
    case 'pin_locked':
      return 429;
    case 'enrolment_refused':
      return 403;
    case 'sale_already_voided':
    case 'void_too_late':
    case 'preorder_handed_out':
      return 409;
    case 'internal_error':
      return 500;
    default:
      return 400;
  }
}

/**
 * The till API behind the kiosk. Staff log in to one till with their PIN (a session cookie);
 * everything under `/api/tills/:till/` needs a session for that till. Every body, parameter and
 * query is checked against its schema; errors are `{code, message, details}`.
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

  /** The till in the path, known, and this request's staff session for it. */
  const tillSession = (req: FastifyRequest): { till: string; session: StaffSession } => {
    const { till } = check(TillParams, { till: (req.params as { till?: unknown }).till }, 'invalid_request');
    if (!gateway.ledger.getTill(till)) throw new KantineError('unknown_till', `no till ${till}`);
    return { till, session: gateway.staff.require(req.cookies[SESSION_COOKIE], till) };
  };

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

  // ── Logging in ─────────────────────────────────────────────────────────────────────────────

  /** What the login screen offers: the tills and the names of staff (never their PINs). */
  app.get('/api/kiosk/login-options', async () => {
    const { ledger } = gateway;
    const places = new Map(ledger.listPlaces().map((p) => [p.id, p]));
    return {
      site: gateway.config.site,
      tills: ledger.listTills().map((t) => ({ ...t, place_name: places.get(t.place_id)?.name ?? '' })),
      staff: ledger.listStaff(),
    };
  });

  /** The decline and error texts (Danish, English, what staff can do): one catalogue for all. */
  app.get('/api/kiosk/codes', async (_req, reply) => {
    reply.header('cache-control', 'max-age=300');
    return codes;
  });

  app.post('/api/kiosk/login', async (req, reply) => {
    const body = check(LoginRequest, req.body, 'invalid_request');
    const session = await gateway.staff.login(body.till_id, body.staff_id, body.pin);
    gateway.log.info({ till_id: session.till_id, staff_id: session.staff_id }, 'staff logged in');
    reply.setCookie(SESSION_COOKIE, session.token, {
      path: '/',
      httpOnly: true,
      sameSite: 'strict',
      expires: new Date(session.expires_at),
    });
    return { till_id: session.till_id, staff_id: session.staff_id, staff_name: session.staff_name };
  });

  app.post('/api/kiosk/logout', async (req, reply) => {
    gateway.staff.logout(req.cookies[SESSION_COOKIE]);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.status(204).send();
  });

  // ── One till (a session for it needed) ─────────────────────────────────────────────────────

  app.get('/api/tills/:till/session', async (req) => {
    const { session } = tillSession(req);
    return { till_id: session.till_id, staff_id: session.staff_id, staff_name: session.staff_name };
  });

  app.get('/api/tills/:till/catalogue', async (req) => {
    const { till } = tillSession(req);
    const t = gateway.ledger.getTill(till);
    const place = t ? gateway.ledger.getPlace(t.place_id) : undefined;
    return { till: t, place, products: gateway.ledger.listProducts(place?.id) };
  });

  app.get('/api/tills/:till/basket', async (req, reply) => {
    const basket = gateway.ledger.getBasket(tillSession(req).till);
    if (!basket) return reply.status(204).send();
    return basket;
  });

  app.put('/api/tills/:till/basket', async (req) => {
    const { till } = tillSession(req);
    const body = check(BasketRequest, req.body, 'invalid_request');
    return gateway.ledger.setBasket(till, body.lines, body.standing ?? false);
  });

  app.delete('/api/tills/:till/basket', async (req, reply) => {
    gateway.ledger.clearBasket(tillSession(req).till);
    return reply.status(204).send();
  });

  app.post('/api/tills/:till/basket/confirm-allergens', async (req, reply) => {
    const { till, session } = tillSession(req);
    const body = check(ConfirmAllergens, req.body, 'invalid_request');
    if (!gateway.ledger.confirmAllergens(till, body.basket_id, body.account_id)) {
      throw new KantineError('not_found', 'the basket has changed; check it again');
    }
    gateway.log.info({ till_id: till, staff_id: session.staff_id, account_id: body.account_id }, 'allergen confirmed');
    return reply.status(204).send();
  });

  app.get('/api/tills/:till/last-sale', async (req, reply) => {
    const sale = gateway.ledger.lastSale(tillSession(req).till);
    if (!sale) return reply.status(204).send();
    return sale;
  });

  app.post('/api/tills/:till/void', async (req) => {
    const { till, session } = tillSession(req);
    const body = check(VoidRequest, req.body, 'invalid_request');
    const entryId = body.entry_id ?? gateway.ledger.lastSale(till)?.entry_id;
    if (!entryId) throw new KantineError('sale_not_found', 'no sale today at this till');
    const voided = gateway.ledger.voidSale({
      till_id: till,
      entry_id: entryId,
      reason: body.reason,
      staff_id: session.staff_id,
    });
    gateway.log.info(
      { till_id: till, staff_id: session.staff_id, sale_entry_id: entryId, void_entry_id: voided.entry_id },
      'sale voided',
    );
    return voided;
  });

  app.get('/api/tills/:till/report', async (req) => {
    const { till } = tillSession(req);
    const q = check(ReportQuery, req.query, 'invalid_request');
    return gateway.ledger.tillReport(till, q.date ?? localDate(gateway.clock.now()));
  });

  app.post('/api/tills/:till/preorders/:id/hand-out', async (req) => {
    const { till, session } = tillSession(req);
    const { id } = check(PreorderParams, req.params, 'invalid_request');
    return gateway.ledger.handOutPreorder(id, till, session.staff_id);
  });

  /** The till's latest decisions, newest first: names and balances, so behind the staff login. */
  app.get('/api/tills/:till/decisions', async (req) => {
    const { till } = tillSession(req);
    const q = check(DecisionsQuery, req.query, 'invalid_request');
    return gateway.ledger.recentDecisions(till, q.limit ? Number(q.limit) : 20);
  });
}
