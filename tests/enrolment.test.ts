/**
 * Reader enrolment with real processes: IT makes a one-time token with `kantine-gateway reader
 * enrol`; a new reader (its own process) spends it on first start, gets its secret and the site
 * CA, and talks MQTT over TLS — the gateway's default — to pay; the token works once and expires;
 * a forged request or answer is refused; `kantine-gateway reader revoke` closes the reader's
 * connection and it is refused from then on.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ReaderStatus } from '@kantine/protocol';
import { hashSecret } from '@kantine/protocol/credentials';
import { enrolRequestMac, enrolResponseMac, parseEnrolToken } from '@kantine/protocol/enrolment';
import { enrolReader } from '@kantine/reader';
import test, { type ExecutionContext } from 'ava';
import mqtt from 'mqtt';
import { repoRoot } from './helpers/process.ts';
import { cards, startSite, type TestSite } from './helpers/site.ts';
import { until, waitForEvent } from './helpers/wait.ts';

const run = promisify(execFile);

async function tlsSite(t: ExecutionContext) {
  // the gateway's defaults: its own site CA, MQTT over TLS and HTTPS
  const site = await startSite(t, { https: true, config: { mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0 } } });
  const dir = mkdtempSync(join(tmpdir(), 'kantine-enrol-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'gateway.json');
  writeFileSync(
    config,
    JSON.stringify({ site: { id: 'testskolen', name: 'Testskolen' }, database: site.gateway.config.database }),
  );
  /** `kantine-gateway reader …`, a real process on the same ledger as the running gateway. */
  const cli = async (...args: string[]) => {
    const { stdout } = await run(
      process.execPath,
      ['--import=tsx', join(repoRoot, 'gateway/src/main.ts'), 'reader', ...args, '--config', config],
      {
        cwd: repoRoot,
      },
    );
    return stdout;
  };
  const token = async (...extra: string[]) =>
    /^token: +(\S+)$/m.exec(await cli('enrol', '--till', 'till-1', ...extra))?.[1] as string;
  return { site, dir, cli, token };
}

function startReader(t: ExecutionContext, dir: string, name: string): ChildProcess {
  const reader = spawn(
    process.execPath,
    ['--import=tsx', join(repoRoot, 'reader/src/main.ts'), '--config', join(dir, name)],
    {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'info' },
    },
  );
  let log = '';
  reader.stdout?.on('data', (d) => {
    log += d;
  });
  reader.stderr?.on('data', (d) => {
    log += d;
  });
  t.teardown(() => {
    reader.kill('SIGKILL');
  });
  Object.defineProperty(reader, 'log', { get: () => log });
  return reader;
}

const online = (site: TestSite, id: string) =>
  waitForEvent<[ReaderStatus]>(site.gateway, 'reader', (s) => s.reader_id === id && s.state === 'online', 30_000);

test.serial(
  'a new reader enrols with a one-time token, pays over TLS with the site CA, and restarts on its saved credentials',
  async (t) => {
    const { site, dir, token } = await tlsSite(t);
    t.truthy(site.gateway.tls, 'TLS is the default');
    const tok = await token('--reader', 'kasse-1-laeser');
    writeFileSync(
      join(dir, 'reader.json'),
      JSON.stringify({ enrol: { url: site.http, token: tok }, state_dir: join(dir, 'state'), port: { kind: 'sim' } }),
    );
    const up = online(site, 'kasse-1-laeser');
    const reader = startReader(t, dir, 'reader.json');
    const [status] = await up;
    t.is(status.reader_id, 'kasse-1-laeser');

    // What it kept: its own secret (only it knows it) and the site CA, readable by it alone.
    const creds = JSON.parse(readFileSync(join(dir, 'state', 'credentials.json'), 'utf8'));
    t.like(creds, { reader_id: 'kasse-1-laeser', site: 'testskolen', till_id: 'till-1' });
    t.regex(creds.broker_url, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
    t.is(statSync(join(dir, 'state', 'credentials.json')).mode & 0o777, 0o600);
    t.is(readFileSync(creds.ca_file, 'utf8'), readFileSync(site.gateway.tls?.ca_file as string, 'utf8'));
    t.false(JSON.stringify(site.ledger.readers.listReaders()).includes(creds.secret), 'the gateway holds only a hash');

    // It pays.
    const res = await site.api('till-1', 'PUT', '/basket', { lines: [{ product_id: 'yoghurt', quantity: 1 }] });
    t.is(res.status, 200);
    reader.stdin?.write(`${cards.alma}\n`);
    const tap = await until(
      async () =>
        site.ledger.db.prepare("SELECT outcome FROM taps WHERE reader_id = 'kasse-1-laeser'").get() as
          | { outcome: string }
          | undefined,
      'the tap',
      20_000,
    );
    t.is(tap.outcome, 'approved');

    // Plain MQTT is not spoken, and a client that does not trust the site CA gets nowhere.
    const port = Number(new URL(creds.broker_url).port);
    const plain = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      username: 'kasse-1-laeser',
      password: creds.secret,
      reconnectPeriod: 0,
      connectTimeout: 3_000,
    });
    const plainResult = await new Promise<string>((resolve) => {
      plain.once('connect', () => resolve('connected'));
      plain.once('error', () => resolve('error'));
      plain.once('close', () => resolve('closed'));
    });
    plain.end(true);
    t.not(plainResult, 'connected');
    const untrusted = mqtt.connect(creds.broker_url, {
      username: 'kasse-1-laeser',
      password: creds.secret,
      reconnectPeriod: 0,
    });
    const error = await new Promise<Error>((resolve) => untrusted.once('error', resolve));
    untrusted.end(true);
    // OpenSSL's code for a chain that ends in a CA the client does not trust (the broker sends the
    // site CA along; without it the code would be one of the other two).
    t.regex(
      String((error as NodeJS.ErrnoException).code),
      /^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/,
    );

    // Restarted, it uses what it kept (the token is spent).
    const down = waitForEvent<[ReaderStatus]>(
      site.gateway,
      'reader',
      (s) => s.reader_id === 'kasse-1-laeser' && s.state === 'offline',
      15_000,
    );
    reader.kill('SIGTERM');
    await down;
    const again = online(site, 'kasse-1-laeser');
    startReader(t, dir, 'reader.json');
    const [back] = await again;
    t.is(back.reader_id, 'kasse-1-laeser');
    t.deepEqual(JSON.parse(readFileSync(join(dir, 'state', 'credentials.json'), 'utf8')), creds, 'no new enrolment');
  },
);

test.serial('a token works once and expires; forged requests and answers are refused; nothing is made', async (t) => {
  const { site, token } = await tlsSite(t);
  const readersBefore = site.ledger.readers.listReaders().length;
  /** What the gateway itself answers a well-made request with this token: its status and code. */
  const gatewayAnswer = async (tok: string) => {
    const { id, key } = parseEnrolToken(tok);
    const request = { token_id: id, secret_hash: await hashSecret('z'.repeat(32)) };
    const res = await site.fetch(`${site.http}/api/enrol`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ v: 1, ...request, mac: enrolRequestMac(key, request) }),
    });
    return { status: res.status, code: ((await res.json()) as { code?: string }).code };
  };
  const refused = { status: 403, code: 'enrolment_refused' };

  const once = await token();
  const first = await enrolReader({ url: site.http, token: once }, 'laeser-a');
  t.is(first.reader_id, 'laeser-a');
  await t.throwsAsync(enrolReader({ url: site.http, token: once }, 'laeser-b'), { code: 'enrolment_refused' });
  t.deepEqual(await gatewayAnswer(once), refused);

  const short = await token('--hours', '0.0003'); // about a second
  await new Promise((r) => setTimeout(r, 1_500));
  await t.throwsAsync(enrolReader({ url: site.http, token: short }), { code: 'enrolment_refused' });
  t.deepEqual(await gatewayAnswer(short), refused);

  // The right token id with a made-up key: the request's MAC does not match.
  const real = parseEnrolToken(await token());
  await t.throwsAsync(enrolReader({ url: site.http, token: `${real.id}.${'A'.repeat(22)}` }), {
    code: 'enrolment_refused',
  });
  t.deepEqual(await gatewayAnswer(`${real.id}.${'A'.repeat(22)}`), refused);

  // A request whose secret hash was swapped on the way (the MAC covers it).
  const hash = await hashSecret('x'.repeat(32));
  const swapped = await site.fetch(`${site.http}/api/enrol`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      v: 1,
      token_id: real.id,
      secret_hash: await hashSecret('y'.repeat(32)),
      mac: enrolRequestMac(real.key, { token_id: real.id, secret_hash: hash }),
    }),
  });
  t.is(swapped.status, 403);
  t.like(await swapped.json(), { code: 'enrolment_refused' });
  // A hash with costlier scrypt parameters than the gateway's is refused unread.
  const costly = await site.fetch(`${site.http}/api/enrol`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      v: 1,
      token_id: real.id,
      secret_hash: hash.replace('16384', '1048576'),
      mac: '0'.repeat(64),
    }),
  });
  t.is(costly.status, 400);

  // A "gateway" that answers with someone else's CA cannot sign the answer with the token.
  let asked = 0;
  const fake = createServer((_req, res) => {
    asked++;
    const body = {
      reader_id: 'x',
      site: 'testskolen',
      till_id: 'till-1',
      broker_url: 'mqtts://evil:8883',
      ca_pem: 'not ours',
    };
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ v: 1, ...body, mac: enrolResponseMac('B'.repeat(22), real.id, body) }));
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  t.teardown(() => fake.close());
  await t.throwsAsync(
    enrolReader({ url: `http://127.0.0.1:${(fake.address() as AddressInfo).port}`, token: `${real.id}.${real.key}` }),
    { code: 'enrolment_refused' },
  );
  t.is(asked, 1, 'refused for its answer, not for want of one');
  t.is(site.ledger.readers.listReaders().length, readersBefore + 1, 'only the one good enrolment made a reader');
  t.throws(() => parseEnrolToken('abc'), { code: 'invalid_request' });
});

test.serial('revoking a reader from the command line closes its connection and refuses it after', async (t) => {
  const { site, dir, cli, token } = await tlsSite(t);
  writeFileSync(
    join(dir, 'reader.json'),
    JSON.stringify({
      enrol: { url: site.http, token: await token('--reader', 'laeser-r') },
      state_dir: join(dir, 'state'),
      port: { kind: 'sim' },
    }),
  );
  const up = online(site, 'laeser-r');
  startReader(t, dir, 'reader.json');
  await up;
  t.regex(await cli('list'), /^laeser-r\ttill-1\tenrolled /m);

  const refused = waitForEvent<[{ what: string; reader_id?: string }]>(
    site.gateway,
    'refused',
    (e) => e.what === 'connect' && e.reader_id === 'laeser-r',
    20_000,
  );
  t.regex(await cli('revoke', 'laeser-r'), /laeser-r\trevoked/);
  // the gateway's sweep closes the live connection; the reader's reconnect is refused
  await refused;
  t.regex(await cli('list'), /^laeser-r\ttill-1\trevoked /m);
  const err = await t.throwsAsync(cli('revoke', 'laeser-r'));
  t.regex(String((err as { stderr?: string })?.stderr), /not_found/);
});
