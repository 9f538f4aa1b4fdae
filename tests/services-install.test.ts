/**
 * The gateway and central as systemd services: each install script passes shellcheck, lays its
 * service out in a test root (`--root`: no users, no systemctl), twice without harm and without
 * overwriting the config, and its unit is hardened and passes `systemd-analyze verify`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ledger } from '@kantine/gateway';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import Database from 'better-sqlite3';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tools = ['shellcheck', 'systemd-analyze'].filter((tool) => spawnSync('which', [tool]).status !== 0);
if (tools.length && process.env.CI)
  throw new Error(`the service tests must run in CI, but ${tools.join(', ')} is missing`);
const test = (tools.length ? anyTest.skip : anyTest) as TestFn;
if (tools.length) process.stderr.write(`services-install.test.ts: skipped, missing ${tools.join(', ')}\n`);

const dirs: string[] = [];
anyTest.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

const mode = (path: string) => statSync(path).mode & 0o777;

/** What every kantine service unit must say about hardening. */
function hardened(t: ExecutionContext, unit: string, user: string, state: string) {
  const text = readFileSync(unit, 'utf8');
  const has = (line: string) =>
    t.regex(text, new RegExp(`^${line.replace(/[$()*+.?[\\\]^{|}]/g, '\\$&')}$`, 'm'), line);
  has(`User=${user}`);
  has(`Group=${user}`);
  has('NoNewPrivileges=yes');
  has('ProtectSystem=strict');
  has(`ReadWritePaths=${state}`);
  has(`StateDirectory=${state.replace('/var/lib/', '')}`);
  has('StateDirectoryMode=0700');
  has('PrivateTmp=yes');
  has('ProtectHome=yes');
  has('CapabilityBoundingSet=');
  t.regex(text, /^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6( AF_NETLINK)?$/m);
  t.notRegex(text, /@NODE@|@APP@/, 'the paths are filled in');
  t.regex(text, new RegExp(`^ExecStart=${process.execPath} ${root}/`, 'm'));
}

function verify(t: ExecutionContext, unit: string, dir: string) {
  const ok = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  t.is(ok.status, 0, ok.stderr);
  // …and verify does catch a broken unit
  const broken = join(dir, `broken-${unit.split('/').at(-1)}`);
  writeFileSync(broken, readFileSync(unit, 'utf8').replace(/^ExecStart=\S+/m, 'ExecStart=/nonexistent/node'));
  t.not(spawnSync('systemd-analyze', ['verify', broken]).status, 0);
}

test('the gateway installs as a hardened service: twice, keeping its config, and its unit verifies', (t) => {
  const script = join(root, 'gateway/deploy/install.sh');
  execFileSync('shellcheck', ['--shell=sh', script]);
  const dir = tempDir('kantine-gw-install-');
  const testRoot = join(dir, 'root');
  execFileSync('mkdir', [testRoot]);
  const config = join(dir, 'gateway.json');
  const site = '{"site":{"id":"skolen","name":"Skolen"},"database":"/var/lib/kantine-gateway/gateway.db"}\n';
  writeFileSync(config, site);
  const install = () => execFileSync('sh', [script, '--root', testRoot, '--config', config], { encoding: 'utf8' });

  const first = install();
  t.regex(first, /installed the config as \/etc\/kantine\/gateway.json/);
  t.regex(first, /installed the unit kantine-gateway.service/);
  const installed = join(testRoot, 'etc/kantine/gateway.json');
  t.is(readFileSync(installed, 'utf8'), site);
  t.is(mode(installed), 0o640);
  t.is(mode(join(testRoot, 'var/lib/kantine-gateway')), 0o700);
  t.is(readlinkSync(join(testRoot, 'usr/local/bin/kantine-gateway')), join(root, 'gateway/bin/kantine-gateway.mjs'));
  const unit = join(testRoot, 'etc/systemd/system/kantine-gateway.service');
  t.is(mode(unit), 0o644);
  hardened(t, unit, 'kantine-gateway', '/var/lib/kantine-gateway');
  t.regex(
    readFileSync(unit, 'utf8'),
    /^ExecStart=\S+ \S+\/gateway\/bin\/kantine-gateway\.mjs --config \/etc\/kantine\/gateway\.json$/m,
  );

  // again (an upgrade): the config is kept, nothing else changes
  writeFileSync(config, '{"site":{"id":"overwritten","name":"X"}}\n');
  const unitBefore = readFileSync(unit, 'utf8');
  const second = install();
  t.regex(second, /keeping the config already in \/etc\/kantine\/gateway.json/);
  t.regex(second, /the unit is unchanged/);
  t.is(readFileSync(installed, 'utf8'), site);
  t.is(readFileSync(unit, 'utf8'), unitBefore);
  t.is(mode(join(testRoot, 'var/lib/kantine-gateway')), 0o700);

  verify(t, unit, dir);

  // Refusals: a missing config file, an unknown option
  const missing = spawnSync('sh', [script, '--root', testRoot, '--config', join(dir, 'nope.json')], {
    encoding: 'utf8',
  });
  t.is(missing.status, 1);
  t.regex(missing.stderr, /--config .* does not exist/);
  const unknown = spawnSync('sh', [script, '--root', testRoot, '--nope'], { encoding: 'utf8' });
  t.is(unknown.status, 1);
  t.regex(unknown.stderr, /unknown option --nope/);
});

test('central installs as one hardened template unit, a worker per API port: twice, keeping its config, and the units verify', (t) => {
  const script = join(root, 'central/deploy/install.sh');
  execFileSync('shellcheck', ['--shell=sh', script]);
  const dir = tempDir('kantine-central-install-');
  const testRoot = join(dir, 'root');
  execFileSync('mkdir', [testRoot]);
  const config = join(dir, 'central.json');
  const central = '{"database":{"url":"postgres://kantine@localhost/kantine"}}\n';
  writeFileSync(config, central);
  const install = (...extra: string[]) =>
    execFileSync('sh', [script, '--root', testRoot, '--config', config, ...extra], { encoding: 'utf8' });

  const first = install('--workers', '8090,8091');
  t.regex(first, /installed the config as \/etc\/kantine\/central.json/);
  t.regex(first, /workers: kantine-central@8090.service kantine-central@8091.service/);
  const installed = join(testRoot, 'etc/kantine/central.json');
  t.is(readFileSync(installed, 'utf8'), central);
  t.is(mode(installed), 0o640);
  t.is(mode(join(testRoot, 'var/lib/kantine-central')), 0o700);
  t.is(readlinkSync(join(testRoot, 'usr/local/bin/kantine-central')), join(root, 'central/bin/kantine-central.mjs'));
  const template = join(testRoot, 'etc/systemd/system/kantine-central@.service');
  hardened(t, template, 'kantine-central', '/var/lib/kantine-central');
  t.regex(
    readFileSync(template, 'utf8'),
    /^ExecStart=\S+ \S+\/central\/bin\/kantine-central\.mjs --config \/etc\/kantine\/central\.json --http-port %i$/m,
  );
  for (const port of ['8090', '8091']) {
    t.is(
      readlinkSync(join(testRoot, `etc/systemd/system/multi-user.target.wants/kantine-central@${port}.service`)),
      '/etc/systemd/system/kantine-central@.service',
    );
  }

  writeFileSync(config, '{"database":{"dir":"overwritten"}}\n');
  const second = install('--workers', '8090,8091');
  t.regex(second, /keeping the config already in \/etc\/kantine\/central.json/);
  t.regex(second, /the unit is unchanged/);
  t.is(readFileSync(installed, 'utf8'), central);

  // A template is verified as its instances: the worker on 8090, the one on 8091.
  const instance = join(dir, 'kantine-central@8091.service');
  writeFileSync(instance, readFileSync(template, 'utf8'));
  verify(t, instance, dir);
  t.true(existsSync(template));

  const badPort = spawnSync('sh', [script, '--root', testRoot, '--workers', '8090,http'], { encoding: 'utf8' });
  t.is(badPort.status, 1);
  t.regex(badPort.stderr, /--workers: http is not a port/);
});

anyTest('kantine-gateway backup copies the ledger while the gateway has it open, and never over a file', (t) => {
  const dir = tempDir('kantine-gw-backup-');
  const config = join(dir, 'gateway.json');
  writeFileSync(config, JSON.stringify({ site: { id: 'skolen', name: 'Skolen' }, database: join(dir, 'g.db') }));
  // the running gateway's connection: its newest writes are still in the WAL
  const ledger = new Ledger(join(dir, 'g.db'), { now: () => new Date() });
  t.teardown(() => ledger.close());
  ledger.staff.putStaff({ id: 'maria', name: 'Maria Holm', pin_hash: 'x' });
  t.true(existsSync(join(dir, 'g.db-wal')));
  const backup = (file: string) =>
    spawnSync(process.execPath, [join(root, 'gateway/bin/kantine-gateway.mjs'), 'backup', file, '--config', config], {
      cwd: tmpdir(),
      encoding: 'utf8',
      timeout: 60_000,
    });
  const copy = join(dir, 'copy.db');
  const done = backup(copy);
  t.is(done.status, 0, done.stderr);
  t.regex(done.stdout, /^backup\t.*copy\.db\t\d+ bytes$/m);
  const restored = new Database(copy, { readonly: true });
  t.teardown(() => restored.close());
  t.deepEqual(restored.prepare('SELECT id, name FROM staff').all(), [{ id: 'maria', name: 'Maria Holm' }]);
  const again = backup(copy);
  t.is(again.status, 1);
  t.regex(again.stderr, /invalid_request: .* exists already/);
});
