import { LegacyUidCard, type Ntag424Card } from '@kantine/card';
import type { CardRead } from '@kantine/protocol';
import test from 'ava';
import { masters, programmedCard, readTwin, registerCard } from './helpers/cards.ts';
import { makeTap, purchaseCount, rawTap, startSite, type TestSite } from './helpers/site.ts';

const EMMA = '04E0000000AA01';

async function siteWithEmma(t: import('ava').ExecutionContext, config?: Record<string, unknown>) {
  const site = await startSite(t, config ? { config } : {});
  const card = await programmedCard(EMMA);
  registerCard(site.ledger, EMMA, 'acc-alma');
  const secret = await site.enrol('r1', 'till-1');
  const client = await site.rawClient('r1', secret);
  const send = (read: CardRead) => rawTap(client, makeTap('r1', read));
  return { site, card, send };
}

const sell = async (site: TestSite) => {
  const res = await site.api('till-1', 'PUT', '/basket', { lines: [{ product_id: 'yoghurt', quantity: 1 }] });
  if (res.status !== 200) throw new Error(`basket: ${res.status} ${await res.text()}`);
};

const counterOf = (site: TestSite, uid: string) => site.ledger.accounts.getCard(uid)?.sun_counter;

test('a kantine card pays through a reader: its SUN is verified, the counter is kept, the kind is on the decision', async (t) => {
  const { site, card } = await siteWithEmma(t);
  const reader = await site.reader('r2', 'till-1');
  await sell(site);
  const result = await reader.tap(card);
  t.like(result, { kind: 'decision', decision: { outcome: 'approved', card_kind: 'ntag424', amount_ore: 600 } });
  t.is(counterOf(site, EMMA), 1);
  t.like(await reader.tap(card), { decision: { outcome: 'balance', balance_ore: 10_000 - 600 } });
  t.is(counterOf(site, EMMA), 2);
});

test('a replayed SUN message is declined card_replayed, and so is an older one after a newer', async (t) => {
  const { site, card, send } = await siteWithEmma(t);
  const first = await readTwin(card);
  const second = await readTwin(card);
  t.like(await send(second), { outcome: 'balance' });
  await sell(site);
  t.like(await send(second), { outcome: 'declined', code: 'card_replayed' });
  t.like(await send(first), { outcome: 'declined', code: 'card_replayed' });
  t.is(purchaseCount(site.ledger), 0, 'nothing was charged');
  t.like(await send(await readTwin(card)), { outcome: 'approved' }, 'the card itself still pays');
});

test('a tampered MAC is declined card_tampered, uses nothing up, and the real message still works', async (t) => {
  const { site, card, send } = await siteWithEmma(t);
  await sell(site);
  const read = await readTwin(card);
  if (read.kind !== 'ntag424') throw new Error('expected a SUN read');
  const mac = `${read.mac.slice(0, 15)}${read.mac.endsWith('0') ? '1' : '0'}`;
  t.like(await send({ ...read, mac }), { outcome: 'declined', code: 'card_tampered' });
  t.is(counterOf(site, EMMA), 0);
  t.is(purchaseCount(site.ledger), 0);
  t.like(await send(read), { outcome: 'approved' });
});

test('clones are declined card_cloned: right UID with wrong keys, a UID-only copy, another batch name', async (t) => {
  const { site, send } = await siteWithEmma(t);
  await sell(site);
  const clone: Ntag424Card = await programmedCard(EMMA, masters(0x66)); // same UID, keys of its own
  t.like(await send(await readTwin(clone)), { outcome: 'declined', code: 'card_cloned' });
  const uidCopy = new LegacyUidCard(EMMA); // what a UID-cloning phone or magic card shows
  t.like(await send({ kind: 'legacy', uid: uidCopy.uid.toString('hex').toUpperCase() }), {
    outcome: 'declined',
    code: 'card_cloned',
  });
  site.ledger.accounts.putBatch({ id: 'TEST-02', sdm_master: masters(0x11).sdmMaster });
  const renamed = await readTwin(await programmedCard(EMMA));
  if (renamed.kind !== 'ntag424') throw new Error('expected a SUN read');
  t.like(await send({ ...renamed, batch: 'TEST-02' }), { outcome: 'declined', code: 'card_cloned' });
  t.is(purchaseCount(site.ledger), 0);
});

test('a card of a batch this site does not know is declined card_unknown_batch', async (t) => {
  const { send } = await siteWithEmma(t);
  const foreign = await programmedCard('04E0000000BB02', masters(0x22), 'ANDEN-KOMMUNE-7');
  t.like(await send(await readTwin(foreign)), { outcome: 'declined', code: 'card_unknown_batch' });
  // a card of a known batch that was never registered is simply unknown
  const unregistered = await programmedCard('04E0000000CC03');
  t.like(await send(await readTwin(unregistered)), { outcome: 'declined', code: 'unknown_card' });
});

test('a genuine message is used up even when the tap is declined (a blocked card)', async (t) => {
  const { site, card, send } = await siteWithEmma(t);
  site.ledger.accounts.putCard({
    uid: EMMA,
    account_id: 'acc-alma',
    state: 'blocked',
    kind: 'ntag424',
    batch_id: 'TEST-01',
  });
  const read = await readTwin(card);
  t.like(await send(read), { outcome: 'declined', code: 'card_blocked' });
  site.ledger.accounts.putCard({
    uid: EMMA,
    account_id: 'acc-alma',
    state: 'active',
    kind: 'ntag424',
    batch_id: 'TEST-01',
  });
  t.like(await send(read), { outcome: 'declined', code: 'card_replayed' });
});

test('legacy cards work flagged as legacy, and the site setting switches them off', async (t) => {
  const open = await siteWithEmma(t);
  t.like(await open.send({ kind: 'legacy', uid: '04000000000A01' }), { outcome: 'balance', card_kind: 'legacy' });
  const closed = await siteWithEmma(t, { cards: { allow_legacy: false } });
  t.like(await closed.send({ kind: 'legacy', uid: '04000000000A01' }), {
    outcome: 'declined',
    code: 'legacy_card_refused',
  });
  t.like(await closed.send(await readTwin(closed.card)), { outcome: 'balance', card_kind: 'ntag424' });
  // an unknown UID is still just unknown
  t.like(await closed.send({ kind: 'legacy', uid: '04000000000F06' }), { outcome: 'declined', code: 'unknown_card' });
});
