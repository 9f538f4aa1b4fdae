import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger, migrations } from '@kantine/gateway';
import test from 'ava';
import Database from 'better-sqlite3';
import { decideTap } from './helpers/decide.ts';
import { cards, makeTap, seedFixture } from './helpers/site.ts';

// Schema 12 (issue 22): fewer B-trees per sale. What the till, its report and the voids read must
// read the same as before.

function tempDir(t: import('ava').ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-tap-indexes-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("a till's latest decisions list sales, declines and balance checks together, newest first", (t) => {
  let now = Date.parse('2026-11-23T10:00:00Z');
  // A second between taps, so their order is their time's.
  const tick = () => {
    now += 1000;
    return new Date(now);
  };
  const ledger = new Ledger(join(tempDir(t), 'l.db'), { now: tick });
  t.teardown(() => ledger.close());
  seedFixture(ledger);
  const tap = (card: string, till = 'till-1') =>
    ledger.transaction(() => decideTap(ledger, makeTap(till === 'till-1' ? 'reader-1' : 'reader-2', card), till));

  const balance = tap(cards.alma); // no basket yet: a balance check
  ledger.baskets.setBasket('till-1', [{ product_id: 'yoghurt', quantity: 1 }], true);
  const sale1 = tap(cards.alma);
  const unknown = tap(cards.unknown);
  const poor = tap(cards.bo); // 2,00 kr for a 6,00 kr yoghurt
  const sale2 = tap(cards.alma);
  ledger.baskets.setBasket('till-2', [{ product_id: 'ostehoeps', quantity: 1 }], true);
  const elsewhere = tap(cards.alma, 'till-2');

  const outcomes = (list: { tap_id: string; outcome: string }[]) => list.map((d) => `${d.outcome}:${d.tap_id}`);
  const expected = [sale2, poor, unknown, sale1, balance].map((d) => d.decision);
  const since = '2026-11-01T00:00:00.000Z';
  t.deepEqual(outcomes(ledger.taps.recentDecisions('till-1', 20, since)), outcomes(expected));
  t.deepEqual(ledger.taps.recentDecisions('till-1', 20, since)[0], sale2.decision, 'the stored decision, whole');
  t.deepEqual(outcomes(ledger.taps.recentDecisions('till-1', 2, since)), outcomes(expected.slice(0, 2)));
  t.deepEqual(outcomes(ledger.taps.recentDecisions('till-2', 20, since)), outcomes([elsewhere.decision]));
  // `since` bounds both kinds: from the unknown card's time on, the unknown card, the poor tap and sale 2.
  t.deepEqual(
    outcomes(ledger.taps.recentDecisions('till-1', 20, unknown.decision.decided_at)),
    outcomes([sale2, poor, unknown].map((d) => d.decision)),
  );

  const report = ledger.reports.tillReport('till-1', '2026-11-23');
  t.like(report, { sales: { count: 2, total_ore: 1_200 } });
  t.deepEqual(report.declines, [
    { code: 'insufficient_funds', count: 1 },
    { code: 'unknown_card', count: 1 },
  ]);
});

test('a schema-10 ledger with sales, a void and declines migrates with its money, reports and voids intact', (t) => {
  const path = join(tempDir(t), 'old.db');
  const old = new Database(path);
  for (const [i, sql] of migrations.slice(0, 10).entries()) {
    old.exec(sql);
    old.pragma(`user_version = ${i + 1}`);
  }
  old.exec(`
    INSERT INTO places VALUES ('kantinen', 'Kantinen', 'school');
    INSERT INTO tills VALUES ('till-1', 'kantinen', 'Kasse 1');
    INSERT INTO accounts (id, first_name, balance_ore, created_at) VALUES ('acc', 'Alma', 1000, '2026-11-20T09:00:00.000Z');
    INSERT INTO entries (id, account_id, kind, amount_ore, balance_after_ore, created_at)
      VALUES ('e1', 'acc', 'deposit', 1000, 1000, '2026-11-20T09:00:00.000Z');
    INSERT INTO entries (id, account_id, kind, amount_ore, balance_after_ore, tap_id, till_id, place_kind, created_at)
      VALUES ('e2', 'acc', 'purchase', -300, 700, 't1', 'till-1', 'school', '2026-11-20T10:00:00.000Z');
    INSERT INTO entry_lines VALUES ('e2', 1, 'ostehoeps', 'Ostehøps', 1, 300);
    INSERT INTO entries (id, account_id, kind, amount_ore, balance_after_ore, tap_id, till_id, place_kind, created_at)
      VALUES ('e3', 'acc', 'purchase', -300, 400, 't2', 'till-1', 'school', '2026-11-20T10:05:00.000Z');
    INSERT INTO entry_lines VALUES ('e3', 1, 'ostehoeps', 'Ostehøps', 1, 300);
    INSERT INTO entries (id, account_id, kind, amount_ore, balance_after_ore, till_id, place_kind, voids_entry_id, reason, created_at)
      VALUES ('e4', 'acc', 'void', 300, 700, 'till-1', 'school', 'e3', 'forkert vare', '2026-11-20T10:06:00.000Z');
    UPDATE accounts SET balance_ore = 700 WHERE id = 'acc';
    INSERT INTO taps VALUES ('t1', 'reader-1', 'till-1', 'U1', 'approved', NULL,
      '{"v":1,"tap_id":"t1","reader_id":"reader-1","till_id":"till-1","outcome":"approved","decided_at":"2026-11-20T10:00:00.000Z"}',
      '2026-11-20T10:00:00.000Z');
    INSERT INTO taps VALUES ('t3', 'reader-1', 'till-1', 'U2', 'declined', 'unknown_card',
      '{"v":1,"tap_id":"t3","reader_id":"reader-1","till_id":"till-1","outcome":"declined","code":"unknown_card","decided_at":"2026-11-20T10:07:00.000Z"}',
      '2026-11-20T10:07:00.000Z');
  `);
  old.close();

  const ledger = new Ledger(path, { now: () => new Date('2026-11-20T12:00:00Z') });
  t.teardown(() => ledger.close());
  t.is(ledger.db.pragma('user_version', { simple: true }), migrations.length);
  t.deepEqual(ledger.reports.verify(), []);
  t.like(ledger.reports.tillReport('till-1', '2026-11-20'), {
    sales: { count: 2, total_ore: 600 },
    voids_total_ore: 300,
    net_ore: 300,
    declines: [{ code: 'unknown_card', count: 1 }],
  });
  // The sale whose tap row is missing (t2) is still in the report; the screen lists the taps it has.
  t.deepEqual(
    ledger.taps.recentDecisions('till-1', 10, '2026-11-01T00:00:00.000Z').map((d) => d.tap_id),
    ['t3', 't1'],
  );
  // A sale is still voided at most once, by the partial unique index.
  t.throws(
    () =>
      ledger.db
        .prepare(
          `INSERT INTO entries (id, account_id, kind, amount_ore, balance_after_ore, till_id, voids_entry_id, reason, created_at)
           VALUES ('e5', 'acc', 'void', 300, 1000, 'till-1', 'e3', 'igen', '2026-11-20T11:00:00.000Z')`,
        )
        .run(),
    { any: true, code: 'SQLITE_CONSTRAINT_UNIQUE' },
  );
  t.throws(() => ledger.db.prepare("DELETE FROM entries WHERE id = 'e1'").run(), { any: true, message: /immutable/ });
  t.is(ledger.db.pragma('foreign_keys', { simple: true }), 1);
  t.deepEqual(ledger.db.pragma('foreign_key_check'), []);
});
