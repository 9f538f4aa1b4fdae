import { parseBudget, SITE_ZONE } from '@kantine/protocol';
import { DateTime } from 'luxon';
import type { Tx } from '../db/tx.ts';

/**
 * The orders that count against a child's limits and a menu's caps (SQL, the order row as `o`,
 * now as `nowParam`): paid and handed out ones, and an unpaid (bank-card) one only while it can
 * still be paid — until its checkout expires or its order deadline, whichever comes first. After
 * that it holds nothing (the upkeep marks it expired), and a payment that still arrives is
 * refunded, not taken.
 */
export function liveOrder(nowParam: string): string {
  return `(o.state IN ('paid', 'handed_out') OR (o.state = 'awaiting_payment' AND o.order_deadline > ${nowParam}
    AND NOT EXISTS (SELECT 1 FROM payment_intents i WHERE i.id = o.payment_intent_id AND i.expires_at <= ${nowParam})))`;
}

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
    `SELECT COALESCE(SUM(o.total_ore), 0)::bigint AS held FROM webshop_orders o
     WHERE o.account_id = $1 AND o.place_kind = $2 AND o.date >= $3 AND o.date < $4 AND ${liveOrder('$5')}`,
    [accountId, w.kind, w.from, w.to, t.now],
  );
  return Number(row?.held ?? 0);
}
