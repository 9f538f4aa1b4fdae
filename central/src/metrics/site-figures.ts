import type { Sql } from '../db/db.ts';

/** One site's figures as the database has them now (every worker reads the same). */
export interface SiteFigures {
  site: string;
  /** Changes central queued for the site that it has not acknowledged. */
  backlog: number;
  /** How long the oldest of them has waited, in seconds (0 with none). */
  oldest_s: number;
  /** When a worker last handled a message from the site (Unix seconds), or null. */
  last_seen_s: number | null;
  /** Central's changes the site could not apply (`down_set_aside`). */
  set_aside_by_site: number;
  /** The site's reports central refused (`refused_up`). */
  refused_by_central: number;
}

// A scrape that waits longer than this answers without the sites' figures: Prometheus' own
// scrape timeout is 10 s by default, and a database this slow is itself the news.
const QUERY_TIMEOUT_MS = 3_000;

/**
 * One query, cheap at any size: per site, its cursor row, the first unacknowledged change by the
 * down log's primary key, and counts of the set-aside tables by their primary keys' prefix (rows
 * there are alarms, so few). Ages are taken on the database's clock, as the rows were stamped.
 */
const FIGURES_SQL = `
  SELECT s.id AS site,
         s.down_seq - s.down_acked AS backlog,
         COALESCE(EXTRACT(EPOCH FROM now() - (
           SELECT d.queued_at FROM down_log d
           WHERE d.site_id = s.id AND d.seq > s.down_acked ORDER BY d.seq LIMIT 1)), 0)::float8 AS oldest_s,
         EXTRACT(EPOCH FROM seen.last_seen_at)::float8 AS last_seen_s,
         (SELECT count(*) FROM down_set_aside x WHERE x.site_id = s.id)::int AS set_aside_by_site,
         (SELECT count(*) FROM refused_up r WHERE r.site_id = s.id)::int AS refused_by_central
  FROM sites s LEFT JOIN site_seen seen ON seen.site_id = s.id
  ORDER BY s.id`;

/** Every site's figures; rejects when the database does not answer within the bound. */
export async function readSiteFigures(db: Sql): Promise<SiteFigures[]> {
  const rows = await withTimeout(db.query<SiteFigures>(FIGURES_SQL), QUERY_TIMEOUT_MS);
  return rows.map((r) => ({ ...r, backlog: Number(r.backlog), oldest_s: Math.max(0, Number(r.oldest_s)) }));
}

/** `p`, or a rejection after `ms` (the query itself runs on; its connection returns when it ends). */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
