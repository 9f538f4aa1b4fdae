/**
 * The real card path: reader daemon → nfc-pcsc → pcscd → vsmartcard-vpcd → our card twin. Only
 * the radio is simulated (a card "lies on the reader" while its twin is connected to the vpcd
 * slot). This file owns pcscd, so its tests run one after another.
 */
import { spawn } from 'node:child_process';
import { type EventEmitter, once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LegacyUidCard, type Ntag424Card, VpcdLink } from '@kantine/card';
import type { CardRead, ReaderStatus } from '@kantine/protocol';
import { loadNfcPcsc, PcscPort, type TapResult } from '@kantine/reader';
import anyTest, { type TestFn } from 'ava';
import { KEYS, programmedCard, registerCard } from './helpers/cards.ts';
import { insertWhenReady, Pcscd, pcscMissing, pcscReaderDaemon } from './helpers/pcscd.ts';
import { repoRoot } from './helpers/process.ts';
import { cards, startSite, type TestSite } from './helpers/site.ts';
import { until, waitForEvent } from './helpers/wait.ts';

const missing = pcscMissing();
if (missing && process.env.CI) throw new Error(`the PC/SC tests must run in CI, but ${missing}`);
// Outside CI a machine without pcscd skips this file, loudly; .ci/run fails on any skip.
const test = (missing ? anyTest.skip : anyTest.serial) as TestFn;
if (missing) process.stderr.write(`pcsc.test.ts: skipped, ${missing}\n`);

const pcscd = new Pcscd();
anyTest.before(async () => {
  if (!missing) await pcscd.start();
});
anyTest.after.always(async () => {
  if (!missing) await pcscd.restore();
});

const EMMA = '04E0000000AA01';
const VPCD_READER = 'Virtual PCD 00 00';

async function pcscReader(t: import('ava').ExecutionContext, site: TestSite) {
  const NFC = loadNfcPcsc();
  if (!NFC) throw new Error('nfc-pcsc did not load');
  const port = new PcscPort(NFC, { readerName: VPCD_READER });
  return pcscReaderDaemon(t, site, { readerId: 'r-pcsc', port, readerName: VPCD_READER });
}

const basket = async (site: TestSite) => {
  const res = await site.api('till-1', 'PUT', '/basket', { lines: [{ product_id: 'yoghurt', quantity: 1 }] });
  if (res.status !== 200) throw new Error(`basket: ${res.status} ${await res.text()}`);
};
const tapCount = (site: TestSite) =>
  (site.ledger.db.prepare('SELECT COUNT(*) AS n FROM taps').get() as { n: number }).n;

async function siteWithEmma(t: import('ava').ExecutionContext): Promise<{ site: TestSite; emma: Ntag424Card }> {
  const site = await startSite(t);
  const emma = await programmedCard(EMMA);
  registerCard(site.ledger, EMMA, 'acc-alma');
  return { site, emma };
}

test('a kantine card and a legacy card pay through nfc-pcsc, pcscd and vpcd; a card held on the reader is one tap', async (t) => {
  const { site, emma } = await siteWithEmma(t);
  const reader = await pcscReader(t, site);
  await basket(site);
  const sun = await reader.lay(emma);
  t.like(sun.read, { kind: 'ntag424', uid: EMMA, batch: 'TEST-01' });
  t.like(sun.result, { kind: 'decision', decision: { outcome: 'approved', card_kind: 'ntag424', amount_ore: 600 } });
  // held on the reader for a while: pcscd keeps polling, but no second tap
  await new Promise((r) => setTimeout(r, 1_500));
  sun.link.remove();
  t.is(tapCount(site), 1);

  const legacy = await reader.tap(new LegacyUidCard(cards.bo));
  t.like(legacy.read, { kind: 'legacy', uid: cards.bo });
  t.like(legacy.result, { decision: { outcome: 'balance', card_kind: 'legacy', balance_ore: 200 } });
  t.deepEqual(reader.feedback.shown, ['approved', 'balance']);
});

test('a card pulled away mid-read gives no tap; laid back at once it is read again cleanly, and pays once', async (t) => {
  const { site, emma } = await siteWithEmma(t);
  const reader = await pcscReader(t, site);
  await basket(site);
  // pulled away for good during READ BINARY (after GET UID, SELECT application, SELECT file)
  const misread = waitForEvent(reader.daemon, 'misread', () => true, 10_000);
  const pulled = new VpcdLink(emma);
  pulled.pullAwayAfter(3);
  await insertWhenReady(pulled);
  await misread;
  t.false(pulled.inserted);
  t.is(tapCount(site), 0, 'no half tap reached the gateway');
  t.deepEqual(reader.feedback.shown, ['read_failed']);
  await new Promise((r) => setTimeout(r, 1_000)); // pcscd has seen it go

  // pulled away and laid back before pcscd noticed: the reader retries on a fresh connection
  const result = waitForEvent<[TapResult]>(reader.daemon, 'result', () => true, 15_000);
  const flicker = new VpcdLink(emma);
  flicker.pullAwayAfter(3);
  await insertWhenReady(flicker);
  for (let i = 0; flicker.inserted && i < 2_000; i++) await new Promise((r) => setTimeout(r, 5));
  const back = new VpcdLink(emma);
  await insertWhenReady(back);
  t.like((await result)[0], { decision: { outcome: 'approved' } });
  back.remove();
  t.is(tapCount(site), 1);
  t.deepEqual(reader.feedback.shown, ['read_failed', 'read_failed', 'approved']);
});

test('the reader heals by itself when pcscd restarts', async (t) => {
  const { site, emma } = await siteWithEmma(t);
  const reader = await pcscReader(t, site);
  t.like((await reader.tap(emma)).result, { decision: { outcome: 'balance' } });
  const gone = waitForEvent<[boolean]>(reader.port, 'ready', (r) => !r, 10_000);
  await pcscd.kill();
  await gone;
  t.false(reader.port.ready);
  const back = waitForEvent<[boolean]>(reader.port, 'ready', (r) => r, 15_000);
  await pcscd.start();
  await back;
  t.like((await reader.tap(emma)).result, { decision: { outcome: 'balance' } });
  t.is(tapCount(site), 2);
});

test('the reader heals when pcscd is gone for longer than its give-up timer and comes back', async (t) => {
  // pcscd stopped (a crash, an upgrade) with no reader for a while; the NFC reader unplugged and
  // plugged back is tests/usb-hotplug.test.ts.
  const { site, emma } = await siteWithEmma(t);
  const reader = await pcscReader(t, site);
  const gone = waitForEvent<[boolean]>(reader.port, 'ready', (r) => !r, 10_000);
  // the gateway hears that this reader has no NFC reader now
  const told = waitForEvent<[ReaderStatus]>(
    site.gateway,
    'reader',
    (s) => s.reader_id === 'r-pcsc' && s.port?.ready === false,
    10_000,
  );
  await pcscd.kill();
  await Promise.all([gone, told]);
  await new Promise((r) => setTimeout(r, 4_000)); // gone longer than the port's own give-up timer
  const back = waitForEvent<[boolean]>(reader.port, 'ready', (r) => r, 15_000);
  await pcscd.start();
  await back;
  t.like((await reader.tap(emma)).result, { decision: { outcome: 'balance' } });
});

test('kantine-card twin: a person makes, programs and taps a card twin by hand; its counter is kept between runs', async (t) => {
  const site = await startSite(t);
  registerCard(site.ledger, EMMA, 'acc-alma');
  const reader = await pcscReader(t, site);
  const dir = mkdtempSync(join(tmpdir(), 'kantine-twin-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'twins.json');
  const shell = (input: string) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import=tsx', 'card/src/cli.ts', 'twin', '--state', state], {
        cwd: repoRoot,
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
      });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`twin shell exited ${code}: ${out}`))));
      child.stdin.end(input);
    });
  const app = KEYS.appMaster.toString('hex');
  const sdm = KEYS.sdmMaster.toString('hex');
  const first = waitForEvent<[TapResult, CardRead]>(reader.daemon, 'result', () => true, 20_000);
  // held 2 s, not a child's 0.7 s: pcscd polls every 400 ms, and CI runs other heavy files beside
  const out = await shell(`new emma ${EMMA}\nprogram emma TEST-01 ${app} ${sdm}\ntap emma 2000\nlist\nquit\n`);
  t.regex(out, /emma: programmed/);
  t.regex(out, /emma tapped/, out);
  t.like((await first)[1], { kind: 'ntag424', uid: EMMA, batch: 'TEST-01' });
  t.like((await first)[0], { decision: { outcome: 'balance', card_kind: 'ntag424' } });
  const second = waitForEvent<[TapResult]>(reader.daemon, 'result', () => true, 20_000);
  const again = await shell('tap emma 2000\nlist\n');
  t.regex(again, /emma tapped/, again);
  t.regex(again, /read counter 2/);
  t.like((await second)[0], { decision: { outcome: 'balance' } }, 'not a replay: the counter was kept');
});

test('the PC/SC layer closes cleanly: contexts opened and closed while they wait leave no socket behind', async (t) => {
  const NFC = loadNfcPcsc();
  if (!NFC) throw new Error('nfc-pcsc did not load');
  const sockets = () => readdirSync('/proc/self/fd').length;
  const openAndClose = async () => {
    const nfc = new NFC();
    const [reader] = (await once(nfc, 'reader')) as [EventEmitter];
    const ended = once(reader, 'end');
    nfc.close(); // its wait on pcscd is in flight: cancelled, then both contexts are released
    await ended;
  };
  const baseline = sockets();
  for (let i = 0; i < 20; i++) await openAndClose();
  // each context is one socket to pcscd; @pokusew/pcsclite kept them until garbage collection
  await until(async () => (sockets() <= baseline ? true : undefined), 'every PC/SC context released', 5_000);
  t.true(sockets() <= baseline);
});
