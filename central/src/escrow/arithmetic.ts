import { BALANCE_BUDGET, type Period, type PlaceKind, parseBudget } from '@kantine/protocol';

/**
 * The arithmetic of escrow (docs/replication.md §Escrow). A site's share of one budget is what
 * central granted it, less what it reported spending from it and what it gave back. Central never
 * grants more than is free:
 *
 * - balance: free = balance − Σ outstanding shares (a reported purchase lowers the balance and
 *   the site's outstanding share by the same amount, so it leaves `free` alone);
 * - a limit's window: free = limit − Σ (granted − returned) (spending from a share uses up
 *   headroom that was already counted as granted).
 */
export interface ShareRow {
  site_id: string;
  granted_ore: number;
  consumed_ore: number;
  returned_ore: number;
}

export const outstanding = (s: ShareRow): number => s.granted_ore - s.consumed_ore - s.returned_ore;

/** What central can still grant of a budget. Negative after a limit was lowered below what is out. */
export function freeOf(budget: string, capacity_ore: number, shares: readonly ShareRow[]): number {
  if (budget === BALANCE_BUDGET) return capacity_ore - shares.reduce((sum, s) => sum + outstanding(s), 0);
  return capacity_ore - shares.reduce((sum, s) => sum + s.granted_ore - s.returned_ore, 0);
}

/** Splits `amount` as evenly as whole øre allow; the first sites get the odd øre. */
export function split(amount_ore: number, sites: readonly string[]): [string, number][] {
  if (sites.length === 0 || amount_ore <= 0) return [];
  const each = Math.floor(amount_ore / sites.length);
  const rest = amount_ore - each * sites.length;
  return sites.map((s, i): [string, number] => [s, each + (i < rest ? 1 : 0)]).filter(([, a]) => a > 0);
}

/**
 * How many windows of each period central grants ahead, so a site cut off from central keeps
 * selling within the limits: a week of days, this and next week, this and next month.
 */
export const HORIZON: Record<Period, number> = { day: 8, week: 2, month: 2 };

/** The capacity of a limit budget: its limit (the spend in it is counted by the shares). */
export function limitOf(
  budget: string,
  limits: readonly { place_kind: PlaceKind; period: Period; limit_ore: number }[],
): number | undefined {
  const p = parseBudget(budget);
  if (!p) return undefined;
  return limits.find((l) => l.place_kind === p.kind && l.period === p.period)?.limit_ore;
}
