/**
 * A reader updating itself, with real processes: a Pi laid out by install.sh in a test root (two
 * slots, launch.sh), the reader run by launch.sh under a supervisor that restarts it as systemd
 * would, the gateway's `release publish` and `release target` from its command line. A good
 * release is fetched, checked and switched to; a signed release that crashes is rolled back by
 * itself and not tried again; a release changed on the gateway after publishing is refused.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ReaderStatus } from '@kantine/protocol';
import { signRelease } from '@kantine/provisioning';
import test, { type ExecutionContext } from 'ava';
import { kantine } from './helpers/cli.ts';
import { repoRoot } from './helpers/process.ts';
import { startSite, type TestSite } from './helpers/site.ts';
import { waitForEvent } from './helpers/wait.ts';

const run = promisify(execFile);

async function build(dir: string, version: string): Promise<string> {
  const out = join(dir, `kantine-reader-${version}`);
  const res = await kantine([
    'release',
    'build',
    '--version',
    version,
    '--out',
    out,
    '--sign-key',
    join(dir, 'rel.pem'),
  ]);
  if (res.code !== 0) throw new Error(res.stderr);
  return out;
}

/** A release with a bug that kills it at start, signed properly: IT shipped a bad build. */
function breakAndResign(dir: string, release: string): void {
  const file = join(release, 'app', 'kantine-reader.mjs');
  writeFileSync(file, `throw new Error('a release with a bug');\n${readFileSync(file, 'utf8')}`);
  const manifest = JSON.parse(readFileSync(join(release, 'manifest.json'), 'utf8'));
  manifest.files['app/kantine-reader.mjs'] = createHash('sha256').update(readFileSync(file)).digest('hex');
  writeFileSync(join(release, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  signRelease(release, readFileSync(join(dir, 'rel.pem'), 'utf8'));
}

/** Runs launch.sh as systemd would (Restart=always), until the test ends. */
function supervise(t: ExecutionContext, root: string, config: string) {
  const state = { starts: 0, log: '', stopped: false, child: undefined as ChildProcess | undefined };
  const start = () => {
    state.starts++;
    const child = spawn('sh', [join(root, 'opt/kantine-reader/launch.sh'), '--config', config], {
      env: {
        ...process.env,
        KANTINE_READER_BASE: join(root, 'opt/kantine-reader'),
        KANTINE_READER_STATE: join(root, 'var/lib/kantine-reader'),
        KANTINE_NODE: process.execPath,
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d) => {
      state.log += d;
    });
    child.stderr.on('data', (d) => {
      state.log += d;
    });
    child.once('exit', () => {
      if (!state.stopped) setTimeout(start, 200);
    });
    state.child = child;
  };
  start();
  t.teardown(() => {
    state.stopped = true;
    state.child?.kill('SIGKILL');
  });
  return state;
}

/** Waits until the reader's log shows `what` (fails the test after 30 s). */
async function logSays(pi: { log: string }, what: RegExp): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!what.test(pi.log)) {
    if (Date.now() > deadline) throw new Error(`the reader never logged ${what}:\n${pi.log.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const onVersion = (site: TestSite, version: string, ms = 60_000) =>
  waitForEvent<[ReaderStatus]>(
    site.gateway,
    'reader',
    (s) => s.reader_id === 'r-pi' && s.state === 'online' && s.version === version,
    ms,
  );

test('a reader updates itself from the gateway, rolls back a release that fails by itself, and refuses one changed on the gateway', async (t) => {
  t.timeout(240_000);
  const dir = mkdtempSync(join(tmpdir(), 'kantine-update-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.is((await kantine(['release', 'keygen', '--out', join(dir, 'rel')])).code, 0);
  const [v100, v110, v120, v130] = await Promise.all(['1.0.0', '1.1.0', '1.2.0', '1.3.0'].map((v) => build(dir, v)));
  breakAndResign(dir, v120 as string);

  // Releases come over HTTPS, checked against the site CA (which an enrolled reader keeps as its broker CA).
  const site = await startSite(t, { https: true, config: { releases: { public_key_file: join(dir, 'rel.pub.pem') } } });
  const gatewayConfig = join(dir, 'gateway.json');
  writeFileSync(
    gatewayConfig,
    JSON.stringify({
      site: { id: 'testskolen', name: 'Testskolen' },
      database: site.gateway.config.database,
      releases: { public_key_file: join(dir, 'rel.pub.pem') },
    }),
  );
  const gw = async (...args: string[]) =>
    (
      await run(
        process.execPath,
        ['--import=tsx', join(repoRoot, 'gateway/src/main.ts'), 'release', ...args, '--config', gatewayConfig],
        {
          cwd: repoRoot,
        },
      )
    ).stdout;

  // The Pi, as install.sh lays it out, running 1.0.0.
  const root = mkdtempSync(join(dir, 'pi-'));
  const config = join(dir, 'reader.json');
  writeFileSync(
    config,
    JSON.stringify({
      reader_id: 'r-pi',
      site: 'testskolen',
      broker: { url: site.url, secret: await site.enrol('r-pi', 'till-1'), ca_file: site.gateway.httpTls?.ca_file },
      gateway_http: site.http,
      release_key_file: join(root, 'etc/kantine/release.pub.pem'),
      state_dir: join(root, 'var/lib/kantine-reader'),
      port: { kind: 'sim' },
    }),
  );
  execFileSync('sh', [join(v100 as string, 'install.sh'), '--root', root, '--release-key', join(dir, 'rel.pub.pem')]);
  const current = () => readlinkSync(join(root, 'opt/kantine-reader/current'));
  t.is(current(), 'slots/a');
  const first = onVersion(site, '1.0.0');
  const pi = supervise(t, root, config);
  await first;

  // A good release, tried at this one till first: fetched, checked, installed into slot b,
  // switched to, confirmed. The rest of the site has no target yet.
  t.regex(await gw('publish', v110 as string), /published\t1\.1\.0/);
  const updated = onVersion(site, '1.1.0');
  t.regex(await gw('target', '1.1.0', '--reader', 'r-pi'), /target\t1\.1\.0\tr-pi/);
  await updated;
  t.regex(await gw('list'), /^1\.1\.0\ttarget r-pi$/m);
  t.is(site.gateway.releases.target(), undefined);
  t.is(site.gateway.releases.target('r-pi'), '1.1.0');
  t.is(current(), 'slots/b');
  await logSays(pi, /update confirmed/);
  t.false(existsSync(join(root, 'var/lib/kantine-reader/update')), 'confirmed: nothing pending');

  // A signed release that dies at start: launch.sh goes back to slot b after three starts.
  await gw('publish', v120 as string);
  await gw('target', 'none', '--reader', 'r-pi'); // from now on the reader follows the site
  const startsBefore = pi.starts;
  const back = waitForEvent<[ReaderStatus]>(
    site.gateway,
    'reader',
    (s) => s.reader_id === 'r-pi' && s.state === 'online' && s.version === '1.1.0' && pi.starts > startsBefore + 3,
    90_000,
  );
  await gw('target', '1.2.0');
  await back;
  t.is(current(), 'slots/b');
  t.regex(pi.log, /a release with a bug/);
  t.regex(pi.log, /release 1\.2\.0 did not become healthy in 3 starts: back to slots\/b/);
  t.is(readFileSync(join(root, 'var/lib/kantine-reader/failed-versions'), 'utf8').trim(), '1.2.0');
  // …and it is not tried again.
  const settled = pi.starts;
  await new Promise((r) => setTimeout(r, 3_000));
  t.is(pi.starts, settled);
  await logSays(pi, /failed here before: not tried again/);

  // A release changed on the gateway after it was published: refused, the reader stays.
  await gw('publish', v130 as string);
  appendFileSync(
    join(site.gateway.releases.dir, '1.3.0', 'app', 'kantine-reader.mjs'),
    '\n// changed on the gateway\n',
  );
  await gw('target', '1.3.0');
  const deadline = Date.now() + 30_000;
  while (!/"code":"release_tampered"/.test(pi.log) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 200));
  t.regex(pi.log, /"code":"release_tampered".*update refused|update refused.*"code":"release_tampered"/);
  t.regex(pi.log, /app\/kantine-reader.mjs was changed/);
  t.is(current(), 'slots/b');
  t.is(pi.starts, settled);

  // The gateway itself refuses a release that does not verify, and an unknown target.
  appendFileSync(join(v130 as string, 'install.sh'), '\n# changed\n');
  const refused = await t.throwsAsync(gw('publish', v130 as string));
  t.regex(String((refused as { stderr?: string }).stderr), /release_tampered/);
  const unknown = await t.throwsAsync(gw('target', '9.9.9'));
  t.regex(String((unknown as { stderr?: string }).stderr), /not_found/);
  t.regex(await gw('list'), /^1\.3\.0\ttarget \*$/m);
  const noReader = await t.throwsAsync(gw('target', '1.1.0', '--reader', 'ukendt'));
  t.regex(String((noReader as { stderr?: string }).stderr), /unknown_reader/);
});
