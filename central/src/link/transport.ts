import {
  type BrokerLimits,
  clientIdBelongsTo,
  connectFirst,
  connectMqtt,
  isFloodRefusal,
  type MqttClient,
  MqttServer,
  type ServerTlsFiles,
} from '@kantine/mqtt';
import { LINK_UP_FILTER, type LinkDown, linkTopic, MAX_LINK_PAYLOAD_BYTES, parseLinkTopic } from '@kantine/protocol';
import { verifySecret } from '@kantine/protocol/credentials';
import type { Logger } from 'pino';

/** The client id every site's link starts with (see `clientIdBelongsTo`); the gateway's is exactly this. */
export function siteClientIdBase(site: string): string {
  return `kantine-site-${site}`;
}

/** A message a site sent on its up topic, not yet decoded. */
export type UpHandler = (site: string, payload: Buffer) => void;

/** How central's end of the link meets the sites: its own broker, or a shared standard one. */
export interface LinkTransport {
  start(onUp: UpHandler): Promise<void>;
  /**
   * QoS 0, fire and forget: the link's own acks and re-sends make delivery sure (a site's session
   * is clean, so MQTT's QoS 1 would add only a PUBACK each way per site and change — a tenth of
   * the work of a change sent to a thousand sites — and no delivery the link does not make sure of).
   */
  publish(site: string, message: LinkDown): void;
  close(): Promise<void>;
  /** The port sites connect to (the embedded broker's), or 0. */
  readonly port: number;
}

export interface EmbeddedLinkBrokerOptions {
  host: string;
  port: number;
  tls?: ServerTlsFiles | undefined;
  /** The broker's bounds (aedes's defaults where not given). */
  limits?: Partial<BrokerLimits> | undefined;
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
  private server: MqttServer<string> | undefined;
  /** The sites whose down topic a connection has subscribed to now, with those connections. */
  private readonly listening = new Map<string, Set<object>>();
  private readonly sitesOf = new Map<object, Set<string>>();

  constructor(private readonly opts: EmbeddedLinkBrokerOptions) {}

  get port(): number {
    return this.server?.port ?? 0;
  }

  async start(onUp: UpHandler): Promise<void> {
    const { opts } = this;
    const server = new MqttServer<string>({
      host: opts.host,
      port: opts.port,
      tls: opts.tls,
      // A link message is at most MAX_LINK_PAYLOAD_BYTES; its topic and header fit in 4 KiB more.
      limits: { packet_bytes_max: MAX_LINK_PAYLOAD_BYTES + 4 * 1024, ...opts.limits },
      auth: {
        // The user name is the site id, the password the site's secret.
        authenticate: async (username, password) => {
          if (!username) return undefined;
          const hash = await opts.siteSecretHash(username);
          return hash && (await verifySecret(password.toString(), hash)) ? username : undefined;
        },
        // A site's link is `kantine-site-<site>` (the gateway's), so no site takes over another's.
        mayUseClientId: (site, clientId) => clientIdBelongsTo(clientId, siteClientIdBase(site)),
        // Only on its own up topic, a will too (the gateway sets none; central would check one
        // as any message the site sends).
        mayPublish: (site, packet) => packet.topic === linkTopic(site, 'up') && !packet.retain,
        maySubscribe: (site, filter) => filter === linkTopic(site, 'down'),
        refused: ({ what, reason, source, client_id, who, username, topic }) =>
          opts.log[isFloodRefusal(reason) ? 'debug' : 'warn'](
            { reason, source, client_id, site: who ?? username, topic },
            `refused ${what}`,
          ),
      },
    });
    this.server = server;
    await server.start(async (broker) => {
      broker.on('clientError', (client, err) =>
        opts.log.debug({ client_id: client.id, err: err.message }, 'client error'),
      );
      // Who listens on which site's down topic (a site may subscribe only to its own: the ACL).
      broker.on('subscribe', (subs, client) => {
        for (const sub of subs) {
          const topic = parseLinkTopic(sub.topic);
          if (topic?.way !== 'down' || (sub.qos as number) === 128) continue; // 128: refused
          const set = this.listening.get(topic.site) ?? new Set();
          set.add(client);
          this.listening.set(topic.site, set);
          const sites = this.sitesOf.get(client) ?? new Set();
          sites.add(topic.site);
          this.sitesOf.set(client, sites);
        }
      });
      const forget = (client: object, site: string) => {
        const set = this.listening.get(site);
        if (set?.delete(client) && set.size === 0) this.listening.delete(site);
        const sites = this.sitesOf.get(client);
        if (sites?.delete(site) && sites.size === 0) this.sitesOf.delete(client);
      };
      broker.on('unsubscribe', (topics, client) => {
        for (const t of topics) {
          const topic = parseLinkTopic(t);
          if (topic?.way === 'down') forget(client, topic.site);
        }
      });
      broker.on('clientDisconnect', (client) => {
        for (const site of [...(this.sitesOf.get(client) ?? [])]) forget(client, site);
      });
      await new Promise<void>((resolve) =>
        broker.subscribe(
          LINK_UP_FILTER,
          (packet, cb) => {
            const site = parseLinkTopic(packet.topic)?.site;
            if (site) onUp(site, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload));
            // Done in a later turn, never now: aedes's emitter (mqemitter 7) works off the messages
            // waiting beyond its concurrency by recursion, one level per message that completes at
            // once — a thousand sites' acks behind a fan-out overflowed the stack and ended
            // central (docs/benchmarks.md; tests/central-link-fanout.test.ts).
            setImmediate(cb);
          },
          resolve,
        ),
      );
    });
  }

  publish(site: string, message: LinkDown): void {
    if (!this.server?.started) return;
    // Nobody to deliver it to (the site is offline): the broker would drop it — and complete it at
    // once, which is the recursion above again for a change to thousands of offline sites. The site
    // gets it from the down log when it says hello.
    if (!this.listening.has(site)) return;
    this.server.broker.publish(
      {
        cmd: 'publish',
        topic: linkTopic(site, 'down'),
        payload: Buffer.from(JSON.stringify(message)),
        qos: 0,
        retain: false,
        dup: false,
      },
      (err) => {
        if (err) this.opts.log.error({ site, err: err.message }, 'link publish failed');
      },
    );
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.close();
    this.listening.clear();
    this.sitesOf.clear();
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
    const client = connectMqtt({
      url: opts.url,
      clientId: opts.clientId,
      // A clean session: a worker that comes back does not need what it missed — sites re-send
      // whatever central has not acknowledged.
      clean: true,
      ...(opts.username ? { username: opts.username } : {}),
      ...(opts.password ? { password: opts.password } : {}),
      tls: { ca_file: opts.ca_file },
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
    try {
      await connectFirst(client);
    } catch (err) {
      this.client = undefined;
      throw err;
    }
  }

  publish(site: string, message: LinkDown): void {
    this.client?.publish(linkTopic(site, 'down'), JSON.stringify(message), { qos: 0 });
  }

  async close(): Promise<void> {
    await this.client?.endAsync();
    this.client = undefined;
  }
}
