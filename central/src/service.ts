import { randomUUID } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { decodePayload, KantineError, LinkUp, MAX_LINK_PAYLOAD_BYTES } from '@kantine/protocol';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { registerApi } from './api.ts';
import { Central, type Clock } from './central.ts';
import type { CentralConfig } from './config.ts';
import { type Db, openPglite, openPostgres } from './db.ts';
import { EmbeddedLinkBroker, type LinkTransport, SharedLinkClient } from './transport.ts';

export interface CentralServiceOptions {
  config: CentralConfig;
  clock?: Clock;
  log?: Logger;
  /** Relative database folders are taken from here (default: the working directory). */
  baseDir?: string;
}

// A site that sends faster than central applies has at most this many messages waiting here;
// beyond that they are dropped, and the site re-sends them when its acks fall behind.
const MAX_QUEUED_PER_SITE = 1_000;
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
  // One chain of work per site: a worker applies a site's messages in the order they came.
  private readonly queues = new Map<string, { tail: Promise<void>; length: number }>();
  private stopping = false;
  /** Link messages this worker has handled (with several workers, its part of the traffic). */
  linkMessages = 0;

  constructor(private readonly opts: CentralServiceOptions) {
    this.config = opts.config;
    this.log = opts.log ?? pino({ name: 'central', level: process.env.LOG_LEVEL ?? 'info' });
  }

  get central(): Central {
    if (!this.centralRef) throw new Error('CentralService: not started');
    return this.centralRef;
  }

  get mqttPort(): number {
    return this.transport?.port ?? 0;
  }

  get httpPort(): number {
    const addr = this.app?.server.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  async start(): Promise<void> {
    const { config, log } = this;
    if (!config.http.token && !isLoopback(config.http.host)) {
      throw new KantineError('config_invalid', `central's API listens on ${config.http.host}: set http.token`);
    }
    const dir =
      isAbsolute(config.database.dir) || config.database.dir.startsWith('memory://')
        ? config.database.dir
        : resolve(this.opts.baseDir ?? process.cwd(), config.database.dir);
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
            tls: config.mqtt.tls,
            siteSecretHash: (site) => this.central.siteSecretHash(site),
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
    const central = new Central(this.dbRef, this.opts.clock ?? { now: () => new Date() }, (site, msg) =>
      transport.publish(site, msg),
    );
    this.centralRef = central;
    await central.migrate();
    await transport.start((site, payload) => this.onUp(site, payload));
    this.timer = setInterval(() => {
      central.retransmit().catch((err: Error) => log.error({ err: err.message }, 'retransmit failed'));
    }, RETRANSMIT_EVERY_MS);
    this.timer.unref();

    const app = Fastify({
      loggerInstance: log.child({ part: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
      bodyLimit: 2 * 1024 * 1024, // a photo fits
    });
    registerApi(app, this);
    await app.listen({ host: config.http.host, port: config.http.port });
    this.app = app;
    log.info(
      { mqtt_port: this.mqttPort, http_port: this.httpPort, database: this.dbRef.kind, mqtt: config.mqtt.mode },
      'central started',
    );
  }

  /** A site's message: decoded here (the boundary), then applied in the order it came. */
  private onUp(site: string, payload: Buffer): void {
    if (this.stopping) return;
    let msg: LinkUp;
    try {
      msg = decodePayload(LinkUp, payload, MAX_LINK_PAYLOAD_BYTES);
    } catch (err) {
      const e = err as KantineError;
      this.log.warn({ site, code: e.code, details: e.details }, 'refused a link message');
      return;
    }
    const queue = this.queues.get(site) ?? { tail: Promise.resolve(), length: 0 };
    if (queue.length >= MAX_QUEUED_PER_SITE) {
      this.log.warn({ site }, 'link queue full; message dropped (the site re-sends)');
      return;
    }
    queue.length++;
    queue.tail = queue.tail
      .then(() => this.central.handleUp(site, msg))
      .then(() => {
        this.linkMessages++;
      })
      .catch((err: Error) => {
        const code = err instanceof KantineError ? err.code : undefined;
        if (code === 'not_found') this.log.warn({ site, err: err.message }, 'link message for something unknown');
        else this.log.error({ site, err: err.message, t: msg.t }, 'link message failed');
      })
      .finally(() => {
        queue.length--;
      });
    this.queues.set(site, queue);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.app?.close();
    await this.transport?.close();
    await Promise.all([...this.queues.values()].map((q) => q.tail));
    await this.dbRef?.close();
    this.app = undefined;
    this.transport = undefined;
    this.dbRef = undefined;
  }
}

function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost';
}
