import { readFileSync } from 'node:fs';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import {
  Aedes,
  type AedesOptions,
  type AuthenticateError,
  type Client,
  type ConnectPacket,
  type PublishPacket,
} from 'aedes';
import { DEFAULT_LOGIN_THROTTLE_LIMITS, LoginThrottle, type LoginThrottleLimits } from './login-throttle.ts';
import { type GateRefusal, PacketGate } from './packet-gate.ts';

/** The broker's own key and certificate (PEM files), and the CA that signed them. */
export interface ServerTlsFiles {
  key_file: string;
  cert_file: string;
  ca_file?: string | undefined;
}

/**
 * Who may connect and what each may do: the broker's whole access policy. `Who` is the caller's
 * own idea of an identity (a reader, an integration, a site).
 */
export interface BrokerAuth<Who> {
  /**
   * Who this user name and password are, or undefined to refuse the connection. Called at most
   * `verifications_concurrent_max` at a time, and only for logins the throttle lets through.
   */
  authenticate(username: string, password: Buffer): Promise<Who | undefined>;
  /**
   * May `who` connect with this client id? A client id names a session, and a new connection
   * with a session's id throws the old one off [MQTT-3.1.4-2]: so each id belongs to one identity.
   */
  mayUseClientId(who: Who, clientId: string): boolean;
  /**
   * May `who` publish this packet? Asked for a last will too, when the client connects with it
   * (a will whose topic it may not publish refuses the connect) and when it is published.
   */
  mayPublish(who: Who, packet: PublishPacket): boolean;
  /** May `who` subscribe to this filter? */
  maySubscribe(who: Who, filter: string): boolean;
  /** Called for every refused connect, publish or subscribe (for logs, metrics and tests). */
  refused?(event: BrokerRefusal<Who>): void;
}

/** Why a connect was refused. */
export type ConnectRefusal =
  /** Wrong or unknown user name or password (or none). */
  | 'credentials'
  /** Too many failed logins from this address, or as this user name, of late: not checked. */
  | 'throttled_source'
  | 'throttled_identity'
  /** Too many logins waiting for a secret check: not checked. */
  | 'busy'
  /** The client id belongs to another identity. */
  | 'client_id'
  /** A last will on a topic this identity may not publish. */
  | 'will'
  /** Too many connections from this address, or in all. */
  | 'connections'
  /** A packet claimed more bytes than the broker takes (before or after login). */
  | GateRefusal;

export interface BrokerRefusal<Who> {
  what: 'connect' | 'publish' | 'subscribe';
  /** For a refused connect: why. */
  reason?: ConnectRefusal;
  /** The remote address of the connection. */
  source?: string | undefined;
  client_id: string | undefined;
  /** Undefined for a refused connect, or a client the broker does not know. */
  who: Who | undefined;
  /** The user name a refused connect gave. */
  username?: string | undefined;
  topic?: string;
}

/**
 * The broker's bounds. Each has a unit in its name; the defaults of aedes's own options are
 * aedes's, the others are kantine's (see each).
 */
export interface BrokerLimits extends LoginThrottleLimits {
  /**
   * Bytes a packet may have before the client has logged in. A CONNECT with a client id, user
   * name, password and a reader's will is a few hundred bytes; aedes would otherwise keep
   * whatever a stranger's fixed header claims (up to 256 MB) in memory.
   */
  before_login_packet_bytes_max: number;
  /** Bytes a packet may have after login: the broker's message bound plus the topic. */
  packet_bytes_max: number;
  /** Connections open at once from one address (one school's readers are each their own). */
  connections_per_source_max: number;
  /** Connections open at once in all. */
  connections_max: number;
  /** A connection that sends no CONNECT within this is closed. */
  connect_timeout_ms: number;
  /** Messages in flight to one client at once before the broker waits for its acks. */
  concurrency: number;
  /** QoS 1/2 messages queued for a client that is not yet ready before new ones are dropped. */
  queue_limit: number;
  /** Inbound QoS 2 messages of one client awaiting PUBREL (0: no bound). */
  max_inflight_inbound: number;
  /** A client whose socket stays unwritable this long is closed (0: never). */
  drain_timeout_ms: number;
  /** A client asking for a keepalive above this (or none) is refused (0: any). */
  keepalive_max_s: number;
  /** Topic levels a publish or subscription may have (aedes clamps to 1–100). */
  topic_levels_max: number;
  /** Client id length allowed under MQTT 3.1 (3.1.1 clients are not bound by it). */
  client_id_length_max: number;
  /** How often the broker announces itself on $SYS. */
  heartbeat_interval_ms: number;
}

export const DEFAULT_BROKER_LIMITS: Readonly<BrokerLimits> = Object.freeze({
  ...DEFAULT_LOGIN_THROTTLE_LIMITS,
  before_login_packet_bytes_max: 4 * 1024,
  // A payload of 16 KiB (the readers' bound) and its topic; a broker with larger messages says so.
  packet_bytes_max: 20 * 1024,
  // A bench or a test runs a few hundred readers from one machine; a site has tens.
  connections_per_source_max: 512,
  connections_max: 4_096,
  // aedes 1.2's defaults: the limits every kantine broker ran with before they were named here.
  connect_timeout_ms: 30_000,
  concurrency: 100,
  queue_limit: 42,
  max_inflight_inbound: 1_000,
  drain_timeout_ms: 60_000,
  keepalive_max_s: 0,
  topic_levels_max: 100,
  client_id_length_max: 23,
  heartbeat_interval_ms: 60_000,
});

export interface MqttServerOptions<Who> {
  host: string;
  port: number;
  /** TLS with these files, or plain MQTT without. */
  tls?: ServerTlsFiles | undefined;
  auth: BrokerAuth<Who>;
  limits?: Partial<BrokerLimits> | undefined;
}

// CONNACK return codes [MQTT-3.2.2-3]: 2 "identifier rejected", 4 "bad user name or password",
// 5 "not authorized".
const CONNACK_CODE: Record<ConnectRefusal, 2 | 4 | 5> = {
  credentials: 4,
  throttled_source: 5,
  throttled_identity: 5,
  busy: 5,
  client_id: 2,
  will: 5,
  connections: 5,
  packet_too_large: 5,
  malformed_length: 5,
};

/**
 * Refusals a flood is made of once it is being cut off: logged at debug, not warn, so that a
 * flood cannot flood the logs (the failures that led to them were logged, and metrics count all).
 */
export function isFloodRefusal(reason: ConnectRefusal | undefined): boolean {
  return (
    reason === 'throttled_source' || reason === 'throttled_identity' || reason === 'busy' || reason === 'connections'
  );
}

/**
 * Does `clientId` belong to the identity whose client ids start with `base`? Either the base
 * itself or the base, a colon and anything: ids hold no colon, so no base is the prefix of another's.
 */
export function clientIdBelongsTo(clientId: string, base: string): boolean {
  return clientId === base || clientId.startsWith(`${base}:`);
}

/** aedes's options for these limits. */
export function aedesLimits(limits: Partial<BrokerLimits> = {}): AedesOptions {
  const l = { ...DEFAULT_BROKER_LIMITS, ...limits };
  return {
    connectTimeout: l.connect_timeout_ms,
    concurrency: l.concurrency,
    queueLimit: l.queue_limit,
    maxInflightInbound: l.max_inflight_inbound,
    drainTimeout: l.drain_timeout_ms,
    keepaliveLimit: l.keepalive_max_s,
    maxTopicLevels: l.topic_levels_max,
    maxClientsIdLength: l.client_id_length_max,
    heartbeatInterval: l.heartbeat_interval_ms,
  };
}

/**
 * An aedes broker behind a TCP or TLS listener. Every accepted socket gets TCP_NODELAY (~0.4 ms
 * instead of ~88 ms a round trip, facts.md); every connect, publish and subscribe goes through the
 * `auth` hooks. The owner subscribes in-process through `broker`. Constructing it does nothing;
 * `start()` listens.
 */
export class MqttServer<Who> {
  private aedes: Aedes | undefined;
  private server: Server | undefined;
  // Who each authenticated connection is.
  private readonly identities = new WeakMap<Client, Who>();
  // Authenticated connections open now (so a revoked one can be closed).
  private readonly open = new Set<Client>();
  // The CONNECT each connection sent (its client id as sent, and its will), until it is decided.
  private readonly connects = new WeakMap<Client, ConnectPacket>();
  // Connections open now per remote address.
  private readonly perSource = new Map<string, number>();
  private readonly limits: BrokerLimits;
  private readonly throttle: LoginThrottle;

  constructor(private readonly opts: MqttServerOptions<Who>) {
    this.limits = { ...DEFAULT_BROKER_LIMITS, ...opts.limits };
    this.throttle = new LoginThrottle(this.limits);
  }

  /** The aedes broker (after `start()`). */
  get broker(): Aedes {
    if (!this.aedes) throw new Error('MqttServer: not started');
    return this.aedes;
  }

  get started(): boolean {
    return this.aedes !== undefined;
  }

  /** The port actually listened on (useful with port 0), or 0. */
  get port(): number {
    const addr = this.server?.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  /** Who an open connection authenticated as. */
  identity(client: Client): Who | undefined {
    return this.identities.get(client);
  }

  /** The TCP or TLS socket under a client's connection. */
  socketOf(client: Client): Socket | undefined {
    return gateOf(client)?.socket;
  }

  /**
   * Makes the broker, runs `prepare` (in-process subscriptions go there, so nothing a client
   * publishes right after it connects is missed), then listens.
   */
  async start(prepare?: (broker: Aedes) => Promise<void> | void): Promise<void> {
    const { auth } = this.opts;
    const refuse = (event: BrokerRefusal<Who>) => auth.refused?.(event);
    const broker = await Aedes.createBroker({
      ...aedesLimits(this.opts.limits),
      preConnect: (client, packet, done) => {
        this.connects.set(client, packet);
        done(null, true);
      },
      authenticate: (client, username, password, done) => {
        const packet = this.connects.get(client);
        this.connects.delete(client);
        const source = gateOf(client)?.source ?? 'unknown';
        const fail = (reason: ConnectRefusal, who?: Who) => {
          refuse({ what: 'connect', reason, source, client_id: packet?.clientId, who, username });
          const err = new Error(`connect refused: ${reason}`) as AuthenticateError;
          err.returnCode = CONNACK_CODE[reason];
          done(err, false);
        };
        if (!packet || username === undefined || password === undefined) return fail('credentials');
        this.throttle
          .login(source, username, () => auth.authenticate(username, password))
          .then(
            (login) => {
              if (!login.ok) return fail(login.why);
              const who = login.who;
              // [MQTT-3.1.3-6] lets a broker name a client that sent no id; here every client names itself.
              if (!auth.mayUseClientId(who, packet.clientId)) return fail('client_id', who);
              // The will is checked as it is stored, with the identity that stores it: by the time it
              // is published its client may be gone.
              if (packet.will && !auth.mayPublish(who, willPacket(packet.will))) return fail('will', who);
              this.identities.set(client, who);
              this.open.add(client);
              gateOf(client)?.loggedIn();
              done(null, true);
            },
            () => fail('credentials'),
          );
      },
      authorizePublish: (client, packet, done) => {
        // `client` is null for a will stored by another broker (a shared store); kantine's
        // brokers share none, so such a will has no identity here and is refused.
        const who = client ? this.identities.get(client) : undefined;
        if (who !== undefined && auth.mayPublish(who, packet)) return done(null);
        refuse({ what: 'publish', client_id: client?.id, who, topic: packet.topic });
        // Closes the connection: MQTT 3.1.1 has no negative PUBACK [MQTT-3.3.5-2].
        done(new Error(`topic not allowed: ${packet.topic}`));
      },
      authorizeSubscribe: (client, sub, done) => {
        const who = this.identities.get(client);
        if (who !== undefined && auth.maySubscribe(who, sub.topic)) return done(null, sub);
        refuse({ what: 'subscribe', client_id: client.id, who, topic: sub.topic });
        done(null, null); // SUBACK 0x80 for this filter [MQTT-3.9.3-2]
      },
    });
    this.aedes = broker;
    broker.on('clientDisconnect', (client) => this.open.delete(client));
    await prepare?.(broker);

    const { limits } = this;
    const onSocket = (socket: Socket) => {
      const source = socket.remoteAddress ?? 'unknown';
      const open = this.perSource.get(source) ?? 0;
      if (open >= limits.connections_per_source_max) {
        refuse({ what: 'connect', reason: 'connections', source, client_id: undefined, who: undefined });
        socket.destroy();
        return;
      }
      this.perSource.set(source, open + 1);
      socket.once('close', () => {
        const left = (this.perSource.get(source) ?? 1) - 1;
        if (left > 0) this.perSource.set(source, left);
        else this.perSource.delete(source);
      });
      socket.setNoDelay(true);
      const gate = new PacketGate(socket, limits.before_login_packet_bytes_max, limits.packet_bytes_max, (reason) =>
        refuse({ what: 'connect', reason, source, client_id: undefined, who: undefined }),
      );
      broker.handle(gate);
    };
    const { tls } = this.opts;
    const server = tls
      ? createTlsServer(
          {
            key: readFileSync(tls.key_file),
            cert: readFileSync(tls.cert_file),
            ...(tls.ca_file ? { ca: readFileSync(tls.ca_file) } : {}),
          },
          onSocket,
        )
      : createTcpServer(onSocket);
    server.maxConnections = limits.connections_max;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  /** Closes every open connection whose identity `gone` says was revoked; returns those closed. */
  disconnect(gone: (who: Who) => boolean): { client_id: string; who: Who }[] {
    const closed: { client_id: string; who: Who }[] = [];
    for (const client of this.open) {
      const who = this.identities.get(client);
      if (who !== undefined && gone(who)) {
        this.open.delete(client);
        closed.push({ client_id: client.id, who });
        client.close();
      }
    }
    return closed;
  }

  async close(): Promise<void> {
    const { server, aedes } = this;
    this.server = undefined;
    this.aedes = undefined;
    // Close the clients' sockets with the broker, or server.close would wait for them.
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The gate a client's connection reads through (every connection the server accepts has one). */
function gateOf(client: Client): PacketGate | undefined {
  return client.conn instanceof PacketGate ? client.conn : undefined;
}

/** A CONNECT's will as the publish it would become. */
function willPacket(will: NonNullable<ConnectPacket['will']>): PublishPacket {
  return {
    cmd: 'publish',
    topic: will.topic,
    payload: will.payload,
    qos: will.qos ?? 0,
    retain: will.retain ?? false,
    dup: false,
  };
}
