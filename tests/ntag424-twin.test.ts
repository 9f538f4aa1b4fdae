import {
  buildSunNdef,
  type CardError,
  cardKey,
  checkSunTap,
  crc32nk,
  FACTORY_KEY,
  FILE,
  KEY_NO,
  Ntag424,
  Ntag424Card,
  personalizeCard,
  readCard,
  sdmKeys,
  sunFileSettings,
  verifySun,
} from '@kantine/card';
import test from 'ava';
import { BATCH, KEYS, masters, onReader, programmedCard, readTwin, URL_BASE } from './helpers/cards.ts';

const UID = '04A1B2C3D4E580';

const programmed = (uid = UID, keys = KEYS) => programmedCard(uid, keys);

async function tap(card: Ntag424Card) {
  const read = await readTwin(card);
  if (read.kind !== 'ntag424') throw new Error(`read a ${read.kind} card`);
  return read;
}

const statusOf = async (p: Promise<unknown>) =>
  (
    (await p.then(
      () => undefined,
      (e) => e,
    )) as CardError | undefined
  )?.status;

test('CRC32 for ChangeKey is the JAMCRC variant (check value of "123456789")', (t) => {
  t.is(crc32nk(Buffer.from('123456789')).toString('hex').toUpperCase(), 'D9C60B34');
});

test('a factory-fresh twin: key 0 is zero, version 00; a wrong key is refused with 91 AE', async (t) => {
  const card = new Ntag424Card(UID);
  const { host } = onReader(card);
  await host.selectApplication();
  t.is(await host.getKeyVersion(0), 0);
  t.is(await statusOf(host.authenticateEv2First(0, Buffer.alloc(16, 1))), 'AUTHENTICATION_ERROR');
  t.false(host.authenticated);
  await host.authenticateEv2First(0, FACTORY_KEY);
  t.is((await host.getCardUid()).toString('hex').toUpperCase(), UID);
  t.deepEqual(await host.getFileSettings(FILE.ndef.no), {
    commMode: 'plain',
    access: { read: 0xe, write: 0xe, readWrite: 0xe, change: 0 },
    size: 256,
  });
});

test('a command with a wrong MAC gets INTEGRITY_ERROR (91 1E) and ends the session', async (t) => {
  const card = new Ntag424Card(UID);
  let corruptNext = false;
  const host = new Ntag424(async (apdu) => {
    const out = Buffer.from(apdu);
    if (corruptNext && out[0] === 0x90) out[out.length - 2] = (out[out.length - 2] as number) ^ 0x01; // last MAC byte
    return card.transmit(out);
  });
  await host.selectApplication();
  await host.authenticateEv2First(0, FACTORY_KEY);
  corruptNext = true;
  t.is(await statusOf(host.getFileSettings(FILE.ndef.no)), 'INTEGRITY_ERROR');
  corruptNext = false;
  t.false(host.authenticated);
  // the card forgot the session too: a MAC'd command now has nothing to check against
  await host.authenticateEv2First(0, FACTORY_KEY);
  t.is((await host.getFileSettings(FILE.ndef.no)).size, 256);
});

test('personalising: keys changed (other keys via XOR + CRC), SDM on, factory key refused after', async (t) => {
  const card = await programmed();
  const { host } = onReader(card);
  await host.selectApplication();
  t.is(await statusOf(host.authenticateEv2First(0, FACTORY_KEY)), 'AUTHENTICATION_ERROR');
  const uid = Buffer.from(UID, 'hex');
  await host.authenticateEv2First(0, cardKey(KEYS.appMaster, 0, uid));
  for (const n of [0, 1, 2, 3, 4]) t.is(await host.getKeyVersion(n), 1, `key ${n} version`);
  const template = buildSunNdef({ urlBase: URL_BASE, batch: BATCH });
  t.deepEqual(await host.getFileSettings(FILE.ndef.no), { ...sunFileSettings(template), size: 256 });
  // the SDM keys really are the diversified ones: they open a session
  await host.authenticateEv2First(KEY_NO.sdmFileRead, sdmKeys(KEYS.sdmMaster, uid).fileRead);
  await host.authenticateEv2First(KEY_NO.sdmMetaRead, sdmKeys(KEYS.sdmMaster, uid).metaRead);
  // writing the NDEF file now needs key 0
  const { host: anon } = onReader(card);
  await anon.selectApplication();
  t.is(await statusOf(anon.writeData(FILE.ndef.no, 0, Buffer.from('hi'))), 'PERMISSION_DENIED');
});

test('a programmed card is recognised, not broken; a card with foreign keys is refused', async (t) => {
  const card = await programmed();
  t.deepEqual(await personalizeCard(onReader(card).host, { batch: BATCH, keys: KEYS, urlBase: URL_BASE }), {
    uid: UID,
    outcome: 'already_programmed',
  });
  const err = await t.throwsAsync(
    personalizeCard(onReader(card).host, { batch: BATCH, keys: masters(0x55), urlBase: URL_BASE }),
  );
  t.regex(err?.message ?? '', /not ours/);
});

test('each read mirrors a fresh SUN: the counter grows, the gateway keys verify it, reading in pieces is one read', async (t) => {
  const card = await programmed();
  const first = await tap(card);
  t.like(first, { kind: 'ntag424', uid: UID, batch: BATCH });
  t.deepEqual(checkSunTap({ sdmMaster: KEYS.sdmMaster, ...first }), { result: 'genuine', counter: 1 });
  const second = await tap(card);
  t.deepEqual(checkSunTap({ sdmMaster: KEYS.sdmMaster, ...second }), { result: 'genuine', counter: 2 });
  t.not(second.picc, first.picc);
  t.is(card.readCounter, 2);
  // the verification CLI's function agrees, with the card's own SDM keys
  const keys = sdmKeys(KEYS.sdmMaster, Buffer.from(UID, 'hex'));
  t.deepEqual(
    verifySun({
      metaReadKey: keys.metaRead,
      fileReadKey: keys.fileRead,
      piccData: Buffer.from(second.picc, 'hex'),
      mac: Buffer.from(second.mac, 'hex'),
    }),
    { valid: true, uid: UID, counter: 2 },
  );
});

test('a tampered MAC, a clone with the right UID and wrong keys, and a replay are told apart', async (t) => {
  const card = await programmed();
  const read = await tap(card);
  const flipped = (read.mac.slice(0, 15) + (read.mac[15] === '0' ? '1' : '0')) as string;
  t.deepEqual(checkSunTap({ sdmMaster: KEYS.sdmMaster, ...read, mac: flipped }), { result: 'tampered' });
  // same UID, programmed with another batch's keys (what an emulator with a copied UID can do)
  const clone = await programmed(UID, masters(0x66));
  t.deepEqual(checkSunTap({ sdmMaster: KEYS.sdmMaster, ...(await tap(clone)) }), { result: 'clone' });
  // a replay is genuine but its counter does not grow: the gateway refuses it (tested there)
  t.deepEqual(checkSunTap({ sdmMaster: KEYS.sdmMaster, ...read }), { result: 'genuine', counter: 1 });
});

test('FULL mode: the proprietary file is written with key 3 and read back encrypted with key 2', async (t) => {
  const card = await programmed();
  const keys = [0, 1, 2, 3, 4].map((n) =>
    cardKey(n === 1 || n === 2 ? KEYS.sdmMaster : KEYS.appMaster, n, Buffer.from(UID, 'hex')),
  );
  const { host } = onReader(card);
  await host.selectApplication();
  await host.authenticateEv2First(3, keys[3] as Buffer);
  await host.writeData(FILE.proprietary.no, 0, Buffer.from('kantine: ingen nødder'), 'full');
  await host.authenticateEv2First(2, keys[2] as Buffer);
  const back = await host.readData(FILE.proprietary.no, 0, 22, 'full');
  t.is(back.toString('utf8'), 'kantine: ingen nødder');
  const { host: anon } = onReader(card);
  await anon.selectApplication();
  t.is(await statusOf(anon.readData(FILE.proprietary.no, 0, 16)), 'PERMISSION_DENIED');
  await anon.selectFile(FILE.proprietary.fid);
  t.is(await statusOf(anon.readBinary(0, 16)), 'SECURITY_STATUS_NOT_SATISFIED');
});

test('a UID-only card and a blank NTAG 424 DNA read as legacy; the twin keeps its state across runs', async (t) => {
  t.deepEqual(await readCard(onReader(new Ntag424Card(UID)).transmit), { kind: 'legacy', uid: UID });
  const card = await programmed();
  await tap(card);
  const again = Ntag424Card.fromJSON(JSON.parse(JSON.stringify(card.toJSON())));
  const read = await tap(again);
  t.deepEqual(checkSunTap({ sdmMaster: KEYS.sdmMaster, ...read }), { result: 'genuine', counter: 2 });
  t.throws(() => new Ntag424Card('04A1'), { instanceOf: RangeError });
});
