/**
 * IT programs a batch of 100 blank cards with `kantine cards program`, a real process talking to
 * pcscd through nfc-pcsc, with 100 NTAG 424 DNA twins laid on the vpcd reader one after another.
 * Only the radio is simulated. The batch is stopped part-way and resumed; a card lifted mid-way,
 * a card programmed but not journalled, a foreign card and an old UID card are among them.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSunTap, LegacyUidCard, Ntag424Card, personalizeCard, type VirtualCard, VpcdLink } from '@kantine/card';
import { readBatchKeys, validCardNumber } from '@kantine/provisioning';
import anyTest, { type TestFn } from 'ava';
import { masters, onReader, readTwin } from './helpers/cards.ts';
import { startCentral } from './helpers/central.ts';
import { CliRun, kantine } from './helpers/cli.ts';
import { insertWhenReady, Pcscd, pcscMissing } from './helpers/pcscd.ts';

const missing = pcscMissing();
if (missing && process.env.CI) throw new Error(`the card batch tests must run in CI, but ${missing}`);
const test = (missing ? anyTest.skip : anyTest.serial) as TestFn;
if (missing) process.stderr.write(`card-batch.test.ts: skipped, ${missing}\n`);

const pcscd = new Pcscd();
anyTest.before(async () => {
  if (!missing) await pcscd.start();
});
anyTest.after.always(async () => {
  if (!missing) await pcscd.restore();
});

const URL_BASE = 'https://kort.kommune.example/t';
const uidOf = (i: number) => `04C1${i.toString(16).toUpperCase().padStart(8, '0')}90`;

interface Laid {
  card: VirtualCard;
  /** The card leaves the field after answering this many APDUs (a hand lifting it too soon). */
  pullAwayAfter?: number;
}

/**
 * Plays IT at the reader: lays the next card when the tool asks for one, takes it away when the
 * tool says it is done with it. Stops the tool (Ctrl-C) once `stopAt` cards are done.
 */
function operate(run: CliRun, cards: Laid[], stopAt?: number): void {
  let link: VpcdLink | undefined;
  const queue = [...cards];
  run.on('event', (e) => {
    if (e.event === 'waiting') {
      if (stopAt !== undefined && e.done >= stopAt) {
        run.child.kill('SIGINT');
        return;
      }
      const next = queue.shift();
      if (!next) return;
      link = new VpcdLink(next.card);
      if (next.pullAwayAfter !== undefined) link.pullAwayAfter(next.pullAwayAfter);
      void insertWhenReady(link);
    }
    if (e.event === 'card' || e.event === 'rejected' || e.event === 'already_done') link?.remove();
  });
}

test('100 blank cards are programmed through pcscd and vpcd, checked, numbered, stopped and resumed, printed and put in stock', async (t) => {
  t.timeout(600_000);
  const dir = mkdtempSync(join(tmpdir(), 'kantine-batch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const central = await startCentral(t);
  const itToken = await central.tokenFor('it');
  await central.addSite('bakkeskolen');

  const made = await kantine(['--json', 'cards', 'new-batch', 'KOMMUNE-2026-01', '--keys', 'batch.keys.json'], {
    cwd: dir,
  });
  t.is(made.code, 0, made.stderr);
  const again = await kantine(['cards', 'new-batch', 'KOMMUNE-2026-01', '--keys', 'batch.keys.json'], { cwd: dir });
  t.is(again.code, 2, 'a keys file is never overwritten');
  t.regex(again.stderr, /never overwritten/);
  const keys = readBatchKeys(join(dir, 'batch.keys.json'));

  const fresh = Array.from({ length: 100 }, (_, i) => new Ntag424Card(uidOf(i)));
  // Someone else's card (another batch's keys) and a child's old UID card get mixed in.
  const foreign = new Ntag424Card('04F0000000F001');
  await personalizeCard(onReader(foreign).host, { batch: 'ANDEN-01', keys: masters(0x51), urlBase: URL_BASE });
  const legacy = new LegacyUidCard('A1B2C3D4');

  const args = [
    '--json',
    'cards',
    'program',
    '--keys',
    'batch.keys.json',
    '--count',
    '100',
    '--url-base',
    URL_BASE,
    '--issuer',
    '0751',
    '--reader',
    'Virtual PCD 00 00',
    '--office',
    'bakkeskolen',
    '--central',
    central.http,
  ];

  // First sitting: stopped (Ctrl-C) after 39 cards.
  const first = new CliRun(args, { cwd: dir, env: { KANTINE_CENTRAL_TOKEN: itToken } });
  operate(
    first,
    [
      { card: legacy },
      { card: foreign },
      // lifted after 12 answers: keys 1 and 2 changed, the rest not
      { card: fresh[0] as Ntag424Card, pullAwayAfter: 12 },
      ...fresh.slice(1, 40).map((card) => ({ card })),
    ],
    39,
  );
  const stopped = await first.done;
  t.is(stopped.code, 130, stopped.stderr);
  t.deepEqual(
    first.events.filter((e) => e.event === 'rejected').map((e) => e.code),
    ['card_not_ntag424', 'card_not_blank', 'card_check_failed'],
  );
  t.like(first.events.at(-1), { event: 'stopped', done: 39, total: 100 });
  const cardEvents = first.events.filter((e) => e.event === 'card');
  t.is(cardEvents.length, 39);
  t.true(cardEvents.every((e) => e.outcome === 'programmed' && typeof e.eta_s === 'number'));

  // A card programmed by a run that died before it could write the journal.
  const unjournalled = fresh[40] as Ntag424Card;
  await personalizeCard(onReader(unjournalled).host, { batch: keys.batch, keys, urlBase: URL_BASE });

  // Second sitting: the same command resumes.
  const second = new CliRun(args, { cwd: dir, env: { KANTINE_CENTRAL_TOKEN: itToken } });
  operate(second, [
    { card: fresh[1] as Ntag424Card }, // already done: recognised from the journal, not counted
    { card: fresh[0] as Ntag424Card }, // the half-done card is finished
    { card: unjournalled }, // recognised by its keys, checked and journalled
    ...fresh.slice(41).map((card) => ({ card })),
  ]);
  const finished = await second.done;
  t.is(finished.code, 0, finished.stderr);
  t.like(
    second.events.find((e) => e.event === 'resume'),
    { done: 39 },
  );
  const firstNumber = cardEvents[0].card_number;
  t.like(
    second.events.find((e) => e.event === 'already_done'),
    { uid: uidOf(1), card_number: firstNumber },
  );
  const outcomes = Object.fromEntries(second.events.filter((e) => e.event === 'card').map((e) => [e.uid, e.outcome]));
  t.is(outcomes[uidOf(0)], 'programmed');
  t.is(outcomes[uidOf(40)], 'recognised');
  t.like(finished.json, { batch: 'KOMMUNE-2026-01', cards: 100, stock: { added: 100, already: 0 } });

  // The journal and the print file: 100 cards, each once, each number valid and unique.
  const journal = readFileSync(join(dir, 'KOMMUNE-2026-01.journal.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => JSON.parse(l));
  t.is(journal.length, 100);
  t.is(new Set(journal.map((c) => c.uid)).size, 100);
  t.deepEqual(journal.map((c) => c.uid).sort(), fresh.map((c) => c.uid.toString('hex').toUpperCase()).sort());
  t.is(new Set(journal.map((c) => c.card_number)).size, 100);
  t.true(journal.every((c) => validCardNumber(c.card_number) && c.card_number.startsWith('0751-')));
  const print = readFileSync(join(dir, 'KOMMUNE-2026-01.print.csv'), 'utf8').trim().split('\n');
  t.is(print[0], 'parti;nr;kortnummer;uid');
  t.deepEqual(
    print.slice(1).map((l) => l.split(';')[2]),
    journal.map((c) => c.card_number),
  );

  // Every card now answers as a genuine kantine card of this batch; the others are untouched.
  for (const card of fresh) {
    const read = await readTwin(card);
    if (read.kind !== 'ntag424') throw new Error(`${read.uid} reads as ${read.kind}`);
    t.is(read.batch, keys.batch);
    t.is(checkSunTap({ sdmMaster: keys.sdmMaster, uid: read.uid, picc: read.picc, mac: read.mac }).result, 'genuine');
  }
  t.like(await readTwin(foreign), { kind: 'ntag424', batch: 'ANDEN-01' });

  // Central has them in stock at the office; registering again changes nothing.
  t.deepEqual((await central.api('GET', '/api/sites/bakkeskolen/stock')).body, {
    stock: [{ batch_id: 'KOMMUNE-2026-01', cards: 100 }],
  });
  const register = await kantine(
    ['--json', 'cards', 'register', '--keys', 'batch.keys.json', '--office', 'bakkeskolen', '--central', central.http],
    { cwd: dir, env: { KANTINE_CENTRAL_TOKEN: itToken } },
  );
  t.is(register.code, 0, register.stderr);
  t.like(register.json, { added: 0, already: 100 });
});

test('no reader, a wrong journal and bad options are coded errors that say what to do; nothing is written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-batch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.is((await kantine(['cards', 'new-batch', 'B-1', '--keys', 'b.keys.json'], { cwd: dir })).code, 0);
  const base = ['--keys', 'b.keys.json', '--count', '2', '--url-base', URL_BASE, '--issuer', '0751'];

  const noReader = await kantine(['cards', 'program', ...base, '--reader', 'No Such Reader'], { cwd: dir });
  t.is(noReader.code, 2);
  t.regex(noReader.stderr, /\[no_card_reader\]/);
  t.regex(noReader.stderr, /What to do: Plug in the USB card reader/);
  t.regex(noReader.stderr, /Gør sådan: /);

  const badCount = await kantine(
    ['--json', 'cards', 'program', ...base.slice(0, 2), '--count', 'mange', ...base.slice(4)],
    {
      cwd: dir,
    },
  );
  t.is(badCount.code, 2);
  t.like(JSON.parse(badCount.stderr.trim()), { error: { code: 'invalid_request' } });

  t.deepEqual(readdirSync(dir), ['b.keys.json'], 'no journal or print file from runs that did nothing');

  t.is((await kantine(['cards', 'new-batch', 'B-2', '--keys', 'c.keys.json'], { cwd: dir })).code, 0);
  writeFileSync(
    join(dir, 'B-1.journal.jsonl'),
    `${JSON.stringify({ kind: 'batch', batch: 'B-1', issuer: '0751', url_base: URL_BASE, created_at: new Date().toISOString() })}\n`,
  );
  const wrongJournal = await kantine(
    ['--json', 'cards', 'program', '--keys', 'c.keys.json', ...base.slice(2), '--journal', 'B-1.journal.jsonl'],
    { cwd: dir },
  );
  t.is(wrongJournal.code, 2);
  t.like(JSON.parse(wrongJournal.stderr.trim().split('\n').at(-1) as string), {
    error: {
      code: 'journal_mismatch',
      action_en: 'Use this batch’s journal file, or choose a new file name with --journal.',
    },
  });
});
