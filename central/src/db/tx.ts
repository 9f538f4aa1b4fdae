import type { DownChange } from '@kantine/protocol';
import type { Db, TxSql } from './db.ts';

export interface Clock {
  now(): Date;
}

/** One transaction's work: its SQL, its time, and what it queued for each site, sent after the commit. */
export interface Tx {
  sql: TxSql;
  now: Date;
  out: Map<string, DownChange[]>;
}

/**
 * The one database handle and clock every concept's service shares. All state is in the
 * database; each transaction locks the rows it changes, so any number of workers may run
 * against one Postgres.
 */
export class Store {
  constructor(
    readonly db: Db,
    readonly clock: Clock,
    /** Sends what a committed transaction queued for the sites (the link's down log). */
    private readonly afterCommit: (out: ReadonlyMap<string, readonly DownChange[]>) => void,
  ) {}

  /** Runs `fn` in a transaction, then sends what it queued. */
  async tx<T>(fn: (t: Tx) => Promise<T>): Promise<T> {
    let out = new Map<string, DownChange[]>();
    const result = await this.db.transaction(async (sql) => {
      out = new Map(); // a retried transaction starts again from nothing
      return fn({ sql, now: this.clock.now(), out });
    });
    this.afterCommit(out);
    return result;
  }
}
