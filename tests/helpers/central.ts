import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CentralService, parseCentralConfig, type Scope } from '@kantine/central';
import type { LinkDown } from '@kantine/protocol';
import type { ExecutionContext } from 'ava';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';

export interface TestCentral {
  service: CentralService;
  /** central's broker, for a gateway's `central.url` (TLS) */
  url: string;
  /** central's link CA, for a gateway's `central.ca_file` */
  ca_file: string;
  http: string;
  dir: string;
  /** An admin token, made when central started (what `api` sends unless given another). */
  token: string;
  /** A new token of `scope`, as `kantine-central token add` makes one. */
  tokenFor(scope: Scope, name?: string): Promise<string>;
  /** A call to central's API with `token` (default: the admin token); the body parsed as JSON (undefined when empty). */
  api(
    method: string,
    path: string,
    body?: unknown,
    token?: string | null,
    // biome-ignore lint/suspicious/noExplicitAny: JSON from the API, read field by field in tests
  ): Promise<{ status: number; body: any }>;
  /** Registers a site and returns the gateway's `central` config section for it. */
  addSite(id: string, kind?: 'school' | 'club'): Promise<{ url: string; secret: string; ca_file: string }>;
  stop(): Promise<void>;
  /** Starts it again on the same data (made `persistent`) and ports, after `stop`. */
  restart(): Promise<void>;
}

/** The mail outbox of the tests' centrals: quick to look and to retry. */
export const TEST_MAIL_OUTBOX = { poll_ms: 500, backoff_ms: 1_000, backoff_max_ms: 5_000 };
/**
 * An outbox that does not look within a test: for a test that reads a queued mail's row (once sent,
 * or logged where no relay is set, a row forgets its recipient and content).
 */
export const HELD_MAIL_OUTBOX = { poll_ms: 3_600_000, backoff_ms: 1_000, backoff_max_ms: 5_000 };

/**
 * Central on its embedded defaults (PGlite, aedes), on free ports. Its data is in memory unless
 * the test restarts it (`persistent`).
 */
export async function startCentral(
  t: ExecutionContext,
  more: Record<string, unknown> = {},
  persistent = false,
  /** Central's clock (default: the machine's). */
  clock?: { now(): Date },
): Promise<TestCentral> {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-central-'));
  // Central's warnings and errors are kept, and printed only if the test fails (what went wrong inside).
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  const make = (mqttPort: number, httpPort: number) =>
    new CentralService({
      config: parseCentralConfig({
        database: { dir: persistent ? dir : 'memory://' },
        ...more,
        // A whole `more.mqtt` (with its `mode`) replaces the test broker; without a mode it adds to it
        // (e.g. `tls: 'off'` for a raw-packet test on loopback).
        mqtt:
          more.mqtt && 'mode' in (more.mqtt as object)
            ? more.mqtt
            : {
                mode: 'embedded',
                host: '127.0.0.1',
                port: mqttPort,
                tls_dir: join(dir, 'tls'),
                ...(more.mqtt as Record<string, unknown> | undefined),
              },
        http: { host: '127.0.0.1', port: httpPort, ...(more.http as Record<string, unknown> | undefined) },
      }),
      log,
      ...(clock ? { clock } : {}),
      // A mail the relay did not take (a loaded machine's timeout) is tried again within the tests' waits.
      mailOutbox: TEST_MAIL_OUTBOX,
    });
  let service = make(0, 0);
  await service.start();
  const { token } = await service.central.tokens.add('admin', 'tests');
  const mqttPort = service.mqttPort;
  const httpPort = service.httpPort;
  let running = true;
  t.teardown(async () => {
    if (!t.passed && warnings.length > 0)
      process.stderr.write(`central's warnings and errors in "${t.title}":\n${warnings.join('')}`);
    if (running) await service.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const http = `http://127.0.0.1:${httpPort}`;
  const tc: TestCentral = {
    get service() {
      return service;
    },
    url: `${(more.mqtt as { tls?: unknown } | undefined)?.tls === 'off' ? 'mqtt' : 'mqtts'}://127.0.0.1:${mqttPort}`,
    ca_file: service.linkCaFile as string,
    http,
    dir,
    token,
    async tokenFor(scope, name = `tests-${scope}`) {
      return (await service.central.tokens.add(scope, name)).token;
    },
    async api(method, path, body, as = token) {
      const res = await fetch(`${http}${path}`, {
        method,
        headers: {
          ...(as === null ? {} : { authorization: `Bearer ${as}` }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async addSite(id, kind = 'school') {
      const put = await tc.api('PUT', `/api/sites/${id}`, { name: id, place_kinds: [kind] });
      if (put.status !== 204) throw new Error(`PUT site: ${put.status} ${JSON.stringify(put.body)}`);
      const res = await tc.api('POST', `/api/sites/${id}/secret`);
      return { url: tc.url, secret: res.body.secret as string, ca_file: tc.ca_file };
    },
    async stop() {
      running = false;
      await service.stop();
    },
    async restart() {
      service = make(mqttPort, httpPort);
      await service.start();
      running = true;
    },
  };
  return tc;
}

/**
 * A raw MQTT login at central as a site, with its secret (what a gateway's link does, or an
 * attacker who has the secret): subscribed to the site's down topic, every message kept in `got`.
 */
export async function siteLogin(
  t: ExecutionContext,
  central: TestCentral,
  site: string,
  secret: string,
): Promise<{ client: MqttClient; got: LinkDown[] }> {
  const client = await mqtt.connectAsync(central.url, {
    username: site,
    password: secret,
    clientId: `kantine-site-${site}:raw`, // a site's client ids are its own
    ca: readFileSync(central.ca_file), // the link speaks TLS with central's CA
    reconnectPeriod: 0,
    protocolVersion: 4,
  });
  t.teardown(() => client.endAsync(true));
  const got: LinkDown[] = [];
  client.on('message', (_topic, payload) => got.push(JSON.parse(payload.toString()) as LinkDown));
  await client.subscribeAsync(`kantine/link/${site}/down`, { qos: 1 });
  return { client, got };
}
