/**
 * The fake payment provider: a hosted payment page, an API like a real provider's (payments,
 * card-on-file agreements, merchant-initiated charges with Idempotency-Key, refunds), webhooks
 * signed with HMAC-SHA256 over the raw body — and faults on demand through /admin, so central's
 * handling of duplicate, late, reordered and lost webhooks, timeouts and 5xx can be shown and tested.
 * Everything is in memory; it listens on loopback only.
 */
import { createHash, randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { KantineError } from '@kantine/protocol';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { type DeclineReason, declineReasons, type PaymentState } from '../adapter.ts';
import { isExpired, outcomeOf, parseExpiry } from './cards.ts';
import { challengePage, checkoutPage, resultPage } from './pages.ts';
import { SIGNATURE_HEADER, safeEqual, sign } from './signature.ts';

export interface FakePspOptions {
  /** A loopback address (127.0.0.0/8, ::1, localhost). Default 127.0.0.1. */
  host?: string;
  /** 0 (default): a free port. */
  port?: number;
  /** Callers of /v1 and /admin send `Authorization: Bearer <api_key>`. 16 characters or more. */
  api_key: string;
  /** The HMAC-SHA256 key of the webhooks. 16 characters or more. */
  webhook_secret: string;
  /** Where webhooks go (central's webhook route). Can be set later through /admin/config. */
  webhook_url?: string;
  /** The clock (card expiry). */
  now?: () => Date;
}

export interface FakePsp {
  /** e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

type WebhookFaultMode = 'duplicate' | 'late' | 'reorder' | 'lose';
/** `drop_answer`: the request is acted on, then the connection dropped before the answer (an unknown outcome). */
type ApiFaultMode = 'timeout' | '5xx' | 'drop_answer';

interface Payment {
  id: string;
  intent_id: string;
  amount_ore: number;
  state: PaymentState;
  return_url: string;
  cancel_url: string;
  terms_url: string;
  save_card: boolean;
  agreement_id?: string;
  failure?: DeclineReason;
  refunded_ore: number;
  /** The expiry typed before a 3-D Secure challenge, until the buyer answers it. */
  challenge_expiry?: string;
  save_card_consent?: boolean;
  /** The card number's last 4 digits, typed before a 3-D Secure challenge. */
  challenge_last4?: string;
  /** Set through /admin: the amount the page takes instead of the one asked (a provider's mistake). */
  take_ore?: number;
}

interface Agreement {
  id: string;
  card_expiry: string;
  card_last4: string;
  revoked: boolean;
  /** Set through /admin: the next charges fail with this reason. */
  fail_with?: DeclineReason;
  /** Set through /admin: the next charges take this amount instead of the one asked. */
  charge_ore?: number;
}

interface WebhookEvent {
  id: string;
  type: string;
  payment_id: string;
  intent_id: string;
  sequence: number;
  created_at: string;
}

interface EventRecord {
  event_id: string;
  sequence: number;
  type: string;
  payment_id: string;
  /** How the fault plan treated it. */
  fault: WebhookFaultMode | 'none';
  /** held: waiting (late/reorder); lost: never sent; sent: answered 2xx (`deliveries` times). */
  state: 'held' | 'lost' | 'sending' | 'sent' | 'failed' | 'no_url';
  deliveries: number;
}

// Bounds (TigerBeetle style): every list and wait has a limit, and the reason is the same — a
// test double must never grow without end or hang a test run.
const MAX_PAYMENTS = 10_000; // far more than any demo or test makes
const MAX_EVENTS = 10_000;
const MAX_IDEMPOTENCY_KEYS = 10_000;
const MAX_FAULT_COUNT = 100;
const MAX_DELAY_MS = 600_000; // a late webhook is at most 10 minutes late
const WEBHOOK_ATTEMPTS = 5; // then the event is `failed`, as a real provider gives up in the end
const WEBHOOK_TIMEOUT_MS = 5_000;
const WEBHOOK_BACKOFF_MS = 200;

const isLoopback = (host: string) =>
  host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly payment_id?: string,
  ) {
    super(message);
  }
}

const str = (v: unknown, name: string, max = 2000): string => {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) {
    throw new HttpError(400, 'invalid_request', `${name} must be a string of 1 to ${max} characters`);
  }
  return v;
};
const url = (v: unknown, name: string): string => {
  const s = str(v, name);
  if (!/^https?:\/\//.test(s) || !URL.canParse(s))
    throw new HttpError(400, 'invalid_request', `${name} must be an http(s) URL`);
  return s;
};
const amount = (v: unknown, allowZero: boolean): number => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < (allowZero ? 0 : 1) || v > 100_000_000) {
    throw new HttpError(400, 'invalid_request', 'amount_ore must be a whole number of øre');
  }
  return v;
};
const count = (v: unknown): number => {
  if (v === undefined) return 1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_FAULT_COUNT) {
    throw new HttpError(400, 'invalid_request', `count must be 1 to ${MAX_FAULT_COUNT}`);
  }
  return v;
};
const delay = (v: unknown, fallback: number): number => {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_DELAY_MS) {
    throw new HttpError(400, 'invalid_request', `delay must be 0 to ${MAX_DELAY_MS} ms`);
  }
  return v;
};

export async function startFakePsp(opts: FakePspOptions): Promise<FakePsp> {
  const host = opts.host ?? '127.0.0.1';
  if (!isLoopback(host)) {
    throw new KantineError('config_invalid', `the fake payment provider listens on loopback only, not ${host}`);
  }
  if (opts.api_key.length < 16 || opts.webhook_secret.length < 16) {
    throw new KantineError('config_invalid', 'api_key and webhook_secret must be 16 characters or more');
  }
  const now = opts.now ?? (() => new Date());
  let webhookUrl = opts.webhook_url;

  const payments = new Map<string, Payment>();
  const agreements = new Map<string, Agreement>();
  const idempotency = new Map<string, { fingerprint: string; status: number; body: unknown }>();
  const events: EventRecord[] = [];
  const held: { event: WebhookEvent; record: EventRecord; timer?: NodeJS.Timeout }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let sequence = 0;
  let stopping = false;
  /** `match`: only API requests whose `METHOD /path` contains it suffer the fault (e.g. `/cancel`). */
  let apiFault: { mode: ApiFaultMode; remaining: number; hang_ms: number; match?: string } | undefined;
  let webhookFault: { mode: WebhookFaultMode; remaining: number; delay_ms: number } | undefined;

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
    return t;
  };

  // ── Webhooks ─────────────────────────────────────────────────────────────────────────────
  async function deliver(event: WebhookEvent, record: EventRecord): Promise<void> {
    if (!webhookUrl) {
      record.state = 'no_url';
      return;
    }
    record.state = 'sending';
    const raw = JSON.stringify(event);
    for (let attempt = 0; attempt < WEBHOOK_ATTEMPTS && !stopping; attempt++) {
      try {
        const res = await fetch(webhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: sign(opts.webhook_secret, raw) },
          body: raw,
          signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          record.deliveries++;
          record.state = 'sent';
          return;
        }
      } catch {
        // Unreachable receiver: try again after a pause, as a real provider does.
      }
      await new Promise<void>((resolve) => later(WEBHOOK_BACKOFF_MS * 2 ** attempt, resolve));
    }
    record.state = 'failed';
  }

  function releaseHeld(): void {
    // Released newest first: for `reorder` that is the point; for `late` the order does not matter.
    const batch = held.splice(0).reverse();
    void (async () => {
      for (const h of batch) {
        if (h.timer) {
          clearTimeout(h.timer);
          timers.delete(h.timer);
        }
        await deliver(h.event, h.record);
      }
    })();
  }

  function emit(p: Payment, type: string): void {
    const event: WebhookEvent = {
      id: randomUUID(),
      type,
      payment_id: p.id,
      intent_id: p.intent_id,
      sequence: ++sequence,
      created_at: now().toISOString(),
    };
    const record: EventRecord = {
      event_id: event.id,
      sequence: event.sequence,
      type,
      payment_id: p.id,
      fault: 'none',
      state: 'sending',
      deliveries: 0,
    };
    if (events.length >= MAX_EVENTS) events.shift();
    events.push(record);
    const fault = webhookFault;
    if (fault) {
      fault.remaining--;
      if (fault.remaining <= 0) webhookFault = undefined;
      record.fault = fault.mode;
      switch (fault.mode) {
        case 'lose':
          record.state = 'lost';
          return;
        case 'duplicate':
          void deliver(event, record).then(() => deliver(event, record));
          return;
        case 'late': {
          record.state = 'held';
          const entry: (typeof held)[number] = { event, record };
          entry.timer = later(fault.delay_ms, () => {
            const i = held.indexOf(entry);
            if (i >= 0) held.splice(i, 1);
            void deliver(event, record);
          });
          held.push(entry);
          return;
        }
        case 'reorder':
          record.state = 'held';
          held.push({ event, record });
          // The last event of the plan releases the lot, newest first.
          if (webhookFault === undefined) releaseHeld();
          return;
      }
    }
    void deliver(event, record);
  }

  // ── State changes ────────────────────────────────────────────────────────────────────────
  function markPaid(p: Payment, card_expiry: string, card_last4: string, consent: boolean): void {
    p.state = 'paid';
    if (p.take_ore !== undefined) p.amount_ore = p.take_ore;
    if (p.save_card && consent) {
      const agreement: Agreement = { id: `agr_${randomUUID()}`, card_expiry, card_last4, revoked: false };
      agreements.set(agreement.id, agreement);
      p.agreement_id = agreement.id;
    }
    emit(p, 'payment.paid');
  }

  function markFailed(p: Payment, reason: DeclineReason): void {
    p.state = 'failed';
    p.failure = reason;
    emit(p, 'payment.failed');
  }

  function newPayment(fields: Omit<Payment, 'id' | 'refunded_ore' | 'state'>): Payment {
    if (payments.size >= MAX_PAYMENTS) throw new HttpError(503, 'internal_error', 'the fake provider is full');
    const p: Payment = { ...fields, id: `pay_${randomUUID()}`, state: 'pending', refunded_ore: 0 };
    payments.set(p.id, p);
    return p;
  }

  const statusOf = (p: Payment) => {
    const agreement = p.agreement_id ? agreements.get(p.agreement_id) : undefined;
    return {
      payment_id: p.id,
      intent_id: p.intent_id,
      state: p.state,
      amount_ore: p.amount_ore,
      refunded_ore: p.refunded_ore,
      ...(agreement
        ? { agreement: { id: agreement.id, card_expiry: agreement.card_expiry, card_last4: agreement.card_last4 } }
        : {}),
      ...(p.failure ? { failure: p.failure } : {}),
    };
  };

  // ── HTTP ─────────────────────────────────────────────────────────────────────────────────
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, forceCloseConnections: true });
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 16 * 1024 },
    (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );

  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    const status = err instanceof HttpError ? err.status : (err.statusCode ?? 500);
    const code = err instanceof HttpError ? err.code : status < 500 ? 'invalid_request' : 'internal_error';
    const body: Record<string, unknown> = { error: { code, message: err.message } };
    if (err instanceof HttpError && err.payment_id) body.payment_id = err.payment_id;
    void reply.status(status).type('application/json').send(body);
    void req;
  });

  const authorized = (req: FastifyRequest) => {
    const header = req.headers.authorization ?? '';
    return safeEqual(header, `Bearer ${opts.api_key}`);
  };

  // How many API requests each payment has had (GET /admin/calls): a test sees which calls central made.
  const calls = new Map<string, number>();
  // The API (and /admin) wants the key; the API also suffers the planned faults.
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?')[0] ?? '';
    const isApi = path.startsWith('/v1/');
    if (isApi && calls.size < MAX_PAYMENTS) {
      const key = `${req.method} ${path}`;
      calls.set(key, (calls.get(key) ?? 0) + 1);
    }
    if (!isApi && !path.startsWith('/admin/')) return;
    if (!authorized(req)) throw new HttpError(401, 'unauthorized', 'Authorization: Bearer <api key> is needed');
    if (!isApi || !apiFault) return;
    if (apiFault.match !== undefined && !`${req.method} ${path}`.includes(apiFault.match)) return;
    const fault = apiFault;
    fault.remaining--;
    if (fault.remaining <= 0) apiFault = undefined;
    if (fault.mode === '5xx') throw new HttpError(503, 'internal_error', 'planned fault: 503');
    if (fault.mode === 'drop_answer') {
      answersToDrop.add(req.id);
      return;
    }
    // timeout: say nothing, then drop the connection (the request was not acted on).
    reply.hijack();
    later(fault.hang_ms, () => req.raw.socket.destroy());
  });

  // The answer of a `drop_answer` request is never sent: the connection closes as it would leave.
  const answersToDrop = new Set<string>();
  app.addHook('onSend', async (req, _reply, payload) => {
    if (answersToDrop.delete(req.id)) req.raw.socket.destroy();
    return payload;
  });

  /** Replays the answer to a request with the same Idempotency-Key; refuses the key with another body. */
  async function idempotent(
    req: FastifyRequest,
    reply: FastifyReply,
    required: boolean,
    act: () => { status: number; body: unknown },
  ) {
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || key.length === 0) {
      if (required) throw new HttpError(400, 'invalid_request', 'Idempotency-Key is required');
      const r = act();
      return reply.status(r.status).send(r.body);
    }
    if (key.length > 255) throw new HttpError(400, 'invalid_request', 'Idempotency-Key is at most 255 characters');
    const fingerprint = createHash('sha256')
      .update(`${req.method} ${req.url} ${JSON.stringify(req.body ?? null)}`)
      .digest('hex');
    const scoped = `${req.url}#${key}`;
    const seen = idempotency.get(scoped);
    if (seen) {
      if (seen.fingerprint !== fingerprint) {
        throw new HttpError(422, 'idempotency_conflict', 'this Idempotency-Key was used with another request');
      }
      return reply.status(seen.status).header('idempotent-replayed', 'true').send(seen.body);
    }
    let r: { status: number; body: unknown };
    try {
      r = act();
    } catch (err) {
      // A decline is an answer too: the same key must not charge on a second try.
      if (!(err instanceof HttpError) || err.status !== 402) throw err;
      r = {
        status: 402,
        body: {
          error: { code: err.code, message: err.message },
          ...(err.payment_id ? { payment_id: err.payment_id } : {}),
        },
      };
    }
    if (idempotency.size >= MAX_IDEMPOTENCY_KEYS) {
      const oldest = idempotency.keys().next().value;
      if (oldest !== undefined) idempotency.delete(oldest);
    }
    idempotency.set(scoped, { fingerprint, ...r });
    return reply.status(r.status).send(r.body);
  }

  const body = (req: FastifyRequest) =>
    req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>) : {};
  const paymentOr404 = (id: string) => {
    const p = payments.get(id);
    if (!p) throw new HttpError(404, 'payment_not_found', 'no such payment');
    return p;
  };

  app.post('/v1/payments', (req, reply) =>
    idempotent(req, reply, false, () => {
      const b = body(req);
      const save_card = b.save_card_for_agreement === true;
      const p = newPayment({
        intent_id: str(b.intent_id, 'intent_id', 200),
        amount_ore: amount(b.amount_ore, save_card),
        return_url: url(b.return_url, 'return_url'),
        cancel_url: url(b.cancel_url, 'cancel_url'),
        terms_url: url(b.terms_url, 'terms_url'),
        save_card,
      });
      return { status: 201, body: { payment_id: p.id, checkout_url: `${base()}/pay/${p.id}` } };
    }),
  );

  app.get<{ Params: { id: string } }>('/v1/payments/:id', async (req) => statusOf(paymentOr404(req.params.id)));

  app.post<{ Params: { id: string } }>('/v1/payments/:id/refunds', (req, reply) =>
    idempotent(req, reply, false, () => {
      const p = paymentOr404(req.params.id);
      const amount_ore = amount(body(req).amount_ore, false);
      if (p.state !== 'paid') throw new HttpError(400, 'invalid_request', 'only a paid payment can be refunded');
      if (amount_ore > p.amount_ore - p.refunded_ore) {
        throw new HttpError(400, 'invalid_request', 'the refund is larger than what is left of the payment');
      }
      p.refunded_ore += amount_ore;
      emit(p, 'payment.refunded');
      return { status: 201, body: { refund_id: `ref_${randomUUID()}`, amount_ore } };
    }),
  );

  // Voids a checkout that was never finished: its page can no longer be paid. Answers the payment as it is now.
  app.post<{ Params: { id: string } }>('/v1/payments/:id/cancel', async (req) => {
    const p = paymentOr404(req.params.id);
    if (p.state === 'pending') {
      p.state = 'cancelled';
      emit(p, 'payment.cancelled');
    }
    return statusOf(p);
  });

  app.post<{ Params: { id: string } }>('/v1/agreements/:id/charges', (req, reply) =>
    idempotent(req, reply, true, () => {
      const agreement = agreements.get(req.params.id);
      if (!agreement) throw new HttpError(404, 'agreement_not_found', 'no such agreement');
      const amount_ore = amount(body(req).amount_ore, false);
      const p = newPayment({
        intent_id: `charge:${String(req.headers['idempotency-key'])}`,
        amount_ore,
        return_url: 'http://127.0.0.1/',
        cancel_url: 'http://127.0.0.1/',
        terms_url: 'http://127.0.0.1/',
        save_card: false,
      });
      p.agreement_id = agreement.id;
      const reason: DeclineReason | undefined = agreement.revoked
        ? 'payment_card_blocked'
        : (agreement.fail_with ?? (isExpired(agreement.card_expiry, now()) ? 'payment_card_expired' : undefined));
      if (reason) {
        markFailed(p, reason);
        throw new HttpError(402, reason, 'the charge was declined', p.id);
      }
      p.state = 'paid';
      if (agreement.charge_ore !== undefined) p.amount_ore = agreement.charge_ore;
      emit(p, 'payment.paid');
      return { status: 201, body: { payment_id: p.id, state: 'paid', amount_ore: p.amount_ore } };
    }),
  );

  app.post<{ Params: { id: string } }>('/v1/agreements/:id/revoke', async (req, reply) => {
    const agreement = agreements.get(req.params.id);
    if (!agreement) throw new HttpError(404, 'agreement_not_found', 'no such agreement');
    agreement.revoked = true;
    return reply.status(204).send();
  });

  // ── The hosted payment page ───────────────────────────────────────────────────────────────
  const formError = (da: string, en: string) => ({ da, en });
  const page = (reply: FastifyReply, status: number, html: string) =>
    reply
      .status(status)
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      // No scripts, no frames: the card page is plain HTML and must not be framed by another site.
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
      .send(html);
  const backTo = (target: string, p: Payment) => {
    const u = new URL(target);
    u.searchParams.set('payment_id', p.id);
    return u.toString();
  };
  const notPending = (reply: FastifyReply, p: Payment) =>
    page(
      reply,
      409,
      resultPage({
        title_da: 'Betalingen er allerede afsluttet',
        title_en: 'The payment is already finished',
        back_url: backTo(p.return_url, p),
      }),
    );
  const pageView = (p: Payment) => ({
    payment_id: p.id,
    amount_ore: p.amount_ore,
    terms_url: p.terms_url,
    save_card: p.save_card,
  });
  const failedPage = (reply: FastifyReply, p: Payment) =>
    page(
      reply,
      402,
      resultPage({
        title_da: 'Betalingen blev afvist',
        title_en: 'The payment was declined',
        back_url: backTo(p.return_url, p),
      }),
    );

  app.get<{ Params: { id: string } }>('/pay/:id', async (req, reply) => {
    const p = payments.get(req.params.id);
    if (!p)
      return page(reply, 404, resultPage({ title_da: 'Ukendt betaling', title_en: 'Unknown payment', back_url: '/' }));
    if (p.state !== 'pending') return notPending(reply, p);
    return page(reply, 200, checkoutPage(pageView(p)));
  });

  app.post<{ Params: { id: string } }>('/pay/:id', async (req, reply) => {
    const p = payments.get(req.params.id);
    if (!p)
      return page(reply, 404, resultPage({ title_da: 'Ukendt betaling', title_en: 'Unknown payment', back_url: '/' }));
    if (p.state !== 'pending') return notPending(reply, p);
    const form = body(req);
    const number = typeof form.card_number === 'string' ? form.card_number.replace(/[\s-]/g, '') : '';
    const expiry = typeof form.expiry === 'string' ? parseExpiry(form.expiry) : undefined;
    const cvc = typeof form.cvc === 'string' ? form.cvc.trim() : '';
    const consent = form.save_card === 'yes';
    let error: { da: string; en: string } | undefined;
    if (!/^\d{12,19}$/.test(number))
      error = formError('Kortnummeret skal være 12-19 cifre', 'The card number must be 12-19 digits');
    else if (!expiry) error = formError('Udløb skal skrives MM/ÅÅ', 'Write the expiry as MM/YY');
    else if (!/^\d{3,4}$/.test(cvc))
      error = formError('Kontrolcifrene skal være 3 eller 4 cifre', 'The CVC must be 3 or 4 digits');
    else if (p.save_card && !consent)
      error = formError(
        'Sæt kryds for at gemme kortet til automatisk optankning',
        'Tick the box to keep the card for automatic top-up',
      );
    if (error || !expiry) return page(reply, 400, checkoutPage({ ...pageView(p), error: error ?? formError('', '') }));

    const outcome = isExpired(expiry, now()) ? 'payment_card_expired' : outcomeOf(number);
    if (outcome === 'approved') {
      markPaid(p, expiry, number.slice(-4), consent);
      return reply.redirect(backTo(p.return_url, p), 303);
    }
    if (outcome === 'challenge') {
      p.challenge_expiry = expiry;
      p.challenge_last4 = number.slice(-4);
      p.save_card_consent = consent;
      return reply.redirect(`/pay/${p.id}/3ds`, 303);
    }
    markFailed(p, outcome);
    return failedPage(reply, p);
  });

  app.get<{ Params: { id: string } }>('/pay/:id/3ds', async (req, reply) => {
    const p = payments.get(req.params.id);
    if (!p || !p.challenge_expiry)
      return page(reply, 404, resultPage({ title_da: 'Ukendt betaling', title_en: 'Unknown payment', back_url: '/' }));
    if (p.state !== 'pending') return notPending(reply, p);
    return page(reply, 200, challengePage(p.id, p.amount_ore));
  });

  app.post<{ Params: { id: string } }>('/pay/:id/3ds', async (req, reply) => {
    const p = payments.get(req.params.id);
    if (!p || !p.challenge_expiry)
      return page(reply, 404, resultPage({ title_da: 'Ukendt betaling', title_en: 'Unknown payment', back_url: '/' }));
    if (p.state !== 'pending') return notPending(reply, p);
    if (body(req).decision === 'approve') {
      markPaid(p, p.challenge_expiry, p.challenge_last4 ?? '', p.save_card_consent === true);
      return reply.redirect(backTo(p.return_url, p), 303);
    }
    markFailed(p, 'payment_declined');
    return failedPage(reply, p);
  });

  app.post<{ Params: { id: string } }>('/pay/:id/cancel', async (req, reply) => {
    const p = payments.get(req.params.id);
    if (!p)
      return page(reply, 404, resultPage({ title_da: 'Ukendt betaling', title_en: 'Unknown payment', back_url: '/' }));
    if (p.state !== 'pending') return notPending(reply, p);
    p.state = 'cancelled';
    emit(p, 'payment.cancelled');
    return reply.redirect(backTo(p.cancel_url, p), 303);
  });

  // ── Admin: faults on demand, and what happened to each webhook ───────────────────────────
  app.post('/admin/faults', async (req, reply) => {
    const b = body(req);
    const api = b.api as Record<string, unknown> | undefined;
    const webhooks = b.webhooks as Record<string, unknown> | undefined;
    if (api !== undefined) {
      if (api.mode !== 'timeout' && api.mode !== '5xx' && api.mode !== 'drop_answer')
        throw new HttpError(400, 'invalid_request', 'api.mode is timeout, 5xx or drop_answer');
      apiFault = { mode: api.mode, remaining: count(api.count), hang_ms: delay(api.hang_ms, 30_000) };
      if (api.match !== undefined) apiFault.match = str(api.match, 'api.match', 200);
    }
    if (webhooks !== undefined) {
      const mode = webhooks.mode;
      if (mode !== 'duplicate' && mode !== 'late' && mode !== 'reorder' && mode !== 'lose') {
        throw new HttpError(400, 'invalid_request', 'webhooks.mode is duplicate, late, reorder or lose');
      }
      webhookFault = {
        mode,
        remaining: webhooks.count === undefined && mode === 'reorder' ? 2 : count(webhooks.count),
        delay_ms: delay(webhooks.delay_ms, 5_000),
      };
    }
    if (api === undefined && webhooks === undefined)
      throw new HttpError(400, 'invalid_request', 'api or webhooks is needed');
    return reply.status(204).send();
  });

  app.delete('/admin/faults', async (_req, reply) => {
    apiFault = undefined;
    webhookFault = undefined;
    return reply.status(204).send();
  });

  app.get('/admin/webhooks', async () => ({ webhook_url: webhookUrl ?? null, events }));

  /** How many API requests were made, by method and path (e.g. `GET /v1/payments/pay_…`). */
  app.get('/admin/calls', async () => Object.fromEntries(calls));

  /** A pending payment's page takes `take_amount_ore` instead of the amount asked (a provider's mistake, on demand). */
  app.post<{ Params: { id: string } }>('/admin/payments/:id', async (req, reply) => {
    const p = paymentOr404(req.params.id);
    p.take_ore = amount(body(req).take_amount_ore, false);
    return reply.status(204).send();
  });

  /** Sends every held (late or reordered) webhook now. */
  app.post('/admin/webhooks/release', async (_req, reply) => {
    releaseHeld();
    return reply.status(204).send();
  });

  app.post('/admin/config', async (req, reply) => {
    webhookUrl = url(body(req).webhook_url, 'webhook_url');
    return reply.status(204).send();
  });

  /** The next charges on this agreement fail with this reason (null: they succeed again). */
  app.post<{ Params: { id: string } }>('/admin/agreements/:id', async (req, reply) => {
    const agreement = agreements.get(req.params.id);
    if (!agreement) throw new HttpError(404, 'agreement_not_found', 'no such agreement');
    const b = body(req);
    if (b.fail_with === undefined || b.fail_with === null) delete agreement.fail_with;
    else if ((declineReasons as readonly unknown[]).includes(b.fail_with))
      agreement.fail_with = b.fail_with as DeclineReason;
    else throw new HttpError(400, 'invalid_request', `fail_with is null or one of ${declineReasons.join(', ')}`);
    if (b.charge_amount_ore === null) delete agreement.charge_ore;
    else if (b.charge_amount_ore !== undefined) agreement.charge_ore = amount(b.charge_amount_ore, false);
    if (typeof b.card_expiry === 'string') {
      if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(b.card_expiry))
        throw new HttpError(400, 'invalid_request', 'card_expiry is YYYY-MM');
      agreement.card_expiry = b.card_expiry;
    }
    return reply.status(204).send();
  });

  await app.listen({ host, port: opts.port ?? 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('the fake provider has no TCP address');
  const urlHost = isIP(host) === 6 ? `[${host}]` : host;
  const base = () => `http://${urlHost}:${address.port}`;

  return {
    url: base(),
    port: address.port,
    async stop() {
      stopping = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await app.close();
    },
  };
}
