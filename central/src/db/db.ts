import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { KantineError } from '@kantine/protocol';
import pg from 'pg';

/** One SQL dialect, Postgres: a real server through `pg`, or PGlite embedded in this process. */
export interface Sql {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
}

/** A transaction's SQL. */
export interface TxSql extends Sql {
  /**
   * Runs the transaction's last statement and commits: on Postgres the COMMIT goes out right
   * behind the statement, one round trip for both. Resolves with the statement's rows once the
   * commit is done. If the statement fails nothing is committed (Postgres answers the COMMIT of
   * a failed transaction with a rollback) and it rejects with the statement's error, so a check
   * that must undo the work has to fail the statement itself, in the database. Nothing may run in
   * the transaction after it, and the transaction's callback should not fail after it: what it
   * wrote is committed.
   */
  queryAndCommit<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
}

export interface Db extends Sql {
  /** Runs `fn` in one transaction; retried on a serialization failure or deadlock. */
  transaction<T>(fn: (tx: TxSql) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  readonly kind: 'postgres' | 'pglite';
  /** A pool's connections now (Postgres; PGlite is one connection in this process, no pool). */
  pool?(): { total: number; idle: number; waiting: number };
}

// int8 comes back as a string from pg and a BigInt from PGlite; money here is integer øre far
// below 2^53, so a safe JS integer is exact. A value beyond that is a bug, not a rounding.
const int8 = (s: string): number => {
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new Error(`int8 ${s} is beyond a safe integer`);
  return n;
};

// Postgres says "try again" with these: the transaction did nothing.
const RETRYABLE = new Set(['40001', '40P01']);
const MAX_TRIES = 5;

export interface PostgresOptions {
  /**
   * An idle pooled connection failed (server restarted, connection killed, network gone). The
   * pool drops it and opens a new one when next needed; without a listener node-postgres
   * re-throws the error and takes the whole process down. Default: a process warning on stderr.
   */
  onIdleError?: (err: Error) => void;
  /** Each new connection before its first use (a profiler's hook: bench/src/central-profile.ts). */
  onConnect?: (client: pg.PoolClient) => void;
}

export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: url,
    max: 8,
    // A statement is written without waiting for the one before it to be answered (each keeps
    // its own result or error, in order): a transaction's BEGIN goes out with its first statement
    // and its COMMIT with its last (`queryAndCommit`). A connection runs one transaction at a time.
    pipeline: true,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === 20 ? int8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  pool.on('error', opts.onIdleError ?? ((err) => process.emitWarning(`idle Postgres connection: ${err.message}`)));
  if (opts.onConnect) pool.on('connect', opts.onConnect);
  // Fail at start-up, not at the first request.
  await pool.query('SELECT 1');
  return {
    kind: 'postgres',
    query: async (text, params) => (await pool.query(text, params as unknown[])).rows,
    async transaction(fn) {
      for (let attempt = 1; ; attempt++) {
        const client = await pool.connect();
        const tx = new PipelinedTx(client);
        try {
          const result = await fn(tx);
          await tx.commit();
          return result;
        } catch (err) {
          // Committed already (the callback failed after `queryAndCommit`): nothing to undo or retry.
          if (tx.state === 'committed') throw err;
          await tx.rollback();
          const code = (err as { code?: string }).code;
          if (code && RETRYABLE.has(code) && attempt < MAX_TRIES) continue;
          throw err;
        } finally {
          client.release();
        }
      }
    },
    close: () => pool.end(),
    pool: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
  };
}

/**
 * One transaction on a pipelined connection. BEGIN is written at once and not waited for: the
 * first statement follows it in the same round trip, and its result is given only together with
 * BEGIN's (had BEGIN failed, the connection is broken or in a failed transaction, and the
 * statement behind it fails too; it is reported either way). `queryAndCommit` writes COMMIT
 * behind the last statement.
 */
class PipelinedTx implements TxSql {
  state: 'open' | 'committed' | 'ended' = 'open';
  private begin: Promise<unknown> | undefined;

  constructor(private readonly client: pg.PoolClient) {
    this.begin = client.query('BEGIN');
    this.begin.catch(() => {}); // awaited with the first statement, or at the commit
  }

  async query<R>(text: string, params?: readonly unknown[]): Promise<R[]> {
    if (this.state !== 'open') throw new Error(`a statement after the transaction ended: ${text.slice(0, 60)}`);
    return (await this.withBegin(this.client.query(text, params as unknown[]))).rows as R[];
  }

  async queryAndCommit<R>(text: string, params?: readonly unknown[]): Promise<R[]> {
    if (this.state !== 'open') throw new Error(`a statement after the transaction ended: ${text.slice(0, 60)}`);
    const statement = this.withBegin(this.client.query(text, params as unknown[]));
    const commit = this.client.query('COMMIT');
    this.state = 'ended';
    const [done, committed] = await Promise.allSettled([statement, commit]);
    if (done.status === 'rejected') throw done.reason; // COMMIT rolled back
    if (committed.status === 'rejected') throw committed.reason;
    // The statement succeeded, so COMMIT commits; a ROLLBACK here means a statement before it
    // failed and the callback went on (then this statement would have failed too).
    if (committed.value.command !== 'COMMIT') throw new Error(`COMMIT answered ${committed.value.command}`);
    this.state = 'committed';
    return done.value.rows as R[];
  }

  async commit(): Promise<void> {
    if (this.state !== 'open') return;
    await this.withBegin(this.client.query('COMMIT'));
    this.state = 'committed';
  }

  async rollback(): Promise<void> {
    const begin = this.begin;
    this.begin = undefined;
    await begin?.catch(() => {});
    if (this.state === 'open') await this.client.query('ROLLBACK').catch(() => {});
    this.state = 'ended';
  }

  /** The first statement's result comes with BEGIN's: both settled, BEGIN's error first. */
  private async withBegin<T>(statement: Promise<T>): Promise<T> {
    const begin = this.begin;
    if (!begin) return statement;
    this.begin = undefined;
    const [began, done] = await Promise.allSettled([begin, statement]);
    if (began.status === 'rejected') throw began.reason;
    if (done.status === 'rejected') throw done.reason;
    return done.value;
  }
}

/**
 * PGlite: Postgres compiled to WebAssembly, in this process. `dir` undefined = in memory. One
 * process at a time: PGlite itself would let a second one open the folder and both would write
 * it, so a lock file (the holder's pid) refuses the second with `database_in_use`.
 */
export async function openPglite(dir?: string): Promise<Db> {
  const onDisk = dir !== undefined && !dir.includes('://');
  if (onDisk) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const unlock = onDisk ? lockFolder(join(dir, LOCK_FILE)) : () => {};
  let db: PGlite;
  try {
    db = await PGlite.create(dir, { parsers: { 20: int8 } });
  } catch (err) {
    unlock();
    throw err;
  }
  return {
    kind: 'pglite',
    query: async (text, params) => (await db.query(text, params as unknown[])).rows as never,
    transaction: (fn) =>
      db.transaction((tx) => {
        const query = async (t: string, p?: readonly unknown[]) => (await tx.query(t, p as unknown[])).rows as never;
        // One process, no round trips: the commit follows when `fn` returns.
        return fn({ query, queryAndCommit: query });
      }),
    close: async () => {
      try {
        await db.close();
      } finally {
        unlock();
      }
    },
  };
}

const LOCK_FILE = 'kantine-central.lock';

function lockFolder(path: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new KantineError('database_in_use', `process ${pid} has ${dirname(path)} open`);
      }
      rmSync(path, { force: true }); // left by a process that is gone (kill -9, power cut)
    }
  }
  throw new KantineError('database_in_use', `cannot lock ${dirname(path)}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
