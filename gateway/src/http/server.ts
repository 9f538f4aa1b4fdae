import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import { kioskRoot } from '@kantine/kiosk';
import { codes, KantineError } from '@kantine/protocol';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

/** What `/readyz` and `/metrics` report. */
export interface HealthSource {
  /** Whether the ledger answers a query now. */
  ledgerAnswers: () => boolean;
  /** Whether the broker or bus is up. */
  busUp: () => boolean;
  /** The link to central's state (reported, never a reason to be unready). */
  central: () => string;
  metrics: { contentType: string; text: () => Promise<string> };
  /** A monitoring system's bearer token for `/metrics` from beyond the machine (config). */
  metricsToken?: string;
}

/** Whether a request comes from this machine (the socket's address; no proxy header is trusted). */
export function fromLoopback(req: FastifyRequest): boolean {
  const a = req.socket.remoteAddress ?? '';
  return a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

export interface HttpServerOptions {
  host: string;
  port: number;
  /** HTTPS's key and certificate (chain); without them plain HTTP (the config allows that on loopback only). */
  tls?: { key_file: string; cert_file: string };
  log: Logger;
  /** Published reader releases, served read-only at `/releases/`. */
  releasesDir: string;
  health: HealthSource;
  /** Registers the route modules (till API, enrolment, kiosk live, …) on the server. */
  routes: (app: FastifyInstance) => void;
}

/** The HTTP status of an error code from the catalogue. */
export function statusFor(code: string): number {
  switch (code) {
    case 'not_found':
    case 'unknown_till':
    case 'sale_not_found':
    case 'preorder_not_found':
      return 404;
    case 'not_logged_in':
    case 'wrong_pin':
    case 'metrics_refused':
    case 'screen_not_paired':
      return 401;
    case 'pin_locked':
      return 429;
    case 'enrolment_refused':
    case 'origin_refused':
      return 403;
    case 'sale_already_voided':
    case 'void_too_late':
    case 'preorder_handed_out':
    case 'preorder_wrong_day': // shopfix
      return 409;
    case 'internal_error':
      return 500;
    default:
      return 400;
  }
}

/**
 * The gateway's one HTTP server: the kiosk's static pages, reader releases, health and metrics,
 * and the route modules. Every error leaves as `{code, message, details}` from one handler.
 */
export async function startHttpServer(o: HttpServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // Requests are not logged one by one (the till polls); errors are.
    loggerInstance: o.log.child({ part: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
    ...(o.tls
      ? { https: { key: readFileSync(o.tls.key_file), cert: readFileSync(o.tls.cert_file), minVersion: 'TLSv1.2' } }
      : {}),
  }) as unknown as FastifyInstance;
  await app.register(fastifyCookie);
  app.addHook('onSend', async (req, reply) => {
    securityHeaders(reply, req.protocol === 'https');
  });
  await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });
  // The kiosk: static pages, served as they are (no build step).
  await app.register(fastifyStatic, { root: kioskRoot, prefix: '/kiosk/' });
  // Published reader releases, read-only: readers check every file against the signed manifest.
  mkdirSync(o.releasesDir, { recursive: true });
  await app.register(fastifyStatic, {
    root: o.releasesDir,
    prefix: '/releases/',
    decorateReply: false,
    index: false,
    list: false,
    dotfiles: 'deny',
  });
  app.get('/', (_req, reply) => reply.redirect('/kiosk/'));
  registerHealth(app, o.health);
  // Set here, as before the till API's routes: the kiosk's static files keep fastify's own.
  app.setErrorHandler((err: unknown, _req, reply: FastifyReply) => {
    if (err instanceof KantineError) {
      return reply.status(statusFor(err.code)).send(err.toJSON());
    }
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode && e.statusCode < 500) {
      // fastify's own refusals (bad JSON body, wrong content type, too large)
      return reply.status(e.statusCode).send({ code: 'invalid_request', message: e.message ?? '', details: [] });
    }
    o.log.error({ err }, 'till API error');
    return reply.status(500).send({ code: 'internal_error', message: codes.internal_error.en, details: [] });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ code: 'not_found', message: `no route ${req.method} ${req.url}`, details: [] });
  });
  o.routes(app);
  await app.listen({ host: o.host, port: o.port });
  return app;
}

/**
 * What every answer carries: the kiosk runs only its own scripts and styles, is framed by no one,
 * and (over HTTPS) is reached only over HTTPS from now on. The kiosk's pages load nothing from
 * elsewhere; photos are data: URLs; the live updates are a WebSocket to the same host.
 */
function securityHeaders(reply: FastifyReply, https: boolean): void {
  reply.header(
    'content-security-policy',
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; " +
      "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  );
  reply.header('x-frame-options', 'DENY');
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('cross-origin-opener-policy', 'same-origin');
  if (https) reply.header('strict-transport-security', 'max-age=31536000');
}

/**
 * `/healthz`: the process answers (for a restart policy). `/readyz`: it can decide taps now —
 * the ledger answers a query and the broker or bus is up. Central being away does not make a
 * site unready: it sells on its shares (docs/replication.md). `/metrics`: Prometheus.
 */
function registerHealth(app: FastifyInstance, h: HealthSource): void {
  app.get('/healthz', () => ({ ok: true }));
  app.get('/readyz', (_req, reply) => {
    const checks: Record<string, boolean> = { ledger: h.ledgerAnswers(), mqtt: h.busUp() };
    const ready = Object.values(checks).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ ready, checks, central: h.central() });
  });
  // Metrics name readers, counts and the link's state: the machine itself, or a monitoring system
  // with the token from the config.
  app.get('/metrics', async (req, reply) => {
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
    const byToken =
      h.metricsToken !== undefined && token !== undefined && timingSafeEqual(sha256(token), sha256(h.metricsToken));
    if (!fromLoopback(req) && !byToken) throw new KantineError('metrics_refused');
    return reply.type(h.metrics.contentType).send(await h.metrics.text());
  });
}
