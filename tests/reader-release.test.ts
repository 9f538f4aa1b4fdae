/**
 * Reader releases and the Raspberry Pi set-up, with real processes: `kantine release` builds the
 * reader into one bundle and signs it; the signed bundle runs as a reader against a real gateway;
 * a changed, added or unsigned file is refused; the install script passes shellcheck and lays a
 * Pi out in a test root (two slots, the unit, the pn533 blacklist), and its unit passes
 * `systemd-analyze verify`.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReaderStatus } from '@kantine/protocol';
import anyTest, { type TestFn } from 'ava';
import { kantine } from './helpers/cli.ts';
import { cards, startSite } from './helpers/site.ts';
import { until, waitForEvent } from './helpers/wait.ts';

// libccid's config file, which the install script edits (Debian's libccid package)
const CCID_PLIST = '/etc/libccid_Info.plist';
const tools = ['shellcheck', 'systemd-analyze'].filter((tool) => spawnSync('which', [tool]).status !== 0);
if (!existsSync(CCID_PLIST)) tools.push(`libccid (${CCID_PLIST})`);
if (tools.length && process.env.CI)
  throw new Error(`the release tests must run in CI, but ${tools.join(', ')} is missing`);
const test = (tools.length ? anyTest.skip : anyTest.serial) as TestFn;
if (tools.length)
  process.stderr.write(`reader-release.test.ts: skipped, missing ${tools.join(', ')} (.ci/run installs them)\n`);

const dirs: string[] = [];
anyTest.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** One release, built and signed once for the whole file. */
let built: Promise<{ dir: string; release: string; publicKey: string }> | undefined;
function release() {
  built ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kantine-release-'));
    dirs.push(dir);
    const keygen = await kantine(['--json', 'release', 'keygen', '--out', 'rel'], { cwd: dir });
    if (keygen.code !== 0) throw new Error(keygen.stderr);
    const build = await kantine(
      ['--json', 'release', 'build', '--version', '1.4.0', '--out', 'kantine-reader-1.4.0', '--sign-key', 'rel.pem'],
      { cwd: dir },
    );
    if (build.code !== 0) throw new Error(build.stderr);
    return { dir, release: join(dir, 'kantine-reader-1.4.0'), publicKey: join(dir, 'rel.pub.pem') };
  })();
  return built;
}

test('a signed release verifies; a changed, added or missing file, no signature or another key is refused', async (t) => {
  const { dir, release: rel, publicKey } = await release();
  t.is((await kantine(['release', 'verify', rel, '--public-key', publicKey])).code, 0);
  const manifest = JSON.parse(readFileSync(join(rel, 'manifest.json'), 'utf8'));
  t.like(manifest, {
    kind: 'kantine-reader-release',
    version: '1.4.0',
    entry: 'app/kantine-reader.mjs',
    native: { 'nfc-pcsc': '0.8.1', koffi: JSON.parse(readFileSync('node_modules/koffi/package.json', 'utf8')).version },
  });
  t.truthy(manifest.files['install.sh']);
  t.truthy(manifest.files['deploy/kantine-reader.service']);

  const refused = async (mutate: (copy: string) => void, code: string, detail?: RegExp) => {
    const copy = mkdtempSync(join(dir, 'copy-'));
    cpSync(rel, copy, { recursive: true });
    mutate(copy);
    const res = await kantine(['--json', 'release', 'verify', copy, '--public-key', publicKey]);
    t.is(res.code, 2, res.stderr);
    const { error } = JSON.parse(res.stderr.trim());
    t.is(error.code, code);
    if (detail) t.regex(error.details.join('\n'), detail);
  };
  await refused(
    (c) => appendFileSync(join(c, 'app', 'kantine-reader.mjs'), '\nprocess.exit(0);\n'),
    'release_tampered',
    /app\/kantine-reader.mjs was changed/,
  );
  await refused((c) => writeFileSync(join(c, 'app', 'extra.mjs'), 'x'), 'release_tampered', /app\/extra.mjs was added/);
  await refused(
    (c) => rmSync(join(c, 'deploy', 'blacklist-nfc.conf')),
    'release_tampered',
    /blacklist-nfc.conf is missing/,
  );
  await refused((c) => rmSync(join(c, 'manifest.sig')), 'release_unsigned');
  // a manifest edited to match a changed file: the signature no longer fits
  await refused((c) => {
    const m = JSON.parse(readFileSync(join(c, 'manifest.json'), 'utf8'));
    m.version = '9.9.9';
    writeFileSync(join(c, 'manifest.json'), JSON.stringify(m));
  }, 'release_tampered');
  // signed with someone else's key
  const other = await kantine(['release', 'keygen', '--out', 'other'], { cwd: dir });
  t.is(other.code, 0);
  const foreign = await kantine(['--json', 'release', 'verify', rel, '--public-key', join(dir, 'other.pub.pem')]);
  t.like(JSON.parse(foreign.stderr.trim()), { error: { code: 'release_tampered' } });

  const again = await kantine([
    'release',
    'build',
    '--version',
    '1.4.0',
    '--out',
    rel,
    '--sign-key',
    join(dir, 'rel.pem'),
  ]);
  t.is(again.code, 2, 'a release is never built over another');
  const badVersion = await kantine([
    '--json',
    'release',
    'build',
    '--version',
    'v1',
    '--out',
    join(dir, 'x'),
    '--sign-key',
    join(dir, 'rel.pem'),
  ]);
  t.like(JSON.parse(badVersion.stderr.trim()), { error: { code: 'invalid_request' } });
});

test('the bundled reader from the release runs on its own and pays at a real gateway, reporting its version', async (t) => {
  const { dir, release: rel } = await release();
  const site = await startSite(t);
  const secret = await site.enrol('r-release', 'till-1');
  const config = join(dir, 'reader.json');
  writeFileSync(
    config,
    JSON.stringify({
      reader_id: 'r-release',
      site: 'testskolen',
      broker: { url: site.url, secret },
      port: { kind: 'sim' },
    }),
  );
  const online = waitForEvent<[ReaderStatus]>(
    site.gateway,
    'reader',
    (s) => s.reader_id === 'r-release' && s.state === 'online',
    20_000,
  );
  // Only node and the release folder: no tsx, no workspace, no node_modules.
  const reader = spawn(process.execPath, [join(rel, 'app', 'kantine-reader.mjs'), '--config', config], {
    cwd: tmpdir(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  reader.stdout.on('data', (d) => {
    out += d;
  });
  reader.stderr.on('data', (d) => {
    out += d;
  });
  t.teardown(() => {
    reader.kill('SIGKILL');
  });
  const [status] = await online;
  t.is(status.version, '1.4.0');
  const res = await site.api('till-1', 'PUT', '/basket', { lines: [{ product_id: 'yoghurt', quantity: 1 }] });
  t.is(res.status, 200);
  reader.stdin.write(`${cards.alma}\n`);
  const sale = await until(
    async () =>
      site.ledger.db.prepare("SELECT outcome, decision FROM taps WHERE reader_id = 'r-release'").get() as
        | { outcome: string; decision: string }
        | undefined,
    'the tap from the bundled reader',
    20_000,
  );
  t.is(sale.outcome, 'approved');
  t.like(JSON.parse(sale.decision), { amount_ore: 600 });
  const stopped = new Promise((r) => reader.once('exit', r));
  reader.kill('SIGTERM');
  t.is(await stopped, 0, out);
});

test('the install script passes shellcheck, lays out a Pi in a test root with two slots, keeps the config, and its unit verifies', async (t) => {
  const { dir, release: rel } = await release();
  execFileSync('shellcheck', ['--shell=sh', join(rel, 'install.sh')]);
  t.pass('shellcheck found nothing');

  const root = mkdtempSync(join(dir, 'root-'));
  const config = join(dir, 'pi-reader.json');
  writeFileSync(config, '{"reader_id":"r-pi"}\n');
  const install = () =>
    execFileSync('sh', [join(rel, 'install.sh'), '--root', root, '--config', config], { encoding: 'utf8' });
  // the CCID driver's own config, as Debian ships it: escape commands (LED, buzzer) not allowed
  const ccid = join(root, 'etc/libccid_Info.plist');
  mkdirSync(join(root, 'etc'), { recursive: true });
  const shipped = readFileSync(CCID_PLIST, 'utf8');
  writeFileSync(ccid, shipped);
  const options = () =>
    /<key>ifdDriverOptions<\/key>\s*<string>([^<]*)<\/string>/.exec(readFileSync(ccid, 'utf8'))?.[1];
  const first = install();
  t.regex(first, /installing the release into slot a/);
  t.regex(first, /ifdDriverOptions 0x0000 -> 0x0001/);
  t.is(options(), '0x0001');
  const changed = readFileSync(ccid, 'utf8').split('\n');
  const lines = shipped.split('\n');
  t.deepEqual(
    changed.flatMap((line, i) => (line === lines[i] ? [] : [line.trim()])),
    ['<string>0x0001</string>'],
    'only the option changed',
  );
  t.is(readlinkSync(join(root, 'opt/kantine-reader/current')), 'slots/a');
  t.true(existsSync(join(root, 'opt/kantine-reader/slots/a/app/kantine-reader.mjs')));
  t.true(existsSync(join(root, 'opt/kantine-reader/slots/a/manifest.sig')));
  t.regex(readFileSync(join(root, 'etc/modprobe.d/kantine-blacklist-nfc.conf'), 'utf8'), /^blacklist pn533_usb$/m);
  t.regex(readFileSync(join(root, 'etc/polkit-1/rules.d/50-kantine-reader-pcscd.rules'), 'utf8'), /kantine-reader/);
  const unit = join(root, 'etc/systemd/system/kantine-reader.service');
  t.regex(readFileSync(unit, 'utf8'), new RegExp(`^Environment=KANTINE_NODE=${process.execPath}$`, 'm'));
  t.regex(
    readFileSync(unit, 'utf8'),
    /^ExecStart=\/bin\/sh \/opt\/kantine-reader\/launch.sh --config \/etc\/kantine\/reader.json$/m,
  );
  t.true(existsSync(join(root, 'opt/kantine-reader/launch.sh')));
  execFileSync('shellcheck', [join(root, 'opt/kantine-reader/launch.sh')]);
  t.is(readFileSync(join(root, 'etc/kantine/reader.json'), 'utf8'), '{"reader_id":"r-pi"}\n');

  // Run again (an update by hand): the idle slot, the old one kept as `previous`, the config kept.
  writeFileSync(config, '{"reader_id":"overwritten"}\n');
  const second = install();
  t.regex(second, /installing the release into slot b/);
  t.notRegex(second, /ifdDriverOptions/, 'already allowed: left alone');
  t.is(options(), '0x0001');
  t.is(readlinkSync(join(root, 'opt/kantine-reader/current')), 'slots/b');
  t.is(readlinkSync(join(root, 'opt/kantine-reader/previous')), 'slots/a');
  t.is(readFileSync(join(root, 'etc/kantine/reader.json'), 'utf8'), '{"reader_id":"r-pi"}\n');

  const verify = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  t.is(verify.status, 0, verify.stderr);
  // …and verify does catch a broken unit
  const broken = join(dir, 'kantine-broken.service');
  writeFileSync(broken, readFileSync(unit, 'utf8').replace(/^ExecStart=\S+/m, 'ExecStart=/nonexistent/sh'));
  t.not(spawnSync('systemd-analyze', ['verify', broken]).status, 0);

  // Refusals: not a release, a missing config
  const lone = mkdtempSync(join(dir, 'lone-'));
  cpSync(join(rel, 'install.sh'), join(lone, 'install.sh'));
  const notRelease = spawnSync('sh', [join(lone, 'install.sh'), '--root', root], { encoding: 'utf8' });
  t.regex(notRelease.stderr, /is not an unpacked reader release/);
  t.not(notRelease.status, 0);
  const noConfig = spawnSync('sh', [join(rel, 'install.sh'), '--root', root, '--config', join(dir, 'nope.json')], {
    encoding: 'utf8',
  });
  t.is(noConfig.status, 1);
  t.regex(noConfig.stderr, /--config .* does not exist/);

  // Other options an administrator set are kept beside the one it adds.
  writeFileSync(ccid, shipped.replace(/(<key>ifdDriverOptions<\/key>\s*<string>)0x0000/, '$10x0004'));
  t.regex(install(), /ifdDriverOptions 0x0004 -> 0x0005/);
  t.is(options(), '0x0005');
});
