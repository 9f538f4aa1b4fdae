import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Clock, Ledger } from '@kantine/gateway';
import test from 'ava';
import { cards, makeTap, seedFixture } from './helpers/site.ts';

function openLedger(
  t: import('ava').ExecutionContext,
  clock: Clock = { now: () => new Date('2026-11-23T11:30:00+01:00') },
) {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-ledger-'));
  const ledger = new Ledger(join(dir, 'l.db'), clock);
  t.teardown(() => {
    ledger.close();
    rmSync(dir, { recursive: true, force: true });
  });
  seedFixture(ledger);
  return ledger;
}

test('the ledger is durable before it answers: WAL and synchronous=FULL', (t) => {
  const ledger = openLedger(t);
  t.is(ledger.db.pragma('journal_mode', { simple: true }), 'wal');
  t.is(ledger.db.pragma('synchronous', { simple: true }), 2); // FULL
});

test('ledger entries cannot be edited or deleted', (t) => {
  const ledger = openLedger(t);
  ledger.setBasket('till-1', [{ product_id: 'yoghurt', quantity: 1 }]);
  ledger.transaction(() => ledger.decideTap(makeTap('reader-1', cards.alma), 'till-1'));
  t.is((ledger.db.prepare('SELECT COUNT(*) AS n FROM entry_lines').get() as { n: number }).n, 1);
  // better-sqlite3's SqliteError is not an Error to ava: `any`, and assert SQLite's own code.
  const refused = { any: true, code: 'SQLITE_CONSTRAINT_TRIGGER', message: /immutable/ } as const;
  t.throws(() => ledger.db.prepare('UPDATE entries SET amount_ore = 1').run(), refused);
  t.throws(() => ledger.db.prepare('DELETE FROM entries').run(), refused);
  t.throws(() => ledger.db.prepare('DELETE FROM entry_lines').run(), refused);
});

test('every balance equals the sum of its entries after sales and deposits', (t) => {
  const ledger = openLedger(t);
  ledger.setBasket('till-1', [{ product_id: 'ostehoeps', quantity: 2 }], true);
  ledger.transaction(() => {
    for (let i = 0; i < 5; i++) ledger.decideTap(makeTap('reader-1', cards.alma), 'till-1');
  });
  ledger.deposit({ account_id: 'acc-alma', amount_ore: 2_500 });
  t.is(ledger.getAccount('acc-alma')?.balance_ore, 10_000 - 5 * 600 + 2_500);
  t.deepEqual(ledger.verify(), []);
});

test('a balance can never go below zero, even by a bug around the authorizer', (t) => {
  const ledger = openLedger(t);
  t.throws(() => ledger.db.prepare("UPDATE accounts SET balance_ore = -1 WHERE id = 'acc-bo'").run(), {
    any: true,
    code: 'SQLITE_CONSTRAINT_CHECK',
  });
});

test('deposits must be positive whole øre', (t) => {
  const ledger = openLedger(t);
  for (const amount_ore of [0, -100, 12.5, Number.NaN]) {
    t.is(t.throws(() => ledger.deposit({ account_id: 'acc-bo', amount_ore }))?.name, 'KantineError');
  }
  t.is(ledger.getAccount('acc-bo')?.balance_ore, 200);
});

test('decisions carry the time of the injected clock', (t) => {
  const ledger = openLedger(t, { now: () => new Date('2026-12-24T12:00:00Z') });
  const d = ledger.transaction(() => ledger.decideTap(makeTap('reader-1', cards.alma), 'till-1'));
  t.is(d.decision.decided_at, '2026-12-24T12:00:00.000Z');
});
