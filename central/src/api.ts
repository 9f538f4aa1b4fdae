import { createHash, timingSafeEqual } from 'node:crypto';
import {
  BatchId,
  check,
  codes,
  ID_PATTERN,
  ImportRequest,
  KantineError,
  SpendLimitBody,
  StockRequest,
} from '@kantine/protocol';
import { hashSecret, newSecret } from '@kantine/protocol/credentials';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Type, { type TSchema } from 'typebox';
import type { CentralService } from './service.ts';

const Id = Type.String({ pattern: ID_PATTERN });
const Uid = Type.String({ pattern: '^([0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$' });
const PlaceKind = Type.Union([Type.Literal('school'), Type.Literal('club')]);
const Amount = Type.Integer({ minimum: 1, maximum: 1_000_000_00 });
const RequestId = Type.String({ pattern: '^[0-9a-zA-Z-]{1,64}$', description: 'makes a retried request harmless' });
const Text = (max: number) => Type.String({ maxLength: max });

const SiteBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 80 }),
    place_kinds: Type.Array(PlaceKind, { minItems: 1, maxItems: 2 }),
  },
  { additionalProperties: false },
);
const AccountBody = Type.Object(
  {
    first_name: Type.String({ minLength: 1, maxLength: 80 }),
    last_name: Type.Optional(Text(80)),
    /** Kept at central only: never sent to a site, never returned by this API. */
    cpr: Type.Optional(Type.Union([Type.String({ pattern: '^[0-9]{6}-?[0-9]{4}$' }), Type.Null()])),
    place_kinds: Type.Optional(Type.Array(PlaceKind, { maxItems: 2 })),
    denied_categories: Type.Optional(Type.Array(Type.String({ pattern: ID_PATTERN }), { maxItems: 50 })),
    allergies: Type.Optional(Type.Array(Type.String({ pattern: ID_PATTERN }), { maxItems: 50 })),
    photo: Type.Optional(
      Type.Union([
        Type.String({ pattern: '^data:image/(png|jpeg|webp|svg\\+xml);base64,', maxLength: 500_000 }),
        Type.Null(),
      ]),
    ),
    auto_topup_ore: Type.Optional(Type.Union([Amount, Type.Null()])),
    sites: Type.Array(Id, { maxItems: 20 }),
    limits: Type.Optional(Type.Array(SpendLimitBody, { maxItems: 6 })),
  },
  { additionalProperties: false },
);
const DepositBody = Type.Object({ id: Type.Optional(RequestId), amount_ore: Amount }, { additionalProperties: false });
const WithdrawBody = Type.Object(
  {
    id: Type.Optional(RequestId),
    amount_ore: Amount,
    kind: Type.Optional(Type.Union([Type.Literal('withdrawal'), Type.Literal('fee')])),
    reason: Type.Optional(Text(200)),
  },
  { additionalProperties: false },
);
const BatchBody = Type.Object(
  { sdm_master: Type.String({ pattern: '^[0-9a-fA-F]{32}$', description: 'the batch SDM master key, hex' }) },
  { additionalProperties: false },
);
const CardBody = Type.Object(
  {
    kind: Type.Union([Type.Literal('legacy'), Type.Literal('ntag424')]),
    batch_id: Type.Optional(Type.Union([BatchId, Type.Null()])),
    card_number: Type.Optional(Type.Union([Text(40), Type.Null()])),
  },
  { additionalProperties: false },
);
const GuardianBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 120 }),
    /** Kept at central only, like a child's. */
    cpr: Type.Optional(Type.Union([Type.String({ pattern: '^[0-9]{6}-?[0-9]{4}$' }), Type.Null()])),
    email: Type.Optional(Type.Union([Type.String({ format: 'email', maxLength: 200 }), Type.Null()])),
  },
  { additionalProperties: false },
);
const RoleBody = Type.Object(
  { role: Type.Union([Type.Literal('guardian'), Type.Literal('relation'), Type.Null()]) },
  { additionalProperties: false },
);
const ActivateBody = Type.Object({ account_id: Id }, { additionalProperties: false });

function statusFor(code: string): number {
  switch (code) {
    case 'not_found':
      return 404;
    case 'bad_credentials':
      return 401;
    case 'account_blocked':
    case 'insufficient_balance':
      return 409;
    case 'funds_held_offline':
      return 503; // try again in a moment (Retry-After)
    case 'internal_error':
      return 500;
    default:
      return 400;
  }
}

/** A path parameter, checked against its schema (`name` in the details of a refusal). */
function param(schema: TSchema, req: FastifyRequest, name: string): string {
  const value = (req.params as Record<string, unknown>)[name];
  const checked = check(Type.Object({ [name]: schema }), { [name]: value }, 'invalid_request') as Record<
    string,
    string
  >;
  return checked[name] as string;
}

/**
 * Central's HTTP API: what IT, the school office and (later) the guardians' portal do. Every
 * body and parameter is checked against a schema; every refusal is a coded error
 * `{code, message, details}`. Amounts are whole øre. CPR numbers go in, never out.
 */
export function registerApi(app: FastifyInstance, service: CentralService): void {
  const token = service.config.http.token;
  const tokenDigest = token ? createHash('sha256').update(token).digest() : undefined;
  app.addHook('onRequest', async (req) => {
    if (!tokenDigest || !req.url.startsWith('/api/')) return;
    const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    if (!timingSafeEqual(createHash('sha256').update(given).digest(), tokenDigest)) {
      throw new KantineError('bad_credentials', 'a valid bearer token is required');
    }
  });
  app.setErrorHandler((err: unknown, _req, reply: FastifyReply) => {
    if (err instanceof KantineError) {
      if (err.code === 'funds_held_offline') reply.header('retry-after', '2');
      return reply.status(statusFor(err.code)).send(err.toJSON());
    }
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode && e.statusCode < 500) {
      return reply.status(e.statusCode).send({ code: 'invalid_request', message: e.message ?? '', details: [] });
    }
    service.log.error({ err }, 'central API error');
    return reply.status(500).send({ code: 'internal_error', message: codes.internal_error.en, details: [] });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ code: 'not_found', message: `no route ${req.method} ${req.url}`, details: [] });
  });
  const c = () => service.central;

  app.get('/healthz', async () => ({ ok: true, link_messages: service.linkMessages }));

  // Sites: IT registers a school or club, then gives its gateway the secret (shown once).
  app.get('/api/sites', async () => ({ sites: await c().sites() }));
  app.put('/api/sites/:site', async (req, reply) => {
    const id = param(Id, req, 'site');
    const body = check(SiteBody, req.body, 'invalid_request');
    await c().putSite({ id, ...body });
    return reply.status(204).send();
  });
  app.post('/api/sites/:site/secret', async (req) => {
    const id = param(Id, req, 'site');
    const secret = newSecret();
    await c().setSiteSecret(id, await hashSecret(secret));
    return { site: id, secret };
  });

  // Accounts: the child, where the card works, and the guardians' choices.
  app.put('/api/accounts/:account', async (req, reply) => {
    const id = param(Id, req, 'account');
    const body = check(AccountBody, req.body, 'invalid_request');
    await c().putAccount({ id, ...body });
    return reply.status(204).send();
  });
  app.get('/api/accounts/:account', async (req) => {
    const id = param(Id, req, 'account');
    const account = await c().account(id);
    if (!account) throw new KantineError('not_found', `no account ${id}`);
    return account;
  });
  app.get('/api/accounts/:account/entries', async (req) => {
    const id = param(Id, req, 'account');
    if (!(await c().account(id))) throw new KantineError('not_found', `no account ${id}`);
    return { entries: await c().entries(id) };
  });
  app.post('/api/accounts/:account/deposits', async (req, reply) => {
    const account_id = param(Id, req, 'account');
    const body = check(DepositBody, req.body, 'invalid_request');
    const id = await c().deposit({ ...body, account_id });
    return reply.status(201).send({ entry_id: id });
  });
  app.post('/api/accounts/:account/withdrawals', async (req, reply) => {
    const account_id = param(Id, req, 'account');
    const body = check(WithdrawBody, req.body, 'invalid_request');
    const id = await c().withdraw({ ...body, account_id });
    return reply.status(201).send({ entry_id: id });
  });

  // Guardians and relations: the adults who may act for a child (the portal logs them in).
  app.put('/api/guardians/:guardian', async (req, reply) => {
    const id = param(Id, req, 'guardian');
    const body = check(GuardianBody, req.body, 'invalid_request');
    await c().putGuardian({ id, ...body });
    return reply.status(204).send();
  });
  app.get('/api/guardians/:guardian', async (req) => {
    const id = param(Id, req, 'guardian');
    const guardian = await c().guardian(id);
    if (!guardian) throw new KantineError('not_found', `no guardian ${id}`);
    return guardian;
  });
  app.put('/api/accounts/:account/guardians/:guardian', async (req, reply) => {
    const account = param(Id, req, 'account');
    const guardian = param(Id, req, 'guardian');
    const body = check(RoleBody, req.body, 'invalid_request');
    await c().setGuardianRole(account, guardian, body.role);
    return reply.status(204).send();
  });

  // Cards: batches from provisioning, blank cards in stock, activation, block and re-open.
  app.put('/api/batches/:batch', async (req, reply) => {
    const id = param(BatchId, req, 'batch');
    const body = check(BatchBody, req.body, 'invalid_request');
    await c().registerBatch(id, Buffer.from(body.sdm_master, 'hex'));
    return reply.status(204).send();
  });
  app.post('/api/batches/:batch/stock', async (req) => {
    const id = param(BatchId, req, 'batch');
    const body = check(StockRequest, req.body, 'invalid_request');
    return c().addStock(id, body);
  });
  app.get('/api/sites/:site/stock', async (req) => ({ stock: await c().stock(param(Id, req, 'site')) }));
  // The old system's accounts, balances, agreements, limits and cards (provisioning's `kantine import`).
  app.post('/api/sites/:site/import', { bodyLimit: 20 * 1024 * 1024 }, async (req) => {
    const site = param(Id, req, 'site');
    const body = check(ImportRequest, req.body, 'invalid_request');
    return c().importAccounts(site, body);
  });
  app.put('/api/cards/:uid', async (req, reply) => {
    const uid = param(Uid, req, 'uid');
    const body = check(CardBody, req.body, 'invalid_request');
    await c().putCard({ uid, ...body });
    return reply.status(204).send();
  });
  app.post('/api/cards/:uid/activate', async (req, reply) => {
    const uid = param(Uid, req, 'uid');
    const body = check(ActivateBody, req.body, 'invalid_request');
    await c().activateCard(uid, body.account_id);
    return reply.status(204).send();
  });
  app.post('/api/cards/:uid/block', async (req, reply) => {
    await c().setCardBlocked(param(Uid, req, 'uid'), true);
    return reply.status(204).send();
  });
  app.post('/api/cards/:uid/unblock', async (req, reply) => {
    await c().setCardBlocked(param(Uid, req, 'uid'), false);
    return reply.status(204).send();
  });
}
