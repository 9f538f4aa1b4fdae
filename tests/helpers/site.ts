import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VirtualCard } from '@kantine/card';
import { type Clock, Gateway, hashSecret, type Ledger, parseGatewayConfig } from '@kantine/gateway';
import { type CardRead, type Decision, readerTopic, type Tap } from '@kantine/protocol';
import { type Feedback, parseReaderConfig, ReaderDaemon, SimulatedPort, type TapResult } from '@kantine/reader';
import type { ExecutionContext } from 'ava';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { Agent, fetch as undiciFetch } from 'undici';
import { v7 as uuidv7 } from 'uuid';
import { waitForEvent } from './wait.ts';

export const SITE = 'testskolen';
export const silent = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** Cards of the fixture site. */
export const cards = {
  alma: '04000000000A01', // active, 100,00 kr
  bo: '04000000000B02', // active, 2,00 kr
  blocked: '04000000000C03',
  replaced: '04000000000D04',
  stock: '04000000000E05',
  unknown: '04000000000F06',
} as const;

export const products = {
  ostehoeps: { id: 'ostehoeps', name: 'Ostehøps', category: 'mad', price_ore: 300 },
  yoghurt: { id: 'yoghurt', name: 'Yoghurt', category: 'mad', price_ore: 600 },
  grovbolle: { id: 'stor-grovbolle', name: 'Stor Grovbolle', category: 'mad', price_ore: 500 },
} as const;

/** What a site has of its own, linked or not: a canteen, two tills and three products. */
export function seedPlaces(ledger: Ledger): void {
  ledger.catalogue.upsertPlace({ id: 'kantinen', name: 'Kantinen', kind: 'school' });
  ledger.catalogue.upsertTill({ id: 'till-1', place_id: 'kantinen', name: 'Kasse 1' });
  ledger.catalogue.upsertTill({ id: 'till-2', place_id: 'kantinen', name: 'Kasse 2' });
  for (const p of Object.values(products)) ledger.catalogue.upsertProduct({ ...p, place_id: 'kantinen' });
}

/** The fixture site: its places, two children and problem cards. */
export function seedFixture(ledger: Ledger): void {
  seedPlaces(ledger);
  ledger.accounts.putAccount({ id: 'acc-alma', first_name: 'Alma' });
  ledger.entries.deposit({ account_id: 'acc-alma', amount_ore: 10_000 });
  ledger.accounts.putAccount({ id: 'acc-bo', first_name: 'Bo' });
  ledger.entries.deposit({ account_id: 'acc-bo', amount_ore: 200 });
  ledger.accounts.putCard({ uid: cards.alma, account_id: 'acc-alma', state: 'active' });
  ledger.accounts.putCard({ uid: cards.bo, account_id: 'acc-bo', state: 'active' });
  ledger.accounts.putCard({ uid: cards.blocked, account_id: 'acc-alma', state: 'blocked' });
  ledger.accounts.putCard({ uid: cards.replaced, account_id: 'acc-bo', state: 'replaced' });
  ledger.accounts.putCard({ uid: cards.stock, account_id: null, state: 'stock' });
}

export interface TestSite {
  gateway: Gateway;
  ledger: Ledger;
  url: string;
  /** The gateway's HTTP address: https://127.0.0.1:port, or http:// when the test asked for plain loopback HTTP. */
  http: string;
  /** The site CA (PEM) the gateway's HTTPS certificate is signed by; undefined on plain HTTP. */
  ca: string | undefined;
  /** fetch that trusts the site CA (and only it) for `http`. */
  fetch: typeof fetch;
  /** A reader with credentials on a till; returns its secret. */
  enrol(readerId: string, tillId: string): Promise<string>;
  /** A real reader daemon with a simulated card port, connected and configured. */
  reader(
    readerId: string,
    tillId?: string,
    timing?: { answer_timeout_ms: number; resend_interval_ms: number },
  ): Promise<TestReader>;
  /** A raw MQTT client logged in as a reader: for readers that misbehave. */
  rawClient(readerId: string, secret: string): Promise<MqttClient>;
  /** Logs the fixture's member of staff in to a till; returns the session cookie. */
  login(tillId?: string): Promise<string>;
  /** A till API call with a staff session for that till (logged in on first use). */
  api(tillId: string, method: string, path: string, body?: unknown): Promise<Response>;
}

/** The fixture's member of staff. */
export const STAFF = { id: 'anne', name: 'Anne', pin: '2468' } as const;
let staffPinHash: Promise<string> | undefined;

export interface TestReader {
  daemon: ReaderDaemon;
  port: SimulatedPort;
  feedback: RecordingFeedback;
  /** Taps a card (a UID-only card, or a card twin) and resolves with the reader's result. */
  tap(card: string | VirtualCard): Promise<TapResult>;
}

export class RecordingFeedback implements Feedback {
  readonly shown: string[] = [];
  decision(d: Decision): void {
    this.shown.push(d.outcome === 'declined' ? `declined:${d.code}` : d.outcome);
  }
  noAnswer(): void {
    this.shown.push('no_answer');
  }
  error(code: string): void {
    this.shown.push(`error:${code}`);
  }
  readFailed(): void {
    this.shown.push('read_failed');
  }
}

export async function startSite(
  t: ExecutionContext,
  options: {
    clock?: Clock;
    mqtt?: { mode: 'external'; url: string };
    site?: string;
    /** More gateway config (e.g. `cards`, `central`). */
    config?: Record<string, unknown>;
    /** Only the site's own places, tills and products: accounts and cards come from central. */
    linked?: boolean;
    /** The gateway's logger (default: silent). */
    log?: pino.Logger;
    /** How often readers re-publish their status with health counters (default: the reader's). */
    readerHealthMs?: number;
    /**
     * HTTPS with the site CA, as a real site runs (default: plain HTTP on loopback, which the
     * gateway allows there only, so that tests can use the global fetch).
     */
    https?: boolean;
  } = {},
): Promise<TestSite> {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-test-'));
  const site = options.site ?? SITE;
  const config = parseGatewayConfig({
    site: { id: site, name: 'Testskolen' },
    database: join(dir, 'gateway.db'),
    // Plain MQTT unless a test asks for the default (TLS with the site CA: tests/enrolment.test.ts).
    mqtt: options.mqtt ?? { mode: 'embedded', host: '127.0.0.1', port: 0, tls: 'off' },
    http: { host: '127.0.0.1', port: 0, tls: options.https ? 'auto' : 'off' },
    ...options.config,
  });
  const gateway = new Gateway({
    config,
    log: options.log ?? silent,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  await gateway.start();
  if (options.linked) seedPlaces(gateway.ledger);
  else seedFixture(gateway.ledger);
  staffPinHash ??= hashSecret(STAFF.pin);
  gateway.ledger.staff.putStaff({ id: STAFF.id, name: STAFF.name, pin_hash: await staffPinHash });
  const http = gateway.httpUrl;
  const ca = gateway.httpTls?.ca_file ? readFileSync(gateway.httpTls.ca_file, 'utf8') : undefined;
  const fetchSite = trustingFetch(ca);
  const cookies = new Map<string, string>();
  const url = options.mqtt?.url ?? `mqtt://127.0.0.1:${gateway.mqttPort}`;
  const closers: (() => Promise<void>)[] = [];
  t.teardown(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await gateway.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const testSite: TestSite = {
    gateway,
    ledger: gateway.ledger,
    url,
    http,
    ca,
    fetch: fetchSite,
    async login(tillId = 'till-1') {
      const res = await fetchSite(`${http}/api/kiosk/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ till_id: tillId, staff_id: STAFF.id, pin: STAFF.pin }),
      });
      if (res.status !== 200) throw new Error(`login to ${tillId}: ${res.status} ${await res.text()}`);
      const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      cookies.set(tillId, cookie);
      return cookie;
    },
    async api(tillId, method, path, body) {
      const cookie = cookies.get(tillId) ?? (await testSite.login(tillId));
      return fetchSite(`${http}/api/tills/${tillId}${path}`, {
        method,
        headers: { cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
    },
    enrol: (readerId, tillId) => gateway.addReader(readerId, tillId),
    async reader(readerId, tillId = 'till-1', timing) {
      const secret = await gateway.addReader(readerId, tillId);
      const port = new SimulatedPort();
      const feedback = new RecordingFeedback();
      const daemon = new ReaderDaemon({
        config: parseReaderConfig({
          reader_id: readerId,
          site,
          broker: { url, secret },
          port: { kind: 'sim' },
          ...(timing ?? {}),
        }),
        port,
        feedback,
        log: silent,
        ...(options.readerHealthMs ? { healthIntervalMs: options.readerHealthMs } : {}),
      });
      const configured = waitForEvent(daemon, 'config');
      await daemon.start();
      await configured;
      closers.push(() => daemon.stop());
      return {
        daemon,
        port,
        feedback,
        tap: async (card) => {
          const uid = typeof card === 'string' ? card : card.uid.toString('hex').toUpperCase();
          const done = waitForEvent<[TapResult, CardRead]>(daemon, 'result', (_r, card) => card.uid === uid, 15_000);
          port.tap(card);
          return (await done)[0];
        },
      };
    },
    async rawClient(readerId, secret) {
      const client = await mqtt.connectAsync(url, {
        clientId: `reader-${readerId}:raw-${uuidv7().slice(-6)}`, // a reader's client ids are its own
        username: readerId,
        password: secret,
        reconnectPeriod: 0,
        protocolVersion: 4,
      });
      closers.push(() => client.endAsync(true));
      return client;
    },
  };
  return testSite;
}

/** fetch that trusts this CA only (the global fetch when there is none: plain HTTP). */
export function trustingFetch(ca: string | undefined): typeof fetch {
  if (!ca) return fetch;
  const dispatcher = new Agent({ connect: { ca } });
  return ((input: string | URL, init?: RequestInit) =>
    undiciFetch(input, { ...(init as object), dispatcher } as Parameters<
      typeof undiciFetch
    >[1])) as unknown as typeof fetch;
}

export function makeTap(readerId: string, card: string | CardRead, tapId = uuidv7()): Tap {
  return {
    v: 1,
    tap_id: tapId,
    reader_id: readerId,
    card: typeof card === 'string' ? { kind: 'legacy', uid: card } : card,
    read_at: new Date().toISOString(),
    age_ms: 0,
    attempt: 1,
  };
}

/** Publishes a tap as a raw reader and waits for its decision. */
export async function rawTap(client: MqttClient, tap: Tap, site = SITE): Promise<Decision> {
  const topic = readerTopic(site, tap.reader_id, 'decision');
  await client.subscribeAsync(topic, { qos: 1 });
  const got = waitForEvent<[string, Buffer]>(
    client,
    'message',
    (tp, payload) => tp === topic && (JSON.parse(payload.toString()) as Decision).tap_id === tap.tap_id,
  );
  await client.publishAsync(readerTopic(site, tap.reader_id, 'tap'), JSON.stringify(tap), { qos: 1 });
  const [, payload] = await got;
  return JSON.parse(payload.toString()) as Decision;
}

export function purchaseCount(ledger: Ledger): number {
  return (ledger.db.prepare("SELECT COUNT(*) AS n FROM entries WHERE kind = 'purchase'").get() as { n: number }).n;
}
