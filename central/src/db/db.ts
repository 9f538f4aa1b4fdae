import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { KantineError } from '@kantine/protocol';
import pg from 'pg';

/** One SQL dialect, Postgres: a real server through `pg`, or PGlite embedded in this process. */
export interface Sql {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
}

export interface Db extends Sql {
  /** Runs `fn` in one transaction; retried on a serialization failure or deadlock. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
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
}

export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: url,
    max: 8,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === 20 ? int8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  pool.on('error', opts.onIdleError ?? ((err) => process.emitWarning(`idle Postgres connection: ${err.message}`)));
  // Fail at start-up, not at the first request.
  await pool.query('SELECT 1');
  return {
    kind: 'postgres',
    query: async (text, params) => (await pool.query(text, params as unknown[])).rows,
    async transaction(fn) {
      for (let attempt = 1; ; attempt++) {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          const result = await fn({ query: async (t, p) => (await client.query(t, p as unknown[])).rows });
          await client.query('COMMIT');
          return result;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
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
      db.transaction((tx) => fn({ query: async (t, p) => (await tx.query(t, p as unknown[])).rows as never })),
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
