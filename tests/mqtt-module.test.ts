import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect as connectTcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BrokerLimits,
  type BrokerRefusal,
  clientIdBelongsTo,
  connectFirst,
  connectMqtt,
  LoginThrottle,
  type MqttConnectOptions,
  MqttServer,
  parseBrokerUrl,
  type ServerTlsFiles,
} from '@kantine/mqtt';
import type { Client } from 'aedes';
import test, { type ExecutionContext } from 'ava';
import type { MqttClient } from 'mqtt';
import { waitForEvent } from './helpers/wait.ts';

// The kernel's own word on TCP_NODELAY: getsockopt(fd, IPPROTO_TCP, TCP_NODELAY) through koffi
// (already the reader's way to libpcsclite). Node can set the option but never reads it back.
const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;
const getsockopt = (() => {
  const koffi = createRequire(import.meta.url)('koffi') as {
    load(lib: string): { func(signature: string): (...args: unknown[]) => number };
  };
  return koffi
    .load('libc.so.6')
    .func('int getsockopt(int fd, int level, int name, _Out_ int *value, _Inout_ uint32_t *length)');
})();

/** Is Nagle's algorithm off on this socket (plain or TLS, client or server side)? */
function noDelay(socket: unknown): boolean {
  // A TLS socket's handle wraps the TCP handle that holds the descriptor.
  const handle = (socket as { _handle?: { fd?: number; _parent?: { fd?: number } } })._handle;
  const fd = handle?.fd !== undefined && handle.fd >= 0 ? handle.fd : handle?._parent?.fd;
  if (fd === undefined || fd < 0) throw new Error('no file descriptor on this socket');
  const value = [0];
  if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, value, [4]) !== 0) throw new Error('getsockopt failed');
  return value[0] !== 0;
}

type Who = { user: string };
const SECRET = 'the-right-secret';

/**
 * A broker whose users are anyone with SECRET; `user` may publish and subscribe under `user/…`,
 * with client ids `user` or `user:…`.
 */
async function startServer(
  t: ExecutionContext,
  options: { tls?: ServerTlsFiles; limits?: Partial<BrokerLimits> } = {},
) {
  const refusals: BrokerRefusal<Who>[] = [];
  const server = new MqttServer<Who>({
    host: '127.0.0.1',
    port: 0,
    tls: options.tls,
    limits: options.limits,
    auth: {
      authenticate: async (username, password) => (password.toString() === SECRET ? { user: username } : undefined),
      mayUseClientId: (who, clientId) => clientIdBelongsTo(clientId, who.user),
      mayPublish: (who, packet) => packet.topic.startsWith(`${who.user}/`),
      maySubscribe: (who, filter) => filter.startsWith(`${who.user}/`),
      refused: (event) => refusals.push(event),
    },
  });
  await server.start();
  t.teardown(() => server.close());
  return { server, refusals };
}

function client(t: ExecutionContext, options: Partial<MqttConnectOptions> & { url: string }): MqttClient {
  const c = connectMqtt({
    clientId: `alice:${Math.random().toString(16).slice(2)}`,
    username: 'alice',
    password: SECRET,
    clean: true,
    reconnect_ms: 0, // the one test of a reconnect asks for it
    manualConnect: true,
    ...options,
  });
  c.on('error', () => undefined); // asserted where it matters
  t.teardown(() => c.endAsync(true));
  return c;
}

/** The socket under a connection the server accepted (aedes reads it through the server's packet gate). */
function socketOf(server: MqttServer<Who>, c: Client | undefined) {
  return c && server.socketOf(c);
}

/** A self-signed certificate for 127.0.0.1 (its own CA), made with openssl. */
function makeCertificate(t: ExecutionContext): ServerTlsFiles & { ca_file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-mqtt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=kantine test broker',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      'broker.key',
      '-out',
      'broker.crt',
    ],
    { cwd: dir, stdio: 'pipe' },
  );
  return { key_file: join(dir, 'broker.key'), cert_file: join(dir, 'broker.crt'), ca_file: join(dir, 'broker.crt') };
}

test('every client it makes has TCP_NODELAY on its socket, and so has every socket the server accepts, after a reconnect too', async (t) => {
  const { server } = await startServer(t);
  const accepted: Client[] = [];
  server.broker.on('client', (c) => accepted.push(c));
  const c = client(t, { url: `mqtt://127.0.0.1:${server.port}`, reconnect_ms: 50 });
  await connectFirst(c);
  const first = c.stream;
  t.true(noDelay(first), 'client, first connect');
  t.true(noDelay(socketOf(server, accepted[0])), 'server side, first connect');

  // The broker drops the client; MQTT.js opens a new socket, which must have it too.
  const again = waitForEvent(c, 'connect');
  t.is(server.disconnect((who) => who.user === 'alice').length, 1);
  await again;
  t.not(c.stream, first);
  t.true(noDelay(c.stream), 'client, after a reconnect');
  t.true(noDelay(socketOf(server, accepted[1])), 'server side, after a reconnect');
  await c.endAsync(); // before the broker goes, or it would reconnect
});

test('a TLS server refuses a client without its CA and takes one with it, TCP_NODELAY on both ends', async (t) => {
  const tls = makeCertificate(t);
  const { server } = await startServer(t, { tls });
  const accepted: Client[] = [];
  server.broker.on('client', (c) => accepted.push(c));
  const url = `mqtts://127.0.0.1:${server.port}`;

  const untrusting = client(t, { url });
  const err = (await t.throwsAsync(connectFirst(untrusting))) as Error & { code?: string };
  t.regex(err.code ?? '', /SELF_SIGNED|UNABLE_TO_VERIFY/);
  t.is(accepted.length, 0);

  const trusting = client(t, { url, tls: { ca_file: tls.ca_file } });
  await connectFirst(trusting);
  t.true(noDelay(trusting.stream), 'client');
  t.true(noDelay(socketOf(server, accepted[0])), 'server side');
});

test('the auth hooks decide who connects, publishes and subscribes, and each refusal is reported', async (t) => {
  const { server, refusals } = await startServer(t);
  const url = `mqtt://127.0.0.1:${server.port}`;

  const wrong = client(t, { url, password: 'not-the-secret' });
  const err = (await t.throwsAsync(connectFirst(wrong))) as Error & { code?: number };
  t.is(err.code, 4); // CONNACK "bad user name or password"
  t.like(refusals.at(-1), { what: 'connect', username: 'alice', who: undefined });

  const alice = client(t, { url });
  await connectFirst(alice);
  t.deepEqual(await alice.subscribeAsync('alice/#', { qos: 1 }).then((g) => g.map((s) => s.qos)), [1]);
  // SUBACK 0x80 for a filter the hook refuses (MQTT.js turns it into an error).
  const refused = (await t.throwsAsync(alice.subscribeAsync('bob/#', { qos: 1 }))) as Error & {
    packet?: { granted?: number[] };
  };
  t.deepEqual(refused.packet?.granted, [128]);
  t.like(refusals.at(-1), { what: 'subscribe', who: { user: 'alice' }, topic: 'bob/#' });

  const closed = waitForEvent(alice, 'close');
  alice.publish('bob/inbox', 'hi', { qos: 1 });
  await closed; // MQTT 3.1.1 has no negative PUBACK: the broker closes the connection
  t.like(refusals.at(-1), { what: 'publish', who: { user: 'alice' }, topic: 'bob/inbox' });
});

test('limits are applied: a keepalive above the bound is refused, a silent connection is closed', async (t) => {
  const { server } = await startServer(t, { limits: { keepalive_max_s: 5, connect_timeout_ms: 200 } });
  const url = `mqtt://127.0.0.1:${server.port}`;

  const lazy = client(t, { url, keepalive_s: 60 });
  const err = (await t.throwsAsync(connectFirst(lazy))) as Error & { code?: number };
  t.is(err.code, 6); // aedes's CONNACK for a keepalive outside the broker's bound
  await connectFirst(client(t, { url, keepalive_s: 5 }));

  // A socket that never sends CONNECT is closed after connect_timeout_ms.
  const silent: Socket = connectTcp({ host: '127.0.0.1', port: server.port });
  t.teardown(() => silent.destroy());
  silent.on('error', () => undefined);
  // Within the bound, not aedes's default 30 s (the wait throws then).
  await waitForEvent(silent, 'close', () => true, 5_000);
  t.is(silent.bytesRead, 0, 'closed by the broker without a word');
});

test('the login throttle runs at most two secret checks at once and refuses a login when its queue is full', async (t) => {
  const throttle = new LoginThrottle({ verifications_concurrent_max: 2, verifications_waiting_max: 3 });
  let running = 0;
  let most = 0;
  const finish: (() => void)[] = [];
  const check = () =>
    new Promise<undefined>((resolve) => {
      running += 1;
      most = Math.max(most, running);
      finish.push(() => {
        running -= 1;
        resolve(undefined);
      });
    });
  const logins = Array.from({ length: 6 }, (_, i) => throttle.login(`10.0.0.${i}`, 'reader-1', check));
  t.deepEqual(await logins[5], { ok: false, why: 'busy' }, 'the sixth finds two running and three waiting');
  while (finish.length > 0 || running > 0) {
    finish.shift()?.();
    await new Promise((r) => setImmediate(r));
  }
  t.is(most, 2);
  t.deepEqual(
    (await Promise.all(logins)).map((l) => (l.ok ? 'ok' : l.why)),
    ['credentials', 'credentials', 'credentials', 'credentials', 'credentials', 'busy'],
  );
});

test('a login from where that name has logged in before goes ahead of a queue of strangers', async (t) => {
  const throttle = new LoginThrottle({ verifications_concurrent_max: 1, verifications_waiting_max: 3 });
  const order: string[] = [];
  const finish: (() => void)[] = [];
  const check = (name: string, who: { user: string } | undefined) => () =>
    new Promise<{ user: string } | undefined>((resolve) => {
      order.push(name);
      finish.push(() => resolve(who));
    });
  // Ends the checks one by one, in the order the throttle starts them, until none is left.
  const settle = async (login: Promise<unknown>) => {
    await new Promise((r) => setImmediate(r));
    while (finish.length > 0) {
      finish.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    return login;
  };
  await settle(throttle.login('10.0.0.9', 'reader-1', check('home', { user: 'reader-1' })));

  const strangers = [1, 2, 3, 4].map((i) =>
    throttle.login(`10.0.1.${i}`, 'reader-1', check(`stranger-${i}`, undefined)),
  );
  const home = throttle.login('10.0.0.9', 'reader-1', check('home again', { user: 'reader-1' }));
  t.like(await settle(home), { ok: true });
  t.deepEqual(order, ['home', 'stranger-1', 'home again', 'stranger-2', 'stranger-3', 'stranger-4']);
  t.deepEqual(
    (await Promise.all(strangers)).map((l) => (l.ok ? 'ok' : l.why)),
    ['credentials', 'credentials', 'credentials', 'credentials'],
  );
});

test('the login throttle counts failures by address and by user name, each in its window', async (t) => {
  let now = 0;
  const throttle = new LoginThrottle(
    { failures_per_source_max: 3, failures_per_identity_max: 4, failure_window_ms: 60_000 },
    () => now,
  );
  const wrong = async () => undefined;
  const right = async () => ({ user: 'reader-1' });
  const why = async (source: string, user: string, check: () => Promise<{ user: string } | undefined>) => {
    const l = await throttle.login(source, user, check);
    return l.ok ? 'ok' : l.why;
  };

  t.is(await why('10.0.0.9', 'reader-1', right), 'ok'); // where reader-1 stands
  for (let i = 0; i < 3; i++) t.is(await why('10.0.0.1', 'reader-1', wrong), 'credentials');
  t.is(await why('10.0.0.1', 'reader-1', right), 'throttled_source', 'not even the right secret is checked');
  t.is(await why('10.0.0.1', 'reader-2', wrong), 'throttled_source');
  t.is(await why('10.0.0.2', 'reader-1', wrong), 'credentials');
  t.is(await why('10.0.0.3', 'reader-1', wrong), 'throttled_identity', 'four failures as reader-1 this window');
  t.is(await why('10.0.0.9', 'reader-1', right), 'ok', 'reader-1 still logs in from where it has before');

  now += 60_000; // a new window
  t.is(await why('10.0.0.1', 'reader-1', wrong), 'credentials');
  t.is(await why('10.0.0.3', 'reader-1', right), 'ok');
});

test('a broker URL gives host, port and TLS, with the standard ports by default', (t) => {
  t.deepEqual(parseBrokerUrl('mqtts://gateway.local'), { host: 'gateway.local', port: 8883, secure: true });
  t.deepEqual(parseBrokerUrl('mqtt://127.0.0.1'), { host: '127.0.0.1', port: 1883, secure: false });
  t.deepEqual(parseBrokerUrl('tls://[::1]:8884'), { host: '::1', port: 8884, secure: true });
  t.deepEqual(parseBrokerUrl('tcp://central:1884'), { host: 'central', port: 1884, secure: false });
  t.throws(() => parseBrokerUrl('ws://gateway.local'));
});
