import { EventEmitter } from 'node:events';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import { kioskRoot } from '@kantine/kiosk';
import {
  allReadersTopic,
  codes,
  type Decision,
  decodePayload,
  type ErrorCode,
  KantineError,
  type LinkEvent,
  parseReaderTopic,
  peekTapId,
  type ReaderConfig,
  type ReaderEvent,
  ReaderStatus,
  readerTopic,
  type SaleEvent,
  siteEventTopic,
  Tap,
  TapCancel,
  type TapEvent,
} from '@kantine/protocol';
import { hashSecret, newSecret } from '@kantine/protocol/credentials';
import type { EnrolRequest, EnrolResponse } from '@kantine/protocol/enrolment';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { benchEchoTopic } from './acl.ts';
import type { MessageBus } from './bus.ts';
import { CentralClient } from './central-client.ts';
import { CentralLink } from './central-link.ts';
import { type Clock, systemClock } from './clock.ts';
import type { GatewayConfig } from './config.ts';
import { EmbeddedBroker, type RefusedEvent } from './embedded-broker.ts';
import { registerEnrolApi } from './enrol-api.ts';
import { Enrolments } from './enrolment.ts';
import { ExternalBus } from './external-bus.ts';
import { type CentralState, registerKioskLive } from './kiosk-live.ts';
import { type Decided, Ledger, type ReaderRow } from './ledger.ts';
import { GatewayMetrics } from './metrics.ts';
import { ReleaseStore } from './releases.ts';
import { defaultServerNames, ensureSiteTls } from './site-ca.ts';
import { StaffSessions } from './staff-sessions.ts';
import { TapProcessor } from './tap-processor.ts';
import { registerTillApi } from './till-api.ts';

export interface GatewayEvents {
  decision: [decision: Decision, replay: boolean];
  /** The same, with what the kiosk needs beside it (the child's account, allergens found). */
  decided: [decided: Decided];
  reader: [status: ReaderStatus];
  refused: [event: RefusedEvent];
  /** A message from a reader was refused before it reached the ledger. */
  rejected: [event: { topic: string; code: ErrorCode; tap_id?: string | undefined; details: readonly string[] }];
  batch: [size: number];
  /** The link to central came up or went down. */
  central: [state: CentralState];
}

export interface GatewayOptions {
  config: GatewayConfig;
  clock?: Clock;
  log?: Logger;
  /** Extra HTTP routes (the demo adds its own), registered before the server starts. */
  routes?: (app: FastifyInstance, gateway: Gateway) => void;
}

// How often connected integrations are checked against the ledger (revoked by the CLI meanwhile).
const REVOCATION_SWEEP_MS = 5_000;

/**
 * One site's gateway: broker, ledger, tap processor and till API. Constructing it does nothing;
 * `start()` opens the ledger and the ports.
 */
export class Gateway extends EventEmitter<GatewayEvents> {
  readonly config: GatewayConfig;
  readonly log: Logger;
  readonly clock: Clock;
  private ledgerRef: Ledger | undefined;
  private busRef: MessageBus | undefined;
  private processor: TapProcessor | undefined;
  private app: FastifyInstance | undefined;
  readonly readers = new Map<string, ReaderStatus>();
  // Reader rows, read once and kept: every message checks its reader, and a SQL lookup per tap
  // is avoidable work on the tap path. Refreshed whenever a reader is changed here.
  private readerCache = new Map<string, ReaderRow>();
  private staffRef: StaffSessions | undefined;
  /** The link to central, shown on every kiosk. */
  central: CentralState = { state: 'not_configured' };
  /** The link's end here, on a site linked to central (config `central`). */
  link: CentralLink | undefined;
  private centralClient: CentralClient | undefined;
  /** Prometheus metrics, served at `/metrics`. */
  readonly metrics: GatewayMetrics;
  private sweep: NodeJS.Timeout | undefined;
  private stopping = false;
  /** The broker's TLS (the site CA's files with tls `auto`); undefined when it speaks plain MQTT. */
  tls: { key_file: string; cert_file: string; ca_file?: string } | undefined;
  private enrolmentsRef: Enrolments | undefined;
  private releasesRef: ReleaseStore | undefined;
  // The release targets (site-wide and per reader) last sent in the readers' configs.
  private releaseTargets = '';

  constructor(private readonly opts: GatewayOptions) {
    super();
    this.config = opts.config;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? pino({ name: 'gateway', level: process.env.LOG_LEVEL ?? 'info' });
    this.metrics = new GatewayMetrics(
      {
        readersOnline: () => [...this.readers.values()].filter((r) => r.state === 'online').length,
        link: () => (this.link ? { online: this.link.online, backlog: this.link.backlog } : undefined),
      },
      this.config.central !== undefined,
    );
  }

  get ledger(): Ledger {
    if (!this.ledgerRef) throw new Error('Gateway: not started');
    return this.ledgerRef;
  }

  get staff(): StaffSessions {
    if (!this.staffRef) throw new Error('Gateway: not started');
    return this.staffRef;
  }

  get bus(): MessageBus {
    if (!this.busRef) throw new Error('Gateway: not started');
    return this.busRef;
  }

  /** The embedded broker's port (0 when running on an external broker). */
  get mqttPort(): number {
    return this.busRef instanceof EmbeddedBroker ? this.busRef.port : 0;
  }

  get httpPort(): number {
    const addr = this.app?.server.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  async start(): Promise<void> {
    const { config, log } = this;
    const site = config.site.id;
    this.ledgerRef = new Ledger(config.database, this.clock);
    this.ledgerRef.allowLegacyCards = config.cards.allow_legacy;
    this.staffRef = new StaffSessions(this.ledgerRef, this.clock);
    this.reloadReaders(); // before the broker listens: readers authenticate against this

    this.enrolmentsRef = new Enrolments(this.ledgerRef, this.clock);
    this.releasesRef = new ReleaseStore(this.ledgerRef, config);
    this.releaseTargets = JSON.stringify(this.releasesRef.targets());
    if (config.mqtt.mode === 'embedded') {
      const tls = config.mqtt.tls;
      this.tls =
        tls === 'auto'
          ? await ensureSiteTls(
              join(dirname(config.database), 'tls'),
              site,
              defaultServerNames(config.mqtt.server_names),
              this.clock.now(),
            )
          : tls === 'off'
            ? undefined
            : tls;
      const broker = new EmbeddedBroker({
        site,
        host: config.mqtt.host,
        port: config.mqtt.port,
        tls: this.tls,
        readerSecretHash: (id) => this.readerCache.get(id)?.secret_hash,
        integrationSecretHash: (id) => this.ledger.integrationSecretHash(id),
        benchEcho: config.bench_echo,
        log,
        onRefused: (e) => {
          this.metrics.refused.inc({ what: e.what });
          this.emit('refused', e);
        },
      });
      this.busRef = broker;
      // Readers and integrations revoked from the command line (another process) are closed
      // within seconds; expired enrolment tokens lose their keys.
      this.sweep = setInterval(() => {
        this.reloadReaders();
        this.enrolments.expire();
        this.checkReleaseTarget();
        broker.disconnectRevoked((who) =>
          who.kind === 'reader' ? !this.readerCache.has(who.id) : !this.ledger.integrationSecretHash(who.id),
        );
      }, REVOCATION_SWEEP_MS).unref();
    } else {
      const bus = new ExternalBus({
        url: config.mqtt.url,
        clientId: `kantine-gateway-${site}`,
        username: config.mqtt.username,
        password: config.mqtt.password,
        ca_file: config.mqtt.ca_file,
        log,
      });
      this.busRef = bus;
    }

    const processor = new TapProcessor(this.ledger, this.bus, site, config.group_commit.max_batch, log);
    processor.on('decision', (decided, seconds) => {
      const { decision: d, replay } = decided;
      log.info(
        { tap_id: d.tap_id, reader_id: d.reader_id, outcome: d.outcome, code: d.code, replay, ms: seconds * 1000 },
        'decision',
      );
      if (!replay) {
        this.metrics.decisions.inc({ outcome: d.outcome, code: d.code ?? '' });
        this.metrics.decisionSeconds.observe(seconds);
        this.publishDecisionEvents(d);
      }
      this.emit('decision', d, replay);
      this.emit('decided', decided);
    });
    processor.on('batch', (n) => {
      this.metrics.batchSize.observe(n);
      this.emit('batch', n);
    });
    this.processor = processor;

    if (config.central) {
      // Linked: accounts, cards and money come from central, and sales go there (docs/replication.md).
      const client = new CentralClient({ ...config.central, site, log: log.child({ part: 'link' }) });
      const link = new CentralLink(this.ledger, client.send, this.clock);
      link.on('state', (online) => {
        this.central = { state: online ? 'online' : 'offline' };
        this.publishLinkEvent();
        this.emit('central', this.central);
      });
      processor.link = link;
      this.link = link;
      this.central = { state: 'offline' };
      this.centralClient = client;
    }

    await this.bus.subscribe(allReadersTopic(site, 'tap'), (topic, payload) => this.onTap(topic, payload));
    await this.bus.subscribe(allReadersTopic(site, 'cancel'), (topic, payload) => this.onCancel(topic, payload));
    await this.bus.subscribe(allReadersTopic(site, 'status'), (topic, payload) => this.onStatus(topic, payload));
    if (config.bench_echo) {
      await this.bus.subscribe(`kantine-bench/${site}/+/echo/req`, (topic, payload) => {
        const reader = topic.split('/')[2] ?? '';
        this.bus.publish(benchEchoTopic(site, reader, 'res'), payload, { qos: 1 });
      });
    }
    // Only now do readers get in: every message has its handler from the first one on.
    await this.bus.start();
    for (const r of this.readerCache.values()) this.publishReaderConfig(r.id);
    this.publishLinkEvent();

    const app: FastifyInstance = Fastify({
      // Requests are not logged one by one (the till polls); errors are.
      loggerInstance: log.child({ part: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
    });
    await app.register(fastifyCookie);
    await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });
    // The kiosk: static pages, served as they are (no build step).
    await app.register(fastifyStatic, { root: kioskRoot, prefix: '/kiosk/' });
    // Published reader releases, read-only: readers check every file against the signed manifest.
    mkdirSync(this.releases.dir, { recursive: true });
    await app.register(fastifyStatic, {
      root: this.releases.dir,
      prefix: '/releases/',
      decorateReply: false,
      index: false,
      list: false,
      dotfiles: 'deny',
    });
    app.get('/', (_req, reply) => reply.redirect('/kiosk/'));
    this.registerHealth(app);
    registerTillApi(app, this);
    registerEnrolApi(app, this);
    registerKioskLive(app, this);
    this.opts.routes?.(app, this);
    await app.listen({ host: config.http.host, port: config.http.port });
    this.app = app;
    if (this.link) this.centralClient?.start(this.link);
    log.info({ mqtt_port: this.mqttPort, http_port: this.httpPort, site }, 'gateway started');
  }

  async stop(): Promise<void> {
    // Decide what is already queued before closing: those taps are in our hands.
    this.processor?.flush();
    this.stopping = true;
    clearInterval(this.sweep);
    await this.centralClient?.close();
    await this.app?.close();
    await this.busRef?.close();
    this.ledgerRef?.close();
    this.app = undefined;
    this.busRef = undefined;
    this.ledgerRef = undefined;
  }

  /** Creates (or re-keys) a reader for a till; returns its new secret, shown once. */
  async addReader(readerId: string, tillId: string): Promise<string> {
    if (!this.ledger.getTill(tillId)) throw new KantineError('unknown_till', `no till ${tillId}`);
    const secret = newSecret();
    this.ledger.upsertReader({ id: readerId, till_id: tillId, secret_hash: await hashSecret(secret) });
    this.reloadReaders();
    this.publishReaderConfig(readerId);
    return secret;
  }

  /** Creates (or re-keys) an integration that may watch the site's events; returns its secret, shown once. */
  async addIntegration(id: string, name: string): Promise<string> {
    const secret = newSecret();
    this.ledger.putIntegration({ id, name, secret_hash: await hashSecret(secret) });
    return secret;
  }

  /** Revokes an integration and closes its connections now. */
  revokeIntegration(id: string): boolean {
    const revoked = this.ledger.revokeIntegration(id);
    if (this.busRef instanceof EmbeddedBroker)
      this.busRef.disconnectRevoked((who) => who.kind === 'integration' && who.id === id);
    return revoked;
  }

  get releases(): ReleaseStore {
    if (!this.releasesRef) throw new Error('gateway not started');
    return this.releasesRef;
  }

  /** A new target release (set here or by `kantine-gateway release target`) goes to every reader. */
  checkReleaseTarget(): void {
    const targets = JSON.stringify(this.releases.targets());
    if (targets === this.releaseTargets) return;
    this.releaseTargets = targets;
    this.log.info({ targets: JSON.parse(targets) }, 'reader release targets');
    for (const r of this.readerCache.values()) this.publishReaderConfig(r.id);
  }

  get enrolments(): Enrolments {
    if (!this.enrolmentsRef) throw new Error('gateway not started');
    return this.enrolmentsRef;
  }

  /** Revokes a reader: its connection is closed now and it is refused from then on. */
  revokeReader(id: string): boolean {
    const revoked = this.ledger.revokeReader(id);
    this.reloadReaders();
    if (this.busRef instanceof EmbeddedBroker)
      this.busRef.disconnectRevoked((who) => who.kind === 'reader' && who.id === id);
    return revoked;
  }

  /**
   * A new reader's enrolment (`POST /api/enrol`): spends its one-time token, makes the reader and
   * answers with its identity, the broker's address (by the name the reader reached us with) and
   * the site CA, signed with the token's key.
   */
  enrol(req: EnrolRequest, host: string): EnrolResponse {
    if (this.config.mqtt.mode !== 'embedded') {
      throw new KantineError('enrolment_refused', "enrolment needs the gateway's own broker (mqtt.mode embedded)");
    }
    const { readerId, tillId, key } = this.enrolments.redeem(req);
    this.reloadReaders();
    this.publishReaderConfig(readerId);
    this.log.info({ reader_id: readerId, till_id: tillId, token_id: req.token_id }, 'reader enrolled');
    const name = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    return Enrolments.answer(key, req.token_id, {
      reader_id: readerId,
      site: this.config.site.id,
      till_id: tillId,
      broker_url: `${this.tls ? 'mqtts' : 'mqtt'}://${name}:${this.mqttPort}`,
      ...(this.tls?.ca_file ? { ca_pem: readFileSync(this.tls.ca_file, 'utf8') } : {}),
    });
  }

  // ── Health and events ────────────────────────────────────────────────────────────────────────

  /**
   * `/healthz`: the process answers (for a restart policy). `/readyz`: it can decide taps now —
   * the ledger answers a query and the broker or bus is up. Central being away does not make a
   * site unready: it sells on its shares (docs/replication.md). `/metrics`: Prometheus.
   */
  private registerHealth(app: FastifyInstance): void {
    app.get('/healthz', () => ({ ok: true }));
    app.get('/readyz', (_req, reply) => {
      const checks: Record<string, boolean> = { ledger: false, mqtt: this.busRef !== undefined };
      try {
        this.ledger.db.prepare('SELECT 1').get();
        checks.ledger = true;
      } catch {
        // reported below
      }
      const ready = Object.values(checks).every(Boolean);
      return reply.code(ready ? 200 : 503).send({ ready, checks, central: this.central.state });
    });
    app.get('/metrics', async (_req, reply) => reply.type(this.metrics.contentType).send(await this.metrics.text()));
  }

  private publishEvent(topic: string, event: object, retain = false): void {
    // Readers' last wills arrive while the broker closes: nobody is left to tell.
    if (this.stopping) return;
    this.bus.publish(topic, JSON.stringify(event), { qos: 1, retain });
  }

  /** Every fresh decision as a `tap` event; an approved sale also as a `sale` event with its lines. */
  private publishDecisionEvents(d: Decision): void {
    const site = this.config.site.id;
    const tillId = d.till_id ?? this.readerCache.get(d.reader_id)?.till_id ?? undefined;
    const tap: TapEvent = {
      v: 1,
      tap_id: d.tap_id,
      reader_id: d.reader_id,
      ...(tillId ? { till_id: tillId } : {}),
      outcome: d.outcome,
      ...(d.code ? { code: d.code } : {}),
      ...(d.amount_ore !== undefined ? { amount_ore: d.amount_ore } : {}),
      ...(d.card_kind ? { card_kind: d.card_kind } : {}),
      decided_at: d.decided_at,
    };
    this.publishEvent(siteEventTopic(site, 'tap'), tap);
    if (d.outcome === 'approved' && tillId && d.entry_id && d.amount_ore !== undefined) {
      const sale: SaleEvent = {
        v: 1,
        tap_id: d.tap_id,
        entry_id: d.entry_id,
        reader_id: d.reader_id,
        till_id: tillId,
        amount_ore: d.amount_ore,
        lines: d.lines ?? [],
        decided_at: d.decided_at,
      };
      this.publishEvent(siteEventTopic(site, 'sale'), sale);
    }
  }

  private publishLinkEvent(): void {
    const event: LinkEvent = {
      v: 1,
      state: this.central.state,
      backlog: this.link?.backlog ?? 0,
      at: this.clock.now().toISOString(),
    };
    this.publishEvent(siteEventTopic(this.config.site.id, 'link'), event, true);
  }

  /** Re-reads the readers from the ledger (after a change made outside `addReader`). */
  reloadReaders(): void {
    this.readerCache = new Map(
      this.ledger
        .listReaders()
        .filter((r) => !r.revoked_at)
        .map((r) => [r.id, r]),
    );
  }

  /** Publishes a reader's retained config: its till and the site's timing. */
  publishReaderConfig(readerId: string): void {
    const reader = this.readerCache.get(readerId);
    const till = reader?.till_id ? this.ledger.getTill(reader.till_id) : undefined;
    if (!till) return;
    const place = this.ledger.getPlace(till.place_id);
    const cfg: ReaderConfig = {
      v: 1,
      reader_id: readerId,
      till_id: till.id,
      till_name: till.name,
      place_name: place?.name ?? '',
      answer_timeout_ms: this.config.readers.answer_timeout_ms,
      resend_interval_ms: this.config.readers.resend_interval_ms,
    };
    const release = this.releases.target(readerId);
    if (release) cfg.release = { version: release, path: `/releases/${release}/` };
    this.bus.publish(readerTopic(this.config.site.id, readerId, 'config'), JSON.stringify(cfg), {
      qos: 1,
      retain: true,
    });
  }

  // ── Messages from readers ────────────────────────────────────────────────────────────────────

  private reject(readerId: string, topic: string, err: unknown, payload: Buffer): void {
    const kerr = err instanceof KantineError ? err : new KantineError('internal_error', String(err));
    const code: ErrorCode = codes[kerr.code].kind === 'error' ? (kerr.code as ErrorCode) : 'internal_error';
    const tapId = peekTapId(payload);
    this.log.warn({ topic, code, tap_id: tapId, details: kerr.details }, 'refused a message from a reader');
    this.metrics.rejected.inc({ code });
    this.processor?.sendError(readerId, topic, code, kerr.message, tapId, kerr.details);
    this.emit('rejected', { topic, code, tap_id: tapId, details: kerr.details });
  }

  /** The checks every reader message passes before the ledger sees it. Returns the till. */
  private admit(topic: string, payloadReaderId: string, requireTill: boolean): string | null {
    const t = parseReaderTopic(topic);
    if (!t || t.site !== this.config.site.id)
      throw new KantineError('topic_not_allowed', `not a reader topic: ${topic}`);
    if (payloadReaderId !== t.reader) {
      throw new KantineError('reader_mismatch', `payload names reader ${payloadReaderId}, topic ${t.reader}`);
    }
    const reader = this.readerCache.get(t.reader);
    if (!reader) throw new KantineError('unknown_reader', `no reader ${t.reader}`);
    if (requireTill && !reader.till_id) throw new KantineError('reader_not_assigned');
    return reader.till_id;
  }

  private onTap(topic: string, payload: Buffer): void {
    const readerId = parseReaderTopic(topic)?.reader ?? '';
    try {
      const tap = decodePayload(Tap, payload);
      this.log.debug({ tap_id: tap.tap_id, reader_id: tap.reader_id, attempt: tap.attempt }, 'tap received');
      const tillId = this.admit(topic, tap.reader_id, true) as string;
      this.processor?.enqueue({ kind: 'tap', tap, till_id: tillId });
    } catch (err) {
      this.reject(readerId, topic, err, payload);
    }
  }

  private onCancel(topic: string, payload: Buffer): void {
    const readerId = parseReaderTopic(topic)?.reader ?? '';
    try {
      const cancel = decodePayload(TapCancel, payload);
      const tillId = this.admit(topic, cancel.reader_id, false);
      this.processor?.enqueue({ kind: 'cancel', cancel, till_id: tillId });
    } catch (err) {
      this.reject(readerId, topic, err, payload);
    }
  }

  private onStatus(topic: string, payload: Buffer): void {
    const readerId = parseReaderTopic(topic)?.reader ?? '';
    try {
      const status = decodePayload(ReaderStatus, payload);
      this.admit(topic, status.reader_id, false);
      this.readers.set(status.reader_id, status);
      const tillId = this.readerCache.get(status.reader_id)?.till_id;
      const event: ReaderEvent = { ...status, ...(tillId ? { till_id: tillId } : {}) };
      this.publishEvent(siteEventTopic(this.config.site.id, 'reader', status.reader_id), event, true);
      this.emit('reader', status);
    } catch (err) {
      this.reject(readerId, topic, err, payload);
    }
  }
}
