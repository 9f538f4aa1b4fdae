import type Database from 'better-sqlite3';
import type { Clock } from '../clock.ts';

/** What every store of the ledger is built on: the one database and the site's clock. */
export interface Db {
  readonly db: Database.Database;
  readonly clock: Clock;
}

/** Runs `fn` in one write transaction (BEGIN IMMEDIATE): one commit, one fsync. */
export function writeTransaction<T>(db: Database.Database, fn: () => T): T {
  return db.transaction(fn).immediate();
}

export function nowIso(clock: Clock): string {
  return clock.now().toISOString();
}
