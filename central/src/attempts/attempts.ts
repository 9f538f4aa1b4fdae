import { KantineError } from '@kantine/protocol';
import type { Tx } from '../db/tx.ts';

/** A refusal with the seconds to wait (the API's Retry-After). */
export class TooManyAttempts extends KantineError {
  constructor(readonly retry_after_s: number) {
    super('too_many_attempts');
  }
}

/** One count of attempts: its key (e.g. `person:<id>`) and how many it may hold in the window. */
export interface Bucket {
  key: string;
  max: number;
}

/** No window is longer: older attempts are removed by whoever looks next. */
const KEPT_S = 3600;

/**
 * Attempts counted per bucket in the `attempts` table, in the caller's transaction (so an attempt
 * counts only if what it tried is kept): guessing a child's CPR and card number, a card's printed
 * number, or starting sign-ins from one address. `guard` first, then `count` what failed.
 */
export const attempts = {
  /**
   * Takes each bucket's lock (in the order given: callers list them the same way) and refuses with
   * `too_many_attempts` when any bucket already holds its `max` in the last `window_s`.
   */
  async guard(t: Tx, buckets: readonly Bucket[], window_s: number): Promise<void> {
    if (window_s > KEPT_S) throw new Error(`an attempts window is at most ${KEPT_S} s`);
    for (const b of buckets) await t.sql.query('SELECT pg_advisory_xact_lock(20261218, hashtext($1))', [b.key]);
    await t.sql.query('DELETE FROM attempts WHERE at <= $1', [new Date(t.now.getTime() - KEPT_S * 1000)]);
    const since = new Date(t.now.getTime() - window_s * 1000);
    for (const b of buckets) {
      const [row] = await t.sql.query<{ n: number; oldest: Date | string | null }>(
        'SELECT count(*)::int AS n, min(at) AS oldest FROM attempts WHERE bucket = $1 AND at > $2',
        [b.key, since],
      );
      if (row && row.n >= b.max && row.oldest) {
        const free = new Date(row.oldest).getTime() + window_s * 1000;
        throw new TooManyAttempts(Math.max(1, Math.ceil((free - t.now.getTime()) / 1000)));
      }
    }
  },

  /** Counts one attempt in every bucket. */
  async count(t: Tx, buckets: readonly Bucket[]): Promise<void> {
    for (const b of buckets) await t.sql.query('INSERT INTO attempts (bucket, at) VALUES ($1, $2)', [b.key, t.now]);
  },
};
