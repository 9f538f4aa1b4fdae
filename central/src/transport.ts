import { readFileSync } from 'node:fs';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { LINK_UP_FILTER, type LinkDown, linkTopic, parseLinkTopic } from '@kantine/protocol';
import { verifySecret } from '@kantine/protocol/credentials';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';

/** A message a site sent on its up topic, not yet decoded. */
export type UpHandler = (site: string, payload: Buffer) => void;

/** How central's end of the link meets the sites: its own broker, or a shared standard one. */
export interface LinkTransport {
  start(onUp: UpHandler): Promise<void>;
  /** QoS 1, fire and forget: the link's own acks and re-sends make delivery sure. */
  publish(site: string, message: LinkDown): void;
  close(): Promise<void>;
  /** The port sites connect to (the embedded broker's), or 0. */
  readonly port: number;
}

// CONNACK return code 4, "bad user name or password" [MQTT-3.2.2-3].
const BAD_USERNAME_OR_PASSWORD = 4;

export interface EmbeddedLinkBrokerOptions {
  host: string;
  port: number;
  tls?: { key_file: string; cert_file: string; ca_file?: string | undefined } | undefined;
  /** The stored secret hash of a site that may connect, or undefined. */
  siteSecretHash: (site: string) => Promise<string | undefined>;
  log: Logger;
}

/**
 * Central's embedded broker (aedes). Each gateway logs in as its site (user name = site id,
 * password = the site's secret) and may publish only on its own up topic and subscribe only to
 * its own down topic. Central itself is an in-process subscriber. aedes has no shared
 * subscriptions: this is the one-worker setup (several workers use an external broker).
 */
export class EmbeddedLinkBroker implements LinkTransport {
  private broker: Aedes | undefined;
  private server: Server | undefined;
  private readonly identities = new WeakMap<Client, string>();

  constructor(private readonly opts: EmbeddedLinkBrokerOptions) {}

  get port(): number {
    const addr = this.server?.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  async start(onUp: UpHandler): Promise<void> {
    const { opts } = this;
    const refuse = (what: string, client: Client | null, topic?: string) =>
      opts.log.warn(
        { client_id: client?.id, site: client ? this.identities.get(client) : undefined, topic },
        `refused ${what}`,
      );
    const broker = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        const fail = () => {
          refuse('connect', client);
          const err = new Error('bad site id or secret') as AuthenticateError;
          err.returnCode = BAD_USERNAME_OR_PASSWORD;
          done(err, false);
        };
        if (!username || !password) return fail();
        opts
          .siteSecretHash(username)
          .then((hash) => (hash ? verifySecret(password.toString(), hash) : false))
          .then(
            (ok) => {
              if (!ok) return fail();
              this.identities.set(client, username);
              done(null, true);
            },
            () => fail(),
          );
      },
      authorizePublish: (client, packet, done) => {
        const site = client ? this.identities.get(client) : undefined;
        if (site && packet.topic === linkTopic(site, 'up') && !packet.retain) return done(null);
        refuse('publish', client, packet.topic);
        done(new Error(`topic not allowed: ${packet.topic}`)); // closes the connection
      },
      authorizeSubscribe: (client, sub, done) => {
        const site = this.identities.get(client);
        if (site && sub.topic === linkTopic(site, 'down')) return done(null, sub);
        refuse('subscribe', client, sub.topic);
        done(null, null);
      },
    });
    this.broker = broker;
    broker.on('clientError', (client, err) =>
      opts.log.debug({ client_id: client.id, err: err.message }, 'client error'),
    );
    await new Promise<void>((resolve) =>
      broker.subscribe(
        LINK_UP_FILTER,
        (packet, cb) => {
          const site = parseLinkTopic(packet.topic)?.site;
          if (site) onUp(site, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload));
          cb();
        },
        resolve,
      ),
    );
    const onSocket = (socket: Socket) => {
      socket.setNoDelay(true);
      broker.handle(socket);
    };
    const server = opts.tls
      ? createTlsServer(
          {
            key: readFileSync(opts.tls.key_file),
            cert: readFileSync(opts.tls.cert_file),
            ...(opts.tls.ca_file ? { ca: readFileSync(opts.tls.ca_file) } : {}),
          },
          onSocket,
        )
      : createTcpServer(onSocket);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  publish(site: string, message: LinkDown): void {
    this.broker?.publish(
      {
        cmd: 'publish',
        topic: linkTopic(site, 'down'),
        payload: Buffer.from(JSON.stringify(message)),
        qos: 1,
        retain: false,
        dup: false,
      },
      (err) => {
        if (err) this.opts.log.error({ site, err: err.message }, 'link publish failed');
      },
    );
  }

  async close(): Promise<void> {
    const { server, broker } = this;
    this.server = undefined;
    this.broker = undefined;
    // Close the clients' sockets with the broker, or server.close would wait for them.
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export interface SharedLinkClientOptions {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  ca_file?: string | undefined;
  share_group: string;
  clientId: string;
  log: Logger;
}

/**
 * One central worker on a standard broker. Workers subscribe to the sites' up topics through a
 * shared subscription, so each message goes to one of them; the up-apply locks the site's
 * cursor row, so whichever worker gets a message applies it at most once and in order.
 */
export class SharedLinkClient implements LinkTransport {
  private client: MqttClient | undefined;
  readonly port = 0;

  constructor(private readonly opts: SharedLinkClientOptions) {}

  async start(onUp: UpHandler): Promise<void> {
    const opts = this.opts;
    const client = mqtt.connect(opts.url, {
      clientId: opts.clientId,
      protocolVersion: 4,
      // A clean session: a worker that comes back does not need what it missed — sites re-send
      // whatever central has not acknowledged.
      clean: true,
      keepalive: 10,
      reconnectPeriod: 1_000,
      ...(opts.username ? { username: opts.username } : {}),
      ...(opts.password ? { password: opts.password } : {}),
      ...(opts.ca_file ? { ca: readFileSync(opts.ca_file) } : {}),
      manualConnect: true,
    });
    this.client = client;
    const filter = `$share/${opts.share_group}/${LINK_UP_FILTER}`;
    client.on('message', (topic, payload) => {
      const site = parseLinkTopic(topic)?.site;
      if (site) onUp(site, payload);
    });
    // Every (re)connect subscribes again: a clean session keeps nothing.
    client.on('connect', () => {
      client.subscribe(filter, { qos: 1 }, (err) => {
        if (err) opts.log.error({ err: err.message }, 'link subscribe failed');
      });
    });
    client.on('error', (err) => opts.log.warn({ err: err.message }, 'link broker error'));
    const connected = new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    client.connect();
    try {
      await connected;
    } catch (err) {
      client.end(true);
      this.client = undefined;
      throw err;
    }
  }

  publish(site: string, message: LinkDown): void {
    this.client?.publish(linkTopic(site, 'down'), JSON.stringify(message), { qos: 1 });
  }

  async close(): Promise<void> {
    await this.client?.endAsync();
    this.client = undefined;
  }
}
