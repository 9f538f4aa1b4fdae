import type Database from 'better-sqlite3';
import type { Clock } from '../clock.ts';

/** What every store of the ledger is built on: the one database and the site's clock. */
export interface Db {
  readonly db: Database.Database;
  readonly clock: Clock;
}

/**
 * Runs `fn` in one write transaction (BEGIN IMMEDIATE): one commit, one fsync. Inside another
 * transaction it is a savepoint of that one (as better-sqlite3's `transaction` nests).
 *
 * The same as `db.transaction(fn).immediate()`, whose wrapper better-sqlite3 builds anew for each
 * function: that alone was a tenth of the CPU a site spends applying a change from central.
 */
export function writeTransaction<T>(db: Database.Database, fn: () => T): T {
  if (db.inTransaction) return savepoint(db, fn);
  const s = control(db);
  s.begin.run();
  try {
    const result = fn();
    if (result instanceof Promise) throw new TypeError('a transaction function must not return a promise');
    s.commit.run();
    return result;
  } catch (err) {
    if (db.inTransaction) s.rollback.run();
    throw err;
  }
}

/**
 * Runs `fn` in a savepoint of the transaction that is open: if it throws, what it did is undone
 * and the error goes on; the transaction around it stays open.
 */
export function savepoint<T>(db: Database.Database, fn: () => T): T {
  const s = control(db);
  s.savepoint.run();
  try {
    const result = fn();
    s.release.run();
    return result;
  } catch (err) {
    if (db.inTransaction) {
      s.rollbackTo.run();
      s.release.run();
    }
    throw err;
  }
}

function control(db: Database.Database) {
  return {
    begin: prepared(db, 'BEGIN IMMEDIATE'),
    commit: prepared(db, 'COMMIT'),
    rollback: prepared(db, 'ROLLBACK'),
    savepoint: prepared(db, 'SAVEPOINT kantine_nested'),
    release: prepared(db, 'RELEASE kantine_nested'),
    rollbackTo: prepared(db, 'ROLLBACK TO kantine_nested'),
  };
}

export function nowIso(clock: Clock): string {
  return clock.now().toISOString();
}

const preparedByDb = new WeakMap<Database.Database, Map<string, Database.Statement>>();

/**
 * A statement prepared once per database and kept: for writes that are not on the tap path but
 * run often enough that compiling their SQL each time shows (a change from central is applied at
 * every site it concerns; compiling the card's upsert was a fifth of the work).
 */
export function prepared<P extends unknown[] | object = unknown[], R = unknown>(
  db: Database.Database,
  sql: string,
): Database.Statement<P, R> {
  let byText = preparedByDb.get(db);
  if (!byText) {
    byText = new Map();
    preparedByDb.set(db, byText);
  }
  let stmt = byText.get(sql);
  if (!stmt) {
    stmt = db.prepare(sql);
    byText.set(sql, stmt);
  }
  return stmt as Database.Statement<P, R>;
}
