import { DateTime } from 'luxon';

/**
 * Escrow budgets (docs/replication.md). Central splits each account's balance, and the headroom
 * of each of its spend limits in each period, into shares that it grants to gateways; a gateway
 * spends only its shares. A budget is named by a key both sides compute alike:
 *
 * - `balance`
 * - `{place kind}:{period}:{start}`: one limit's window — `school:day:2026-11-23`,
 *   `club:week:2026-11-23` (the Monday), `school:month:2026-11`.
 *
 * Days, weeks (Monday first) and months are Europe/Copenhagen's.
 */
export const SITE_ZONE = 'Europe/Copenhagen';

export type PlaceKind = 'school' | 'club';
export type Period = 'day' | 'week' | 'month';
export const PERIODS: readonly Period[] = ['day', 'week', 'month'];

export const BALANCE_BUDGET = 'balance';
export const BUDGET_PATTERN =
  '^(balance|(school|club):(day|week):\\d{4}-\\d{2}-\\d{2}|(school|club):month:\\d{4}-\\d{2})$';

/** The start of the period holding `at`, as the key writes it. */
export function windowStart(period: Period, at: Date, zone = SITE_ZONE): string {
  const local = DateTime.fromJSDate(at, { zone });
  switch (period) {
    case 'day':
      return local.toISODate() as string;
    case 'week':
      return local.startOf('week').toISODate() as string; // Luxon's weeks are ISO: Monday first
    case 'month':
      return local.toFormat('yyyy-MM');
  }
}

export function limitBudget(kind: PlaceKind, period: Period, at: Date, zone = SITE_ZONE): string {
  return `${kind}:${period}:${windowStart(period, at, zone)}`;
}

/** The windows of one period from the one holding `at`, `count` of them. */
export function upcomingWindows(period: Period, at: Date, count: number, zone = SITE_ZONE): string[] {
  const local = DateTime.fromJSDate(at, { zone });
  const unit = period === 'day' ? 'days' : period === 'week' ? 'weeks' : 'months';
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(windowStart(period, local.plus({ [unit]: i }).toJSDate(), zone));
  return out;
}

export interface ParsedBudget {
  kind: PlaceKind;
  period: Period;
  start: string;
}

/** A limit budget's parts; `undefined` for `balance`. */
export function parseBudget(key: string): ParsedBudget | undefined {
  if (key === BALANCE_BUDGET) return undefined;
  const [kind, period, start] = key.split(':') as [PlaceKind, Period, string];
  return { kind, period, start };
}
