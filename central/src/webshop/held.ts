import { parseBudget, SITE_ZONE } from '@kantine/protocol';
import { DateTime } from 'luxon';
import type { Tx } from '../db/tx.ts';

/** The orders that count against a child's limits: placed and not cancelled or refunded. */
export const LIVE_STATES = `('awaiting_payment', 'paid', 'handed_out')`;

/** The dates [from, to) of a limit budget's window (`school:week:2026-12-07` → 2026-12-07 … 2026-12-14). */
export function windowDates(budget: string): { kind: string; from: string; to: string } | undefined {
  const p = parseBudget(budget);
  if (!p) return undefined;
  const start =
    p.period === 'month'
      ? DateTime.fromISO(`${p.start}-01`, { zone: SITE_ZONE })
      : DateTime.fromISO(p.start, { zone: SITE_ZONE });
  const end = start.plus(p.period === 'day' ? { days: 1 } : p.period === 'week' ? { weeks: 1 } : { months: 1 });
  return { kind: p.kind, from: start.toISODate() as string, to: end.toISODate() as string };
}

/**
 * What the webshop holds of a limit's window (the escrow's part of a limit that is central's, not
 * a site's): the orders for a date in the window at that kind of place. Central grants the sites
 * only the rest of the limit, so an order counts against the day it is for, at the till too.
 */
export async function heldByWebshop(t: Tx, accountId: string, budget: string): Promise<number> {
  const w = windowDates(budget);
  if (!w) return 0;
  const [row] = await t.sql.query<{ held: number | string }>(
    `SELECT COALESCE(SUM(total_ore), 0)::bigint AS held FROM webshop_orders
     WHERE account_id = $1 AND place_kind = $2 AND date >= $3 AND date < $4 AND state IN ${LIVE_STATES}`,
    [accountId, w.kind, w.from, w.to],
  );
  return Number(row?.held ?? 0);
}
