/**
 * npm run bench:propagation -- --gateways 1000 --samples 50 --json
 *
 * How fast a change made at central is enforced at the tills: a card blocked (and re-opened)
 * through central's HTTP API, timed from the request until every site has applied it to its
 * ledger (the link's `applied` event, then the card's state read back from the site's SQLite).
 * The child's account is at every site, so each change goes to all of them.
 *
 * Central is the real CentralService (HTTP API, its own aedes broker with TLS, PGlite; or
 * Postgres with `--postgres URL`), in this process. The sites are the gateway's link side and
 * ledger — `Ledger` (SQLite, synchronous=FULL), `CentralLink`, `CentralClient` over TLS to
 * central's broker — spread over `--procs` child processes (propagation/site-host.ts); a whole
 * gateway's own broker, HTTP, kiosk and readers are left out (none is on a change's way).
 *
 * Beside it, the raw baseline of the same run: one MQTT QoS 1 message per site through a bare
 * aedes broker in this process to as many plain subscribers in the same child processes, until
 * all have it — the fan-out with no kantine in it.
 */

import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes, scryptSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createServer, type Socket } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { parseArgs } from 'node:util';
import { CentralService, openPostgres, parseCentralConfig } from '@kantine/central';
import { Ledger, systemClock } from '@kantine/gateway';
import { type BrokerTls, ensureBrokerTls } from '@kantine/mqtt/ca';
import { newSecret } from '@kantine/protocol/credentials';
import { Aedes } from 'aedes';
import pino from 'pino';
import type { FromHost, ToHost } from './propagation/messages.ts';
import { summarize } from './stats.ts';

const { values } = parseArgs({
  options: {
    gateways: { type: 'string', default: '10' },
    samples: { type: 'string', default: '50' },
    /**
     * Changes made before the timed ones and reported apart (`warmup_ms`): the first block and
     * re-open after start-up compile their code paths in central and in every site (the first
     * took ~1.5× a later one), which a central that runs for months has done long before.
     */
    warmup: { type: 'string', default: '2' },
    /**
     * Each change meets a quiet link: the next is made only once central holds every site's ack
     * of the one before (sites acknowledge `ack_delay_ms` after applying). Without it the
     * changes follow each other at once — four or five changes to every site a second, and each
     * change meets the acks of the one before.
     */
    settle: { type: 'boolean', default: false },
    procs: { type: 'string', default: '2' },
    postgres: { type: 'string' },
    /**
     * Where the sites' ledgers are kept (default: the temp folder, on disk). `/dev/shm` keeps them
     * in memory: each commit's fsync, which a thousand sites on one disk make one after another
     * here and each school on its own disk makes at once, is then left out.
     */
    'ledger-dir': { type: 'string' },
    /**
     * V8 CPU profiles of the timed changes only (not the set-up, not the baseline) into this
     * folder: `central.cpuprofile` (central, this process) and `site-host-N.cpuprofile`.
     */
    profile: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(`usage: npm run bench:propagation -- [options]
  --gateways N     linked sites (1..5000, default 10)
  --samples N      changes timed (default 50)
  --warmup N       changes made first, reported apart as warmup_ms (default 2: a block and a re-open)
  --settle         each change made once central has every site's ack of the one before
  --procs N        site processes (default 2)
  --postgres URL   central on this Postgres server (a database of its own; default PGlite in memory)
  --ledger-dir D   where the sites' ledgers are kept (e.g. /dev/shm; default a temp folder on disk)
  --profile D      CPU profiles of the timed changes (central and each site process) into D
  --json           one line of JSON, nothing else
`);
  process.exit(0);
}
const gateways = Number(values.gateways);
const samples = Number(values.samples);
const procs = Math.min(Number(values.procs), gateways);
const warmup = Number(values.warmup);
if (!Number.isInteger(gateways) || gateways < 1 || gateways > 5_000) throw new Error('--gateways must be 1..5000');
if (!Number.isInteger(samples) || samples < 1 || samples > 10_000) throw new Error('--samples must be 1..10000');
if (!Number.isInteger(procs) || procs < 1 || procs > 64) throw new Error('--procs must be 1..64');
if (!Number.isInteger(warmup) || warmup < 0 || warmup > 100) throw new Error('--warmup must be 0..100');
const say = (line: string) => {
  if (!values.json) process.stderr.write(`${line}\n`);
};
const silent = pino({ level: 'silent' });
const CARD = '04000000009A01';
const TARGET_MS = 250;
const dir = mkdtempSync(join(tmpdir(), 'kantine-propagation-'));
const ledgerDir = values['ledger-dir'] ? mkdtempSync(join(values['ledger-dir'], 'kantine-propagation-')) : dir;
const clock = () => performance.timeOrigin + performance.now();

// With --postgres, central gets a database of its own on that server, dropped afterwards.
let pgName: string | undefined;
let pgUrl: string | undefined;
if (values.postgres) {
  pgName = `kantine_prop_${randomBytes(4).toString('hex')}`;
  const admin = await openPostgres(values.postgres);
  await admin.query(`CREATE DATABASE ${pgName}`);
  await admin.close();
  const url = new URL(values.postgres);
  url.pathname = `/${pgName}`;
  pgUrl = url.toString();
}

const central = new CentralService({
  config: parseCentralConfig({
    database: pgUrl ? { url: pgUrl } : { dir: 'memory://' },
    mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0, tls_dir: join(dir, 'central-tls') },
    http: { host: '127.0.0.1', port: 0 },
  }),
  // Central's warnings and errors (a queue full, a refused message) go to stderr.
  log: values.json ? silent : pino({ level: 'warn' }, pino.destination(2)),
});

/** The site processes and what they report. */
const hosts: ChildProcess[] = [];
let onItems: (items: [string, string, number][]) => void = () => {};
const waiters = new Map<ChildProcess, { t: string; resolve: () => void }>();
const cpuOf = new Map<ChildProcess, number>();

/** CPU time used so far (µs): central's (this process) and the site processes' together. */
async function cpuNow(): Promise<{ central: number; sites: number }> {
  await Promise.all(hosts.map((h) => ask(h, { t: 'cpu' }, 'cpu')));
  const { user, system } = process.cpuUsage();
  return { central: user + system, sites: hosts.reduce((sum, h) => sum + (cpuOf.get(h) ?? 0), 0) };
}

function startHost(index: number): ChildProcess {
  const child = fork(join(import.meta.dirname, 'propagation', 'site-host.ts'), [], {
    env: { ...process.env, NODE_OPTIONS: undefined, KANTINE_PROP_HOST: String(index) },
    execArgv: ['--import', import.meta.resolve('tsx')],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  child.on('message', (msg: FromHost) => {
    if (msg.t === 'applied') onItems(msg.items);
    else if (msg.t === 'error') {
      process.stderr.write(`site process: ${msg.message}\n`);
      process.exitCode = 1;
    } else {
      if (msg.t === 'cpu') cpuOf.set(child, msg.us);
      const w = waiters.get(child);
      if (w?.t === msg.t) {
        waiters.delete(child);
        w.resolve();
      }
    }
  });
  return child;
}

/** Sends `msg` to a host and resolves on its answer `t`. */
function ask(child: ChildProcess, msg: ToHost, t: FromHost['t']): Promise<void> {
  return new Promise((resolve) => {
    waiters.set(child, { t, resolve });
    child.send(msg);
  });
}

/** Resolves with each name's time (ms after t0) once every name in `names` reported `state`. */
function allReport(names: readonly string[], state: string, t0: number, timeout_ms: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const remaining = new Set(names);
    const times: number[] = [];
    const timer = setTimeout(
      () => reject(new Error(`${remaining.size} of ${names.length} not ${state} within ${timeout_ms} ms`)),
      timeout_ms,
    );
    onItems = (items) => {
      for (const [name, s, at] of items) if (s === state && remaining.delete(name)) times.push(at - t0);
      if (remaining.size > 0) return;
      clearTimeout(timer);
      onItems = () => {};
      resolve(times);
    };
  });
}

/** `list` dealt out to `n` parts, round robin. */
function deal<T>(list: readonly T[], n: number): T[][] {
  const parts: T[][] = Array.from({ length: n }, () => []);
  for (const [i, x] of list.entries()) parts[i % n]?.push(x);
  return parts;
}

try {
  await central.start();
  const api = `http://127.0.0.1:${central.httpPort}`;
  const { token } = await central.central.tokens.add('it', 'bench-propagation');
  say(`${gateways} sites at central…`);
  const siteIds = Array.from({ length: gateways }, (_, i) => `prop-${i}`);
  // One secret for every site, hashed as the credentials module stores it but with a cheaper
  // scrypt cost (N=1024, not 16384): 1,000 logins at start-up are not what is measured.
  const secret = newSecret();
  const salt = randomBytes(16);
  const secretHash = [
    'scrypt',
    1024,
    8,
    1,
    salt.toString('base64url'),
    scryptSync(secret, salt, 32, { N: 1024 }).toString('base64url'),
  ].join('$');
  for (const id of siteIds)
    await central.central.sites.put({ id, name: id, place_kinds: ['school'], secret_hash: secretHash });

  // Every ledger starts as a copy of one migrated ledger (see site-host.ts).
  const template = join(dir, 'template.db');
  new Ledger(template, systemClock).close();
  say(`linking ${gateways} sites from ${procs} processes…`);
  for (let i = 0; i < procs; i++) hosts.push(startHost(i));
  const parts = deal(siteIds, procs);
  await Promise.all(
    hosts.map((h, i) =>
      ask(
        h,
        {
          t: 'sites',
          sites: (parts[i] ?? []).map((id) => ({ id, secret })),
          url: `mqtts://127.0.0.1:${central.mqttPort}`,
          ca_file: central.linkCaFile,
          dir: ledgerDir,
          template,
          card: CARD,
        },
        'linked',
      ),
    ),
  );
  say('every site linked; the card to every site…');
  await central.central.accounts.put({ id: 'acc-prop', first_name: 'Prop', sites: siteIds });
  await central.central.cards.put({ uid: CARD, kind: 'legacy' });
  const t0 = clock();
  const ready = allReport(siteIds, 'active', t0, 600_000);
  await central.central.cards.activate(CARD, 'acc-prop');
  await ready;
  say(`the card is active at every site after ${Math.round(clock() - t0)} ms`);

  /** The card blocked (even `i`) or re-opened through central's API, until every site has it. */
  const change = async (i: number) => {
    const block = i % 2 === 0;
    const t0 = clock();
    const applied = allReport(siteIds, block ? 'blocked' : 'active', t0, 60_000);
    const res = await fetch(`${api}/api/cards/${CARD}/${block ? 'block' : 'unblock'}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    if (res.status !== 204) throw new Error(`central refused: ${res.status} ${await res.text()}`);
    const answered = clock() - t0;
    const times = await applied;
    if (values.settle) await settled();
    return { answered, times };
  };
  /** Until no site owes central an ack (within a minute). */
  const settled = async () => {
    for (const until = clock() + 60_000; clock() < until; await new Promise((r) => setTimeout(r, 10))) {
      const [row] = await central.central.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM sites WHERE down_seq > down_acked',
      );
      if (row?.n === 0) return;
    }
    throw new Error('the sites did not acknowledge within a minute');
  };
  say(`${warmup} changes to warm up, then ${samples} timed (block, re-open, …) through central's API…`);
  const warm: number[] = [];
  for (let i = 0; i < warmup; i++) warm.push(Math.max(...(await change(i)).times));
  const all: number[] = [];
  const each: number[] = [];
  const answered: number[] = [];
  const first: number[] = [];
  const profiler = values.profile ? await startProfiles() : undefined;
  const cpuBefore = await cpuNow();
  const resentBefore = { ...central.central.link.resent };
  for (let i = 0; i < samples; i++) {
    const { answered: api_ms, times } = await change(warmup + i);
    answered.push(api_ms);
    each.push(...times);
    first.push(Math.min(...times));
    all.push(Math.max(...times));
  }
  const cpuAfter = await cpuNow();
  const resent = { ...central.central.link.resent };
  if (profiler && values.profile) await stopProfiles(profiler, values.profile);

  say('baseline: one QoS 1 message per site through a bare aedes to as many subscribers…');
  const baseline = await fanOutBaseline(gateways, samples, warmup);
  say('… and the same over TLS, as the link is…');
  const tlsFiles = await ensureBrokerTls({
    dir: join(dir, 'baseline-tls'),
    ca_file_base: 'ca',
    server_file_base: 'server',
    ca_name: 'bench CA',
    organisation: 'bench',
    names: ['127.0.0.1'],
  });
  const baselineTls = await fanOutBaseline(gateways, samples, warmup, tlsFiles);

  const every = summarize(all, 1);
  const result = {
    gateways,
    procs,
    samples,
    warmup,
    settle: values.settle,
    database: pgUrl ? 'postgres' : 'pglite',
    ledgers: values['ledger-dir'] ?? 'disk',
    p50_ms: every.p50_ms,
    p99_ms: every.p99_ms,
    max_ms: Math.round(Math.max(...all) * 1000) / 1000,
    // Each timed change until every site had it, in order, and until central answered: with 20
    // samples p99 is the slowest, and these show whether it is one change or many.
    changes_ms: all.map((ms) => Math.round(ms)),
    changes_api_ms: answered.map((ms) => Math.round(ms)),
    // The untimed changes before (the first after start-up is the slowest: code not yet compiled).
    warmup_ms: warm.map((ms) => Math.round(ms * 10) / 10),
    per_gateway_p50_ms: summarize(each, 1).p50_ms,
    // Where the time goes: central's API answered (the change committed for every site, its
    // messages handed to the broker), and the first site had it applied.
    api_p50_ms: summarize(answered, 1).p50_ms,
    api_p99_ms: summarize(answered, 1).p99_ms,
    first_site_p50_ms: summarize(first, 1).p50_ms,
    // The CPU time one change cost, all sites together, in central's process (its API, database
    // client, broker and link) and in the site processes (each site's TLS, MQTT, link and ledger):
    // on one machine of few cores their sum, not the network, bounds how soon the last site has it.
    central_cpu_ms_per_change: Math.round((cpuAfter.central - cpuBefore.central) / samples / 100) / 10,
    sites_cpu_ms_per_change: Math.round((cpuAfter.sites - cpuBefore.sites) / samples / 100) / 10,
    // Changes central sent again while timed: not acknowledged within a second (a site too slow),
    // or to a site that reconnected (its hello). 0 is what a healthy run shows.
    resent_silence: resent.silence - resentBefore.silence,
    resent_hello: resent.hello - resentBefore.hello,
    cores: availableParallelism(),
    // Central runs in this process with the V8 flags its systemd unit gives it (npm's script;
    // or NODE_OPTIONS, which the site processes are not given).
    central_node_flags: [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].filter((a) =>
      /^--max[-_]/.test(a),
    ),
    baseline_p50_ms: baseline.p50_ms,
    baseline_p99_ms: baseline.p99_ms,
    baseline_cpu_ms_per_change: baseline.cpu_ms,
    baseline_tls_p50_ms: baselineTls.p50_ms,
    baseline_tls_p99_ms: baselineTls.p99_ms,
    baseline_tls_cpu_ms_per_change: baselineTls.cpu_ms,
    target_ms: TARGET_MS,
  };
  process.stdout.write(`${JSON.stringify(result, null, values.json ? 0 : 2)}\n`);
} finally {
  await Promise.all(hosts.map((h) => (h.connected ? ask(h, { t: 'stop' }, 'stopped') : undefined)));
  await central.stop();
  if (pgName && values.postgres) {
    const admin = await openPostgres(values.postgres);
    await admin.query(`DROP DATABASE IF EXISTS ${pgName} WITH (FORCE)`);
    await admin.close();
  }
  rmSync(dir, { recursive: true, force: true });
  rmSync(ledgerDir, { recursive: true, force: true });
}

/** Starts a CPU profile of this process (central) and of every site process. */
async function startProfiles(): Promise<Session> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await Promise.all(hosts.map((h) => ask(h, { t: 'profile' }, 'profiled')));
  await session.post('Profiler.start');
  return session;
}

async function stopProfiles(session: Session, into: string): Promise<void> {
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  mkdirSync(into, { recursive: true });
  writeFileSync(join(into, 'central.cpuprofile'), JSON.stringify(profile));
  await Promise.all(
    hosts.map((h, i) => ask(h, { t: 'profile', file: join(into, `site-host-${i}.cpuprofile`) }, 'profiled')),
  );
  say(`CPU profiles of the timed changes in ${into}`);
}

/**
 * The same fan-out with no kantine in it: one message per site, until every subscriber has it;
 * plain MQTT, or over TLS with `tlsFiles`. Also the CPU time it cost, all processes together.
 */
async function fanOutBaseline(n: number, count: number, warmup: number, tlsFiles?: BrokerTls) {
  const broker = await Aedes.createBroker();
  const onSocket = (socket: Socket) => {
    socket.setNoDelay(true);
    broker.handle(socket);
  };
  const server = tlsFiles
    ? createTlsServer({ key: readFileSync(tlsFiles.key_file), cert: readFileSync(tlsFiles.cert_file) }, onSocket)
    : createServer(onSocket);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    const topics = Array.from({ length: n }, (_, i) => `baseline/${i}`);
    const parts = deal(topics, hosts.length);
    await Promise.all(
      hosts.map((h, i) =>
        ask(h, { t: 'baseline', port, topics: parts[i] ?? [], ca_file: tlsFiles?.ca_file }, 'subscribed'),
      ),
    );
    const fanOut = async (s: number) => {
      const t0 = clock();
      const got = allReport(topics, 'message', t0, 60_000);
      // Central publishes one message per site, as here.
      for (const topic of topics) {
        broker.publish(
          { cmd: 'publish', topic, payload: Buffer.from(`{"s":${s}}`), qos: 1, retain: false, dup: false },
          () => {},
        );
      }
      return Math.max(...(await got));
    };
    // Warmed up as the sites are, untimed.
    for (let s = 0; s < warmup; s++) await fanOut(s);
    const cpuBefore = await cpuNow();
    const times: number[] = [];
    for (let s = 0; s < count; s++) times.push(await fanOut(warmup + s));
    const cpuAfter = await cpuNow();
    const cpu = cpuAfter.central - cpuBefore.central + cpuAfter.sites - cpuBefore.sites;
    await Promise.all(hosts.map((h) => ask(h, { t: 'baseline_end' }, 'unsubscribed')));
    return { ...summarize(times, 1), cpu_ms: Math.round(cpu / count / 100) / 10 };
  } finally {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  }
}
