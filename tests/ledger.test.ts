import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Clock, Ledger, migrations } from '@kantine/gateway';
import test from 'ava';
import Database from 'better-sqlite3';
import { decideTap } from './helpers/decide.ts';
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
  ledger.baskets.setBasket('till-1', [{ product_id: 'yoghurt', quantity: 1 }]);
  ledger.transaction(() => decideTap(ledger, makeTap('reader-1', cards.alma), 'till-1'));
  t.is((ledger.db.prepare('SELECT COUNT(*) AS n FROM entry_lines').get() as { n: number }).n, 1);
  // better-sqlite3's SqliteError is not an Error to ava: `any`, and assert SQLite's own code.
  const refused = { any: true, code: 'SQLITE_CONSTRAINT_TRIGGER', message: /immutable/ } as const;
  t.throws(() => ledger.db.prepare('UPDATE entries SET amount_ore = 1').run(), refused);
  t.throws(() => ledger.db.prepare('DELETE FROM entries').run(), refused);
  t.throws(() => ledger.db.prepare('DELETE FROM entry_lines').run(), refused);
});

test('every balance equals the sum of its entries after sales and deposits', (t) => {
  const ledger = openLedger(t);
  ledger.baskets.setBasket('till-1', [{ product_id: 'ostehoeps', quantity: 2 }], true);
  ledger.transaction(() => {
    for (let i = 0; i < 5; i++) decideTap(ledger, makeTap('reader-1', cards.alma), 'till-1');
  });
  ledger.entries.deposit({ account_id: 'acc-alma', amount_ore: 2_500 });
  t.is(ledger.accounts.getAccount('acc-alma')?.balance_ore, 10_000 - 5 * 600 + 2_500);
  t.deepEqual(ledger.reports.verify(), []);
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
    t.is(t.throws(() => ledger.entries.deposit({ account_id: 'acc-bo', amount_ore }))?.name, 'KantineError');
  }
  t.is(ledger.accounts.getAccount('acc-bo')?.balance_ore, 200);
});

test('decisions carry the time of the injected clock', (t) => {
  const ledger = openLedger(t, { now: () => new Date('2026-12-24T12:00:00Z') });
  const d = ledger.transaction(() => decideTap(ledger, makeTap('reader-1', cards.alma), 'till-1'));
  t.is(d.decision.decided_at, '2026-12-24T12:00:00.000Z');
});

test('a ledger from the previous schema is migrated with its money intact', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-migrate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'old.db');
  // A gateway of schema 2 with a sale in it, written by hand as that schema stood.
  const old = new Database(path);
  for (const [i, sql] of migrations.slice(0, 2).entries()) {
    old.exec(sql);
    old.pragma(`user_version = ${i + 1}`);
  }
  old.exec(`
    INSERT INTO places VALUES ('kantinen', 'Kantinen', 'school');
    INSERT INTO tills VALUES ('till-1', 'kantinen', 'Kasse 1');
    INSERT INTO accounts (id, first_name, balance_ore, created_at) VALUES ('acc', 'Alma', 700, '2026-11-20T10:00:00.000Z');
    INSERT INTO entries (id, account_id, kind, amount_ore, balance_after_ore, created_at)
      VALUES ('e1', 'acc', 'deposit', 1000, 1000, '2026-11-20T10:00:00.000Z');
    INSERT INTO entries (id, account_id, kind, amount_ore, balance_after_ore, tap_id, till_id, created_at)
      VALUES ('e2', 'acc', 'purchase', -300, 700, 't1', 'till-1', '2026-11-20T11:00:00.000Z');
    INSERT INTO entry_lines VALUES ('e2', 1, 'ostehoeps', 'Ostehøps', 1, 300);
  `);
  old.close();

  const ledger = new Ledger(path, { now: () => new Date('2026-11-20T12:00:00Z') });
  t.teardown(() => ledger.close());
  t.is(ledger.db.pragma('user_version', { simple: true }), migrations.length);
  t.deepEqual(ledger.reports.verify(), []);
  t.like(ledger.db.prepare("SELECT * FROM entries WHERE id = 'e2'").get(), { place_kind: 'school', till_id: 'till-1' });
  t.like(ledger.reports.tillReport('till-1', '2026-11-20'), { sales: { count: 1, total_ore: 300 } });
  t.throws(() => ledger.db.prepare("DELETE FROM entries WHERE id = 'e1'").run(), { any: true, message: /immutable/ });
  t.is(ledger.db.pragma('foreign_keys', { simple: true }), 1, 'foreign keys are on again');
});
