import type { Logger } from 'pino';
import type { Sql } from '../db/db.ts';

// One write per site per this long at most, per worker: the figure's resolution, against a
// write for every message of a busy site.
const WRITE_EVERY_MS = 5_000;
// Site ids come from authenticated topics; still, the memory of them has a bound.
const MAX_SITES = 10_000;

/**
 * When each site was last heard from, kept in the database (`site_seen`) so that every worker
 * reports the same. The write is its own statement, never inside a site's transaction, and takes
 * no lock on the site's row. A site unknown to the database writes nothing.
 */
export class LastSeen {
  private readonly written = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly db: Sql,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** A message from `site` was handled now. */
  seen(site: string): void {
    const at = this.now();
    const last = this.written.get(site);
    if (last !== undefined && at - last < WRITE_EVERY_MS) return;
    if (last === undefined && this.written.size >= MAX_SITES) this.written.clear();
    this.written.set(site, at);
    const write = this.db
      .query(
        `INSERT INTO site_seen (site_id, last_seen_at) SELECT id, now() FROM sites WHERE id = $1
         ON CONFLICT (site_id) DO UPDATE SET last_seen_at = GREATEST(site_seen.last_seen_at, excluded.last_seen_at)`,
        [site],
      )
      .then(
        () => undefined,
        (err: Error) => {
          this.written.delete(site); // try again with the next message
          this.log.warn({ site, err: err.message }, 'could not record when the site was last seen');
        },
      )
      .finally(() => this.pending.delete(write));
    this.pending.add(write);
  }

  /** Resolves when every write begun has ended (before the database closes). */
  async drained(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}
