import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parseBrokerUrl, type ServerTlsFiles } from '@kantine/mqtt';
import { defaultServerNames, ensureBrokerTls } from '@kantine/mqtt/ca';
import { createPspAdapter } from '@kantine/payments';
import { registerPortal } from '@kantine/portal';
import { KantineError } from '@kantine/protocol';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { startAutotopupTimers } from './autotopup/timers.ts';
import { Central, type CentralIdentity } from './central.ts';
import type { CentralConfig } from './config.ts';
import { type Db, openPglite, openPostgres } from './db/db.ts';
import type { Clock } from './db/tx.ts';
import { actorOf, type DeclaredRoute, declaredRoutes, registerApi, sessionCsrf } from './http/api.ts';
import { opsRoutes } from './http/ops.ts';
import { LinkInbox } from './link/inbox.ts';
import { EmbeddedLinkBroker, type LinkTransport, SharedLinkClient } from './link/transport.ts';
import { Mailer } from './mail/mailer.ts';
import { MailOutbox, type OutboxOptions } from './mail/outbox.ts';
import { CentralMetrics, instrumentIngest, LastSeen, probeTransport } from './metrics/index.ts';
import { cprCryptoFor } from './people/key-config.ts';

export interface CentralServiceOptions {
  config: CentralConfig;
  clock?: Clock;
  log?: Logger;
  /** Relative database folders are taken from here (default: the working directory). */
  baseDir?: string;
  /**
   * The mail outbox's timing (poll, retry waits) for an embedding that cannot wait the defaults,
   * such as the tests' centrals; `mail.max_attempts` of the config still applies.
   */
  mailOutbox?: Omit<OutboxOptions, 'max_attempts'>;
}

const RETRANSMIT_EVERY_MS = 250;

/**
 * One central worker: database, link transport, the sites' messages and the HTTP API. Any
 * number of workers may run against one Postgres on a standard broker; the embedded defaults
 * (PGlite, aedes) are one worker.
 */
export class CentralService {
  readonly config: CentralConfig;
  readonly log: Logger;
  private dbRef: Db | undefined;
  private centralRef: Central | undefined;
  private transport: LinkTransport | undefined;
  private app: FastifyInstance | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private inbox: LinkInbox | undefined;
  private linkTls: ServerTlsFiles | undefined;
  private lastSeen: LastSeen | undefined;
  private mailer: Mailer | undefined;
  private outbox: MailOutbox | undefined;
  private stopAutotopup: (() => Promise<void>) | undefined;

  constructor(private readonly opts: CentralServiceOptions) {
    this.config = opts.config;
    this.log = opts.log ?? pino({ name: 'central', level: process.env.LOG_LEVEL ?? 'info' });
  }

  get central(): Central {
    if (!this.centralRef) throw new Error('CentralService: not started');
    return this.centralRef;
  }

  /** Link messages this worker has handled (with several workers, its part of the traffic). */
  get linkMessages(): number {
    return this.inbox?.handled ?? 0;
  }

  /** The CA a site pins for the link (`central.ca_file`), when central's broker speaks TLS. */
  get linkCaFile(): string | undefined {
    return this.linkTls?.ca_file;
  }

  get mqttPort(): number {
    return this.transport?.port ?? 0;
  }

  /** The API's routes with their access declarations (empty before `start`). */
  get routes(): readonly DeclaredRoute[] {
    return this.app ? declaredRoutes(this.app) : [];
  }

  get httpPort(): number {
    const addr = this.app?.server.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  async start(): Promise<void> {
    const { config, log } = this;
    refusePlainLink(config);
    // Before anything opens: an unreadable password or CA file stops the start here.
    this.mailer = new Mailer(config.mail, this.opts.baseDir);
    const dir =
      isAbsolute(config.database.dir) || config.database.dir.startsWith('memory://')
        ? config.database.dir
        : resolve(this.opts.baseDir ?? process.cwd(), config.database.dir);
    if (config.mqtt.mode === 'embedded') {
      const { tls } = config.mqtt;
      this.linkTls =
        tls === 'auto'
          ? await ensureBrokerTls({
              dir: resolve(this.opts.baseDir ?? process.cwd(), config.mqtt.tls_dir),
              ca_file_base: 'central-ca',
              server_file_base: 'central',
              ca_name: 'kantine central CA',
              organisation: 'kantine central',
              names: defaultServerNames(config.mqtt.server_names),
              now: this.opts.clock?.now(),
            })
          : tls === 'off'
            ? undefined
            : tls;
    }
    this.dbRef = config.database.url
      ? await openPostgres(config.database.url, {
          onIdleError: (err) =>
            log.warn({ err: err.message }, 'an idle database connection failed; the pool opens another'),
        })
      : await openPglite(dir);
    const transport: LinkTransport =
      config.mqtt.mode === 'embedded'
        ? new EmbeddedLinkBroker({
            host: config.mqtt.host,
            port: config.mqtt.port,
            tls: this.linkTls,
            siteSecretHash: (site) => this.central.sites.secretHash(site),
            log,
          })
        : new SharedLinkClient({
            url: config.mqtt.url,
            username: config.mqtt.username,
            password: config.mqtt.password,
            ca_file: config.mqtt.ca_file,
            share_group: config.mqtt.share_group,
            clientId: `kantine-central-${randomUUID().slice(0, 8)}`,
            log,
          });
    this.transport = transport;
    const central = new Central(
      this.dbRef,
      this.opts.clock ?? { now: () => new Date() },
      (site, msg) => transport.publish(site, msg),
      {
        cpr: cprCryptoFor(config, {
          baseDir: this.opts.baseDir ?? process.cwd(),
          dbDir: dir,
          onNewKey: (file) =>
            log.warn({ file }, 'made a new CPR key: keep a copy of it apart from the database backups'),
        }),
        identity: identityOf(config, this.opts.baseDir),
        ...(config.payouts ? { payouts: config.payouts } : {}),
        ...(config.payments
          ? {
              payments: {
                config: config.payments,
                adapter: createPspAdapter(config.payments),
                public_url: (config.payments.public_url ?? config.identity?.public_url) as string,
              },
            }
          : {}),
        webshop: config.webshop,
        autotopup: config.autotopup,
      },
    );
    this.centralRef = central;
    await central.migrate();
    central.link.onWithheld = (site, change) =>
      log.error(
        { site, seq: change.seq, kind: change.kind },
        'a change too large for the link was withheld from its site',
      );
    central.link.onSetAside = (site, setAside) =>
      log.error({ site, set_aside: setAside }, 'a site set aside changes it could not apply (down_set_aside)');
    // Mail queued by any worker's transactions; every worker sends its share (docs/operations/mail.md).
    this.outbox = new MailOutbox(
      this.dbRef,
      this.opts.clock ?? { now: () => new Date() },
      this.mailer,
      log.child({ part: 'mail' }),
      { ...this.opts.mailOutbox, max_attempts: config.mail?.max_attempts },
    );
    this.outbox.start();
    const probe = probeTransport(transport);
    const metrics = new CentralMetrics({
      db: this.dbRef,
      probe,
      linkRefused: () => central.link.refused,
      linkResent: () => central.link.resent,
    });
    this.lastSeen = new LastSeen(this.dbRef, log);
    instrumentIngest(central.link, metrics, this.lastSeen);
    central.link.onResync = (site, reason, mark) =>
      log.error(
        { site, reason, mark },
        'a site is ahead of central (restored from a backup?): resyncing it; see restore-report',
      );
    central.link.onResyncHeld = (site, reason) =>
      log.warn(
        { site, reason },
        'a site diverged again just after its resync: its message waits (a lying site, or central restored twice?)',
      );
    const inbox = new LinkInbox(central.link, log);
    this.inbox = inbox;
    await transport.start((site, payload) => inbox.receive(site, payload));
    let webshopTick = 0;
    this.timer = setInterval(() => {
      central.link.retransmit().catch((err: Error) => log.error({ err: err.message }, 'retransmit failed'));
      // — webshop — unpaid orders expire at their deadline; uncollected ones are settled (every ~10 s)
      if (++webshopTick % 10 === 0)
        central.webshop
          .expire()
          .then(() => central.webshop.settleUncollected())
          .catch((err: Error) => log.error({ err: err.message }, 'webshop upkeep failed'));
    }, RETRANSMIT_EVERY_MS);
    this.timer.unref();
    this.stopAutotopup = startAutotopupTimers(central.autotopup, log.child({ part: 'autotopup' }));
    // Payments no webhook settled: every worker asks the provider about its share (SKIP LOCKED).
    const payments = central.payments;
    if (payments) {
      const plog = log.child({ part: 'payments' });
      payments.onProblem = (problem, intent) => plog.error({ intent }, problem);
      let running = false;
      this.reconcileTimer = setInterval(
        () => {
          if (running) return;
          running = true;
          payments
            .reconcile()
            .then(() => central.reconciliation?.daily())
            .then((done) => {
              if (done && done.differences.length > 0)
                plog.error(
                  { date: done.date, differences: done.differences },
                  'reconciliation: the provider and the ledger differ',
                );
            })
            .catch((err: Error) => plog.error({ err: err.message }, 'payment reconciler failed'))
            .finally(() => {
              running = false;
            });
        },
        (config.payments?.reconcile_every_s ?? 15) * 1000,
      );
      this.reconcileTimer.unref();
    }

    const app = Fastify({
      loggerInstance: log.child({ part: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
      bodyLimit: 2 * 1024 * 1024, // a photo fits
      // The audit log's request id: unique across workers and restarts, never the client's.
      genReqId: () => randomUUID(),
      // The browser's address through the operator's reverse proxy, and only through it.
      trustProxy: config.http.trust_proxy.length > 0 ? config.http.trust_proxy : false,
    });
    registerApi(app, {
      central,
      log,
      linkMessages: () => this.linkMessages,
      metrics,
      ops: opsRoutes({ db: this.dbRef, probe, metrics }),
    });
    // The guardians' portal: pages on the same server, behind the same hook (each declares its access).
    registerPortal(app, {
      central,
      clock: this.opts.clock ?? { now: () => new Date() },
      publicUrl: config.identity?.public_url,
      actorOf,
      sessionCsrf,
      log,
    });
    await app.listen({ host: config.http.host, port: config.http.port });
    this.app = app;
    log.info(
      { mqtt_port: this.mqttPort, http_port: this.httpPort, database: this.dbRef.kind, mqtt: config.mqtt.mode },
      'central started',
    );
  }

  async stop(): Promise<void> {
    this.inbox?.stop();
    clearInterval(this.timer);
    await this.stopAutotopup?.();
    clearInterval(this.reconcileTimer);
    await this.app?.close();
    await this.transport?.close();
    await this.inbox?.drained();
    await this.lastSeen?.drained();
    await this.outbox?.stop();
    this.mailer?.close();
    await this.dbRef?.close();
    this.app = undefined;
    this.transport = undefined;
    this.dbRef = undefined;
  }
}

/** The identity section with its client secret read (from the file, if it is in one). */
function identityOf(config: CentralConfig, baseDir = process.cwd()): CentralIdentity | undefined {
  const id = config.identity;
  if (!id) return undefined;
  if (id.client_secret !== undefined) return { config: id, client_secret: id.client_secret };
  const file = resolve(baseDir, id.client_secret_file as string);
  let secret: string;
  try {
    secret = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new KantineError(
      'config_invalid',
      `cannot read identity.client_secret_file ${file}: ${(err as Error).message}`,
      ['/identity/client_secret_file cannot be read'],
    );
  }
  if (!secret) {
    throw new KantineError('config_invalid', `identity.client_secret_file ${file} is empty`, [
      '/identity/client_secret_file is empty',
    ]);
  }
  return { config: id, client_secret: secret };
}

function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost';
}

/**
 * The link carries site secrets, names, photos and allergies: it never leaves this machine in
 * plain text. Central's own broker without TLS listens on loopback only; a standard broker beyond
 * loopback is reached over TLS.
 */
function refusePlainLink(config: CentralConfig): void {
  const { mqtt } = config;
  if (mqtt.mode === 'embedded') {
    if (mqtt.tls === 'off' && !isLoopback(mqtt.host))
      throw new KantineError('link_plain_text', `central's broker listens on ${mqtt.host} with tls "off"`, [
        'mqtt.tls: "off" only with mqtt.host 127.0.0.1',
      ]);
    return;
  }
  const url = parseBrokerUrl(mqtt.url);
  if (!url.secure && !isLoopback(url.host))
    throw new KantineError('link_plain_text', `central's broker ${mqtt.url} is plain MQTT beyond this machine`, [
      'mqtt.url: use mqtts:// (and mqtt.ca_file)',
    ]);
}
