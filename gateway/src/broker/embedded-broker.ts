import {
  type Aedes,
  type BrokerLimits,
  type BrokerRefusal,
  type ConnectRefusal,
  clientIdBelongsTo,
  isFloodRefusal,
  MqttServer,
  type ServerTlsFiles,
} from '@kantine/mqtt';
import { MAX_PAYLOAD_BYTES } from '@kantine/protocol';
import { verifySecret } from '@kantine/protocol/credentials';
import type { Logger } from 'pino';
import {
  benchEchoTopic,
  INTEGRATION_USER_PREFIX,
  integrationClientIdBase,
  integrationMaySubscribe,
  readerClientIdBase,
  readerMayPublish,
  readerMaySubscribe,
} from './acl.ts';
import type { MessageBus, MessageHandler, PublishOptions } from './bus.ts';

export interface EmbeddedBrokerOptions {
  site: string;
  host: string;
  port: number;
  tls?: ServerTlsFiles | undefined;
  /** The broker's bounds (aedes's defaults where not given). */
  limits?: Partial<BrokerLimits> | undefined;
  /** The stored secret hash of a reader that may connect, or undefined. */
  readerSecretHash: (readerId: string) => string | undefined;
  /** The same for an integration (user name `integration:<id>`). */
  integrationSecretHash: (integrationId: string) => string | undefined;
  benchEcho: boolean;
  log: Logger;
  /** Called for every refused connect, publish or subscribe (for logs, metrics and tests). */
  onRefused?: (event: RefusedEvent) => void;
}

export interface RefusedEvent {
  what: 'connect' | 'publish' | 'subscribe';
  /** For a refused connect: why (a wrong secret, throttled, another's client id, …). */
  reason?: ConnectRefusal;
  /** The remote address, for a refused connect. */
  source?: string;
  client_id: string | undefined;
  reader_id: string | undefined;
  integration_id?: string | undefined;
  topic?: string;
}

/** Who an authenticated connection is. */
export type Identity = { kind: 'reader'; id: string } | { kind: 'integration'; id: string };

/**
 * The site's own MQTT broker (aedes), with one identity per reader and an ACL. The gateway's
 * core is an in-process subscriber: a tap reaches it without a second network hop.
 */
export class EmbeddedBroker implements MessageBus {
  private server: MqttServer<Identity> | undefined;
  private readonly subscriptions: { filter: string; handler: MessageHandler }[] = [];

  constructor(private readonly opts: EmbeddedBrokerOptions) {}

  private get broker(): Aedes | undefined {
    return this.server?.started ? this.server.broker : undefined;
  }

  /** The port actually listened on (useful with port 0). */
  get port(): number {
    return this.server?.port ?? 0;
  }

  async start(): Promise<void> {
    const { opts } = this;
    const isEcho = (readerId: string, topic: string, dir: 'req' | 'res') =>
      opts.benchEcho && topic === benchEchoTopic(opts.site, readerId, dir);

    const server = new MqttServer<Identity>({
      host: opts.host,
      port: opts.port,
      tls: opts.tls,
      // A reader's message is at most MAX_PAYLOAD_BYTES; its topic and header fit in 4 KiB more.
      limits: { packet_bytes_max: MAX_PAYLOAD_BYTES + 4 * 1024, ...opts.limits },
      auth: {
        authenticate: async (username, password) => {
          const identity = parseUser(username);
          const hash =
            identity?.kind === 'reader'
              ? opts.readerSecretHash(identity.id)
              : identity
                ? opts.integrationSecretHash(identity.id)
                : undefined;
          if (!identity || !hash) return undefined;
          return (await verifySecret(password.toString(), hash)) ? identity : undefined;
        },
        // A reader is `reader-<id>`, an integration `integration:<id>` (each may add `:<anything>`):
        // no login can take over another's session.
        mayUseClientId: (who, clientId) =>
          clientIdBelongsTo(
            clientId,
            who.kind === 'reader' ? readerClientIdBase(who.id) : integrationClientIdBase(who.id),
          ),
        // An integration publishes nothing: not a tap, not a decision, not an event, not a will.
        mayPublish: (who, packet) =>
          who.kind === 'reader' &&
          (readerMayPublish(opts.site, who.id, packet.topic) || isEcho(who.id, packet.topic, 'req')),
        maySubscribe: (who, filter) =>
          who.kind === 'reader'
            ? readerMaySubscribe(opts.site, who.id, filter) || isEcho(who.id, filter, 'res')
            : integrationMaySubscribe(opts.site, filter),
        refused: (refusal) => {
          const event = refusedEvent(refusal);
          opts.log[isFloodRefusal(event.reason) ? 'debug' : 'warn'](event, `refused ${event.what}`);
          opts.onRefused?.(event);
        },
      },
    });
    this.server = server;
    await server.start(async (broker) => {
      for (const { filter, handler } of this.subscriptions) await this.attach(filter, handler);
      broker.on('clientError', (client, err) => {
        opts.log.debug({ client_id: client.id, err: err.message }, 'client error');
      });
    });
  }

  async subscribe(filter: string, handler: MessageHandler): Promise<void> {
    this.subscriptions.push({ filter, handler });
    if (this.broker) await this.attach(filter, handler);
  }

  private attach(filter: string, handler: MessageHandler): Promise<void> {
    const broker = this.broker;
    if (!broker) throw new Error('EmbeddedBroker: not started');
    return new Promise((resolve) => {
      broker.subscribe(
        filter,
        (packet, cb) => {
          handler(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload));
          cb();
        },
        resolve,
      );
    });
  }

  publish(topic: string, payload: string | Buffer, options: PublishOptions): void {
    if (!this.broker) {
      this.opts.log.error({ topic }, 'publish while not started; dropped');
      return;
    }
    this.broker.publish(
      {
        cmd: 'publish',
        topic,
        payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
        qos: options.qos,
        retain: options.retain ?? false,
        dup: false,
      },
      (err) => {
        if (err) this.opts.log.error({ topic, err: err.message }, 'publish failed');
      },
    );
  }

  /** Closes the connection of every reader or integration `gone` says was revoked since it connected. */
  disconnectRevoked(gone: (who: Identity) => boolean): number {
    const closed = this.server?.disconnect(gone) ?? [];
    for (const { who, client_id } of closed) {
      this.opts.log.warn({ ...named(who), client_id }, 'revoked: connection closed');
    }
    return closed.length;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.close();
  }
}

function parseUser(username: string | undefined): Identity | undefined {
  if (!username) return undefined;
  if (username.startsWith(INTEGRATION_USER_PREFIX)) {
    const id = username.slice(INTEGRATION_USER_PREFIX.length);
    return id ? { kind: 'integration', id } : undefined;
  }
  return { kind: 'reader', id: username };
}

function refusedEvent(refusal: BrokerRefusal<Identity>): RefusedEvent {
  // A refused connect names whom it claimed to be.
  const who = refusal.what === 'connect' ? parseUser(refusal.username) : refusal.who;
  return {
    what: refusal.what,
    ...(refusal.reason !== undefined ? { reason: refusal.reason } : {}),
    ...(refusal.source !== undefined ? { source: refusal.source } : {}),
    client_id: refusal.client_id,
    ...named(who),
    ...(refusal.topic !== undefined ? { topic: refusal.topic } : {}),
  };
}

function named(who: Identity | undefined): { reader_id: string | undefined; integration_id?: string } {
  if (who?.kind === 'integration') return { reader_id: undefined, integration_id: who.id };
  return { reader_id: who?.id };
}
