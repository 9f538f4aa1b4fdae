import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { defaultServerNames, ensureSiteTls } from '@kantine/mqtt/ca';
import { type Decision, KantineError, type ReaderStatus } from '@kantine/protocol';
import { hashSecret, newSecret } from '@kantine/protocol/credentials';
import type { EnrolRequest, EnrolResponse } from '@kantine/protocol/enrolment';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { benchEchoTopic } from './broker/acl.ts';
import type { MessageBus } from './broker/bus.ts';
import { EmbeddedBroker, type RefusedEvent } from './broker/embedded-broker.ts';
import { ExternalBus } from './broker/external-bus.ts';
import { type Clock, systemClock } from './clock.ts';
import type { GatewayConfig } from './config.ts';
import { SiteEvents } from './events/site-events.ts';
import { registerEnrolApi } from './http/enrol-api.ts';
import { type CentralState, registerKioskLive } from './http/kiosk-live.ts';
import { GatewayMetrics } from './http/metrics.ts';
import { ScreenKeys } from './http/screens.ts';
import { startHttpServer } from './http/server.ts';
import { StaffSessions } from './http/staff-sessions.ts';
import { registerTillApi } from './http/till-api.ts';
import { Ledger } from './ledger/ledger.ts';
import { CentralClient } from './link/central-client.ts';
import { CentralLink } from './link/central-link.ts';
import { ReaderDirectory } from './readers/directory.ts';
import { Enrolments } from './readers/enrolment.ts';
import { ReleaseStore } from './readers/releases.ts';
import type { Decided } from './taps/commit.ts';
import { Intake, type Rejected } from './taps/intake.ts';
import { TapProcessor } from './taps/processor.ts';

export interface GatewayEvents {
  decision: [decision: Decision, replay: boolean];
  /** The same, with what the kiosk needs beside it (the child's account, allergens found). */
  decided: [decided: Decided];
  reader: [status: ReaderStatus];
  refused: [event: RefusedEvent];
  /** A message from a reader was refused before it reached the ledger. */
  rejected: [event: Rejected];
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
  /** The demo only: take its `DEMO-…` card batches, whose keys are made from public text. */
  demo?: boolean;
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
  private events: SiteEvents | undefined;
  private app: FastifyInstance | undefined;
  readonly readers = new Map<string, ReaderStatus>();
  private directory: ReaderDirectory | undefined;
  private staffRef: StaffSessions | undefined;
  private screensRef: ScreenKeys | undefined;
  /** The link to central, shown on every kiosk. */
  central: CentralState = { state: 'not_configured' };
  /** The link's end here, on a site linked to central (config `central`). */
  link: CentralLink | undefined;
  private centralClient: CentralClient | undefined;
  /** Prometheus metrics, served at `/metrics`. */
  readonly metrics: GatewayMetrics;
  private sweep: NodeJS.Timeout | undefined;
  /** The broker's TLS (the site CA's files with tls `auto`); undefined when it speaks plain MQTT. */
  tls: { key_file: string; cert_file: string; ca_file?: string } | undefined;
  /** HTTPS's key and certificate (the site CA's with http.tls `auto`); undefined on plain loopback HTTP. */
  httpTls: { key_file: string; cert_file: string; ca_file?: string } | undefined;
  private enrolmentsRef: Enrolments | undefined;
  private releasesRef: ReleaseStore | undefined;

  constructor(private readonly opts: GatewayOptions) {
    super();
    this.config = opts.config;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? pino({ name: 'gateway', level: process.env.LOG_LEVEL ?? 'info' });
    this.metrics = new GatewayMetrics(
      {
        readersOnline: () => [...this.readers.values()].filter((r) => r.state === 'online').length,
        link: () =>
          this.link
            ? { online: this.link.online, backlog: this.link.backlog, set_aside: this.link.setAsideCount }
            : undefined,
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

  /** The till screens' pairing (`kantine-gateway staff pair-screen`). */
  get screens(): ScreenKeys {
    if (!this.screensRef) throw new Error('Gateway: not started');
    return this.screensRef;
  }

  get bus(): MessageBus {
    if (!this.busRef) throw new Error('Gateway: not started');
    return this.busRef;
  }

  /** The embedded broker's port (0 when running on an external broker). */
  get mqttPort(): number {
    return this.busRef instanceof EmbeddedBroker ? this.busRef.port : 0;
  }

  /** The gateway's HTTP address on this machine (https unless plain loopback HTTP was asked for). */
  get httpUrl(): string {
    return `${this.httpTls ? 'https' : 'http'}://127.0.0.1:${this.httpPort}`;
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
    this.ledgerRef.accounts.allowDemoBatches = this.opts.demo === true;
    this.staffRef = new StaffSessions(this.ledgerRef, this.clock);
    this.screensRef = ScreenKeys.open(config.database);

    this.enrolmentsRef = new Enrolments(this.ledgerRef, this.clock);
    this.releasesRef = new ReleaseStore(this.ledgerRef, config);
    // Before the broker listens: readers authenticate against this.
    const directory = new ReaderDirectory(this.ledgerRef, this.releasesRef, config, log);
    this.directory = directory;
    // The site CA's files, made once for both the broker and HTTPS (the same names: readers and
    // tablets reach the gateway by the same host name).
    const siteTls =
      (config.mqtt.mode === 'embedded' && config.mqtt.tls === 'auto') || config.http.tls === 'auto'
        ? await ensureSiteTls(
            join(dirname(config.database), 'tls'),
            site,
            defaultServerNames(config.mqtt.mode === 'embedded' ? config.mqtt.server_names : []),
            this.clock.now(),
          )
        : undefined;
    const httpTls = config.http.tls;
    this.httpTls = httpTls === 'auto' ? siteTls : httpTls === 'off' ? undefined : httpTls;
    if (config.mqtt.mode === 'embedded') {
      const tls = config.mqtt.tls;
      this.tls = tls === 'auto' ? siteTls : tls === 'off' ? undefined : tls;
      const broker = new EmbeddedBroker({
        site,
        host: config.mqtt.host,
        port: config.mqtt.port,
        tls: this.tls,
        readerSecretHash: (id) => directory.get(id)?.secret_hash,
        integrationSecretHash: (id) => this.ledger.integrations.integrationSecretHash(id),
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
        directory.reload();
        this.enrolments.expire();
        directory.checkReleaseTarget(this.bus);
        broker.disconnectRevoked((who) =>
          who.kind === 'reader' ? !directory.get(who.id) : !this.ledger.integrations.integrationSecretHash(who.id),
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

    // The tap path: intake → processor → decide → commit → publish; the site's events listen.
    const processor = new TapProcessor(this.ledger, this.bus, site, config.group_commit.max_batch, log);
    processor.answerTimeoutMs = config.readers.answer_timeout_ms;
    const events = new SiteEvents(this.bus, site, this.clock, (id) => directory.get(id)?.till_id);
    events.listen(processor);
    processor.on('decision', (decided, seconds) => {
      const { decision: d, replay } = decided;
      // A decline (its code) and a repeated tap are logged at info; every decision at debug. A
      // sale's line would be one JSON line and one write per tap at the busiest moment, and the
      // sale itself is in the ledger (entries, taps) and counted in /metrics.
      const level = replay || d.outcome === 'declined' ? 'info' : 'debug';
      if (log.isLevelEnabled(level)) {
        log[level](
          { tap_id: d.tap_id, reader_id: d.reader_id, outcome: d.outcome, code: d.code, replay, ms: seconds * 1000 },
          'decision',
        );
      }
      if (!replay) {
        this.metrics.decided(d.outcome, d.code);
        this.metrics.decisionSeconds.observe(seconds);
      }
      this.emit('decision', d, replay);
      this.emit('decided', decided);
    });
    processor.on('batch', (n) => {
      this.metrics.batchSize.observe(n);
      this.emit('batch', n);
    });
    this.processor = processor;
    this.events = events;

    if (config.central) {
      // Linked: accounts, cards and money come from central, and sales go there; this site sells
      // within its escrow shares from now on (docs/replication.md).
      this.ledger.enableEscrow();
      const client = new CentralClient({ ...config.central, site, log: log.child({ part: 'link' }) });
      const link = new CentralLink(this.ledger, client.send, this.clock);
      link.on('state', (online) => {
        this.central = { state: online ? 'online' : 'offline', set_aside: link.setAsideCount };
        this.publishLinkEvent();
        this.emit('central', this.central);
      });
      // One change from central this site cannot take is set aside, never a stalled link: the
      // alarm is this log line, the metric and the kiosks' central badge.
      link.on('setAside', (changes) => {
        for (const c of changes)
          log.error({ seq: c.seq, kind: c.kind, code: c.code, detail: c.detail }, 'set aside a change from central');
        this.central = { ...this.central, set_aside: link.setAsideCount };
        this.emit('central', this.central);
      });
      processor.link = link;
      this.link = link;
      this.central = { state: 'offline', set_aside: link.setAsideCount };
      this.centralClient = client;
    }

    const intake = new Intake({
      bus: this.bus,
      site,
      log,
      processor,
      reader: (id) => directory.get(id),
      onStatus: (status) => {
        this.readers.set(status.reader_id, status);
        events.reader(status);
        this.emit('reader', status);
      },
      onRejected: (rejected) => {
        this.metrics.rejected.inc({ code: rejected.code });
        this.emit('rejected', rejected);
      },
    });
    await intake.listen();
    if (config.bench_echo) {
      await this.bus.subscribe(`kantine-bench/${site}/+/echo/req`, (topic, payload) => {
        const reader = topic.split('/')[2] ?? '';
        this.bus.publish(benchEchoTopic(site, reader, 'res'), payload, { qos: 1 });
      });
    }
    // Only now do readers get in: every message has its handler from the first one on.
    await this.bus.start();
    directory.publishAll(this.bus);
    this.publishLinkEvent();

    this.app = await startHttpServer({
      host: config.http.host,
      port: config.http.port,
      ...(this.httpTls ? { tls: this.httpTls } : {}),
      log,
      releasesDir: this.releases.dir,
      health: {
        ledgerAnswers: () => {
          try {
            this.ledger.db.prepare('SELECT 1').get();
            return true;
          } catch {
            return false;
          }
        },
        busUp: () => this.busRef !== undefined,
        central: () => this.central.state,
        metrics: this.metrics,
        ...(config.http.metrics_token ? { metricsToken: config.http.metrics_token } : {}),
      },
      routes: (app) => {
        registerTillApi(app, {
          site: config.site,
          ledger: this.ledger,
          staff: this.staff,
          screens: this.screens,
          readers: this.readers,
          clock: this.clock,
          log,
          flushLink: () => this.link?.flush(),
        });
        registerEnrolApi(app, (req, host) => this.enrol(req, host));
        registerKioskLive(app, {
          ledger: this.ledger,
          staff: this.staff,
          readers: this.readers,
          central: () => this.central,
          onDecided: (listener) => this.on('decided', listener),
          onCentral: (listener) => this.on('central', listener),
          onReader: (listener) => this.on('reader', listener),
        });
        this.opts.routes?.(app, this);
      },
    });
    if (this.link) this.centralClient?.start(this.link);
    log.info({ mqtt_port: this.mqttPort, http_port: this.httpPort, site }, 'gateway started');
  }

  async stop(): Promise<void> {
    // Decide what is already queued before closing: those taps are in our hands.
    this.processor?.flush();
    this.events?.stop();
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
    if (!this.ledger.catalogue.getTill(tillId)) throw new KantineError('unknown_till', `no till ${tillId}`);
    const secret = newSecret();
    this.ledger.readers.upsertReader({ id: readerId, till_id: tillId, secret_hash: await hashSecret(secret) });
    this.readerChanged(readerId);
    return secret;
  }

  /** Creates (or re-keys) an integration that may watch the site's events; returns its secret, shown once. */
  async addIntegration(id: string, name: string): Promise<string> {
    const secret = newSecret();
    this.ledger.integrations.putIntegration({ id, name, secret_hash: await hashSecret(secret) });
    return secret;
  }

  /** Revokes an integration and closes its connections now. */
  revokeIntegration(id: string): boolean {
    const revoked = this.ledger.integrations.revokeIntegration(id);
    if (this.busRef instanceof EmbeddedBroker)
      this.busRef.disconnectRevoked((who) => who.kind === 'integration' && who.id === id);
    return revoked;
  }

  get releases(): ReleaseStore {
    if (!this.releasesRef) throw new Error('gateway not started');
    return this.releasesRef;
  }

  get enrolments(): Enrolments {
    if (!this.enrolmentsRef) throw new Error('gateway not started');
    return this.enrolmentsRef;
  }

  /** Revokes a reader: its connection is closed now and it is refused from then on. */
  revokeReader(id: string): boolean {
    const revoked = this.ledger.readers.revokeReader(id);
    this.directory?.reload();
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
    this.readerChanged(readerId);
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

  // ── Events ───────────────────────────────────────────────────────────────────────────────

  private publishLinkEvent(): void {
    this.events?.link(this.central.state, this.link?.backlog ?? 0);
  }

  /** A reader was made or re-keyed here: it may connect now, and gets its config. */
  private readerChanged(readerId: string): void {
    this.directory?.reload();
    this.directory?.publishConfig(this.bus, readerId);
  }
}
