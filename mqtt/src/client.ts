import { readFileSync } from 'node:fs';
import { connect as connectTcp, isIP } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { type IClientOptions, MqttClient } from 'mqtt';

/** How a client trusts the broker's certificate (mqtts:// and tls:// only). */
export interface ClientTls {
  /** The CA (PEM file) the broker's certificate is signed by; without it, the system's CAs. */
  ca_file?: string | undefined;
  /** The CA itself, when it is not in a file. */
  ca?: string | Buffer | undefined;
  /** The name the broker's certificate must carry, when it differs from the URL's host. */
  servername?: string | undefined;
}

export interface MqttConnectOptions {
  /** mqtt://, tcp://, mqtts:// or tls:// host and port (1883, or 8883 with TLS, when none is given). */
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  /** A clean session (true), or one the broker keeps while this client is away (false). */
  clean: boolean;
  /** The broker learns of a dead client within ~1.5 × this (its last will then goes out). */
  keepalive_s?: number;
  /** Wait this long between reconnect attempts. */
  reconnect_ms?: number;
  /** Give a connect attempt (TCP, TLS and CONNACK) this long. */
  connect_timeout_ms?: number;
  tls?: ClientTls | undefined;
  will?: IClientOptions['will'];
  /** Do not connect yet: the caller attaches its handlers first and calls `client.connect()`. */
  manualConnect?: boolean;
}

// Ten seconds: a gateway learns of a dead reader (via its last will) within ~15 s, and a link or
// bus client notices a dead broker as soon.
export const KEEPALIVE_S = 10;
export const RECONNECT_MS = 1_000;
// MQTT.js's own default, kept for the clients that never set one.
export const CONNECT_TIMEOUT_MS = 30_000;

/**
 * An MQTT.js client (MQTT 3.1.1) whose every socket, the first and each reconnect's, has
 * TCP_NODELAY set before it connects: with Nagle's algorithm on, one request/response takes
 * ~88 ms instead of ~0.4 ms (facts.md). Every kantine MQTT client is made here.
 */
export function connectMqtt(options: MqttConnectOptions): MqttClient {
  const target = parseBrokerUrl(options.url);
  const ca = options.tls?.ca ?? (options.tls?.ca_file ? readFileSync(options.tls.ca_file) : undefined);
  const servername = options.tls?.servername ?? (isIP(target.host) === 0 ? target.host : undefined);
  // Called by MQTT.js for every (re)connect: each new socket gets TCP_NODELAY before its first byte.
  const openSocket = () => {
    const socket = target.secure
      ? connectTls({
          host: target.host,
          port: target.port,
          ...(ca ? { ca } : {}),
          ...(servername ? { servername } : {}),
        })
      : connectTcp({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    return socket;
  };
  const client = new MqttClient(openSocket, {
    clientId: options.clientId,
    ...(options.username !== undefined ? { username: options.username } : {}),
    ...(options.password !== undefined ? { password: options.password } : {}),
    protocolVersion: 4,
    clean: options.clean,
    keepalive: options.keepalive_s ?? KEEPALIVE_S,
    reconnectPeriod: options.reconnect_ms ?? RECONNECT_MS,
    connectTimeout: options.connect_timeout_ms ?? CONNECT_TIMEOUT_MS,
    ...(options.will ? { will: options.will } : {}),
    manualConnect: true,
  });
  if (!options.manualConnect) client.connect();
  return client;
}

export interface BrokerTarget {
  host: string;
  port: number;
  secure: boolean;
}

const PLAIN_PORT = 1883;
const TLS_PORT = 8883;

/** Host, port and TLS or not of a broker URL (the schemes the config schema accepts). */
export function parseBrokerUrl(url: string): BrokerTarget {
  const parsed = new URL(url);
  const scheme = parsed.protocol.replace(/:$/, '');
  if (!['mqtt', 'tcp', 'mqtts', 'tls'].includes(scheme)) {
    throw new Error(`not an MQTT broker URL (mqtt://, mqtts://, tcp:// or tls://): ${url}`);
  }
  const secure = scheme === 'mqtts' || scheme === 'tls';
  // new URL keeps an IPv6 address in brackets; a socket wants it bare.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost';
  return { host, port: parsed.port ? Number(parsed.port) : secure ? TLS_PORT : PLAIN_PORT, secure };
}

/**
 * Connects a client made with `manualConnect` and waits for its first CONNACK. A first error
 * (broker away, login refused, TLS not trusted) ends the client, so nothing is left reconnecting
 * behind a start that failed, and is thrown.
 */
export async function connectFirst(client: MqttClient): Promise<void> {
  const connected = new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  client.connect();
  try {
    await connected;
  } catch (err) {
    client.end(true);
    throw err;
  }
}
