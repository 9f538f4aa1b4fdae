import { EventEmitter } from 'node:events';
import { connectMqtt, type MqttClient } from '@kantine/mqtt';
import {
  type CardRead,
  decodePayload,
  ReaderConfig,
  type ReaderStatus,
  readerSubscribes,
  readerTopic,
} from '@kantine/protocol';
import type { Logger } from 'pino';
import type { CardPort } from './card-port.ts';
import type { ReaderFileConfig } from './config.ts';
import type { Feedback } from './feedback.ts';
import { TapClient, type TapResult } from './tap-client.ts';

/** The release version (a release build sets it; a checkout runs as 0.1.0-dev). */
export const READER_VERSION = process.env.KANTINE_READER_VERSION ?? '0.1.0-dev';

export interface ReaderDaemonEvents {
  result: [result: TapResult, card: CardRead];
  /** A card could not be read whole: no tap was made. */
  misread: [err: Error];
  connected: [];
  config: [config: ReaderConfig];
}

export interface ReaderDaemonOptions {
  config: ReaderFileConfig;
  port: CardPort;
  feedback: Feedback;
  log: Logger;
  /** How often the status with its health counters is re-published while connected (default 60 s). */
  healthIntervalMs?: number;
}

// Short keepalive: the gateway should learn of a dead reader (via its last will) within ~15 s.
const KEEPALIVE_S = 10;
const RECONNECT_MS = 1_000;
const CONNECT_TIMEOUT_MS = 5_000;
// The status (with its health counters) is published again this often while connected.
const HEALTH_INTERVAL_MS = 60_000;

/**
 * The reader: card port → tap → MQTT → decision → feedback. Constructing it does nothing;
 * `start()` connects and starts reading.
 */
export class ReaderDaemon extends EventEmitter<ReaderDaemonEvents> {
  private client: MqttClient | undefined;
  private taps: TapClient | undefined;
  private tillConfig: ReaderConfig | undefined;
  // When this reader last came online (or, before that, was started): the status's `since`.
  private since = new Date();
  private readonly started = Date.now();
  private readonly health = { taps: 0, no_answer: 0, misreads: 0, port_errors: 0, last_tap_at: '' };
  private healthTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ReaderDaemonOptions) {
    super();
  }

  get till(): ReaderConfig | undefined {
    return this.tillConfig;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  private status(state: 'online' | 'offline', reason?: ReaderStatus['reason']): ReaderStatus {
    const { port, config } = this.opts;
    return {
      v: 1,
      reader_id: config.reader_id,
      state,
      ...(reason ? { reason } : {}),
      since: this.since.toISOString(),
      version: READER_VERSION,
      port: { kind: port.kind, ready: port.ready, ...(port.name ? { name: port.name } : {}) },
      ...(state === 'online' ? { health: this.healthNow() } : {}),
    };
  }

  private healthNow(): NonNullable<ReaderStatus['health']> {
    const { last_tap_at, ...counts } = this.health;
    return {
      uptime_s: Math.floor((Date.now() - this.started) / 1000),
      ...counts,
      ...(last_tap_at ? { last_tap_at } : {}),
    };
  }

  async start(): Promise<void> {
    const { config, port, log } = this.opts;
    const statusTopic = readerTopic(config.site, config.reader_id, 'status');
    const client = connectMqtt({
      url: config.broker.url,
      clientId: `reader-${config.reader_id}`,
      username: config.reader_id,
      password: config.broker.secret,
      clean: true,
      keepalive_s: KEEPALIVE_S,
      reconnect_ms: RECONNECT_MS,
      connect_timeout_ms: CONNECT_TIMEOUT_MS,
      tls: { ca_file: config.broker.ca_file },
      will: {
        topic: statusTopic,
        payload: Buffer.from(JSON.stringify(this.status('offline', 'connection_lost'))),
        qos: 1,
        retain: true,
      },
    });
    this.client = client;
    const taps = new TapClient(client, config.site, config.reader_id, {
      answer_timeout_ms: config.answer_timeout_ms,
      resend_interval_ms: config.resend_interval_ms,
    });
    this.taps = taps;
    taps.on('late', (d) => log.warn({ tap_id: d.tap_id, outcome: d.outcome }, 'late decision for a tap given up on'));
    taps.on('invalid', (topic, err) => log.warn({ topic, err }, 'refused a message from the gateway'));

    const publishStatus = () =>
      client.publish(statusTopic, JSON.stringify(this.status('online')), { qos: 1, retain: true });

    client.on('connect', () => {
      this.since = new Date();
      log.info({ url: config.broker.url }, 'connected to gateway');
      client.subscribe(
        readerSubscribes.map((k) => readerTopic(config.site, config.reader_id, k)),
        { qos: 1 },
        (err) => {
          if (err) log.error({ err }, 'subscribe failed');
        },
      );
      publishStatus();
      this.emit('connected');
    });
    this.healthTimer = setInterval(() => {
      if (client.connected) publishStatus();
    }, this.opts.healthIntervalMs ?? HEALTH_INTERVAL_MS).unref();
    client.on('error', (err) => log.warn({ err: err.message }, 'mqtt error'));
    client.on('offline', () => log.warn('gateway unreachable; reconnecting'));
    client.on('message', (topic, payload) => {
      if (topic === readerTopic(config.site, config.reader_id, 'config')) {
        this.applyConfig(payload);
      } else {
        taps.handleMessage(topic, payload);
      }
    });

    port.on('ready', (ready, name) => {
      log.info({ ready, name }, ready ? 'NFC reader ready' : 'NFC reader gone');
      if (client.connected) publishStatus();
    });
    port.on('error', (err) => {
      this.health.port_errors++;
      log.warn({ err: err.message }, 'card port error');
    });
    port.on('misread', (err) => {
      this.health.misreads++;
      log.info({ err: err.message }, 'card not read whole (pulled away?): no tap');
      this.opts.feedback.readFailed();
      this.emit('misread', err);
    });
    port.on('card', (card) => {
      void this.onCard(card);
    });
    await port.start();
  }

  private applyConfig(payload: Buffer): void {
    try {
      const cfg = decodePayload(ReaderConfig, payload);
      this.tillConfig = cfg;
      if (this.taps) {
        this.taps.timing = { answer_timeout_ms: cfg.answer_timeout_ms, resend_interval_ms: cfg.resend_interval_ms };
      }
      this.opts.log.info({ till: cfg.till_id }, 'till config received');
      this.emit('config', cfg);
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'refused till config from gateway');
    }
  }

  private async onCard(card: CardRead): Promise<void> {
    const { feedback, log } = this.opts;
    const taps = this.taps;
    if (!taps) return;
    if (taps.busy) {
      // The till has one basket: a second card while the first is being decided waits its turn.
      log.info('card ignored: a tap is still being decided');
      return;
    }
    const result = await taps.submit(card);
    this.health.taps++;
    this.health.last_tap_at = new Date().toISOString();
    switch (result.kind) {
      case 'decision':
        feedback.decision(result.decision);
        break;
      case 'no_answer':
        this.health.no_answer++;
        feedback.noAnswer();
        break;
      case 'error':
        feedback.error(result.code);
        break;
    }
    log.info({ tap_id: result.tap_id, result: result.kind }, 'tap done');
    this.emit('result', result, card);
  }

  async stop(): Promise<void> {
    const { port, config } = this.opts;
    clearInterval(this.healthTimer);
    await port.stop();
    this.taps?.close();
    const client = this.client;
    if (!client) return;
    if (client.connected) {
      await client
        .publishAsync(
          readerTopic(config.site, config.reader_id, 'status'),
          JSON.stringify(this.status('offline', 'shutdown')),
          {
            qos: 1,
            retain: true,
          },
        )
        .catch(() => undefined);
    }
    await client.endAsync();
  }
}
