import { SITE_ZONE } from '@kantine/protocol';
import { DateTime } from 'luxon';

/** The statement's period as the visitor chose it: this month, last month, or two dates. */
export type PeriodChoice = 'this_month' | 'last_month' | 'chosen';

/** What is wrong with a chosen date, by field (the dictionary's `errors` keys). */
export interface PeriodErrors {
  fra?: 'date_invalid' | 'period_too_long';
  til?: 'date_invalid' | 'period_order';
}

export interface Period {
  choice: PeriodChoice;
  /** Local dates (Europe/Copenhagen), both included: `2026-12-01`. */
  from: string;
  to: string;
  /** The dates as typed, to show them again beside their errors. */
  typed: { fra: string; til: string };
  errors: PeriodErrors;
}

/** The longest chosen period (days): the statement service's own bound (ten years and then some). */
const PERIOD_DAYS_MAX = 3_650;

/** A date as a Dane writes it (`1-12-2026`, `01.12.2026`, `01/12/2026`) or as ISO (`2026-12-01`). */
function localDate(value: string): DateTime | undefined {
  const dk = /^(\d{1,2})[-./](\d{1,2})[-./](\d{4})$/.exec(value);
  const iso = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  const [year, month, day] = dk ? [dk[3], dk[2], dk[1]] : iso ? [iso[1], iso[2], iso[3]] : [];
  if (year === undefined) return undefined;
  const d = DateTime.fromObject({ year: Number(year), month: Number(month), day: Number(day) }, { zone: SITE_ZONE });
  return d.isValid ? d : undefined;
}

/** A local date (`2026-12-01`) as the page shows it: `01-12-2026`. */
export function danishDate(iso: string): string {
  const [y, m, d] = iso.split('-');
  return `${d}-${m}-${y}`;
}

/**
 * The period a statement page shows, from its query (`periode`, `fra`, `til`): this month by
 * default, last month, or the chosen dates — checked here so a wrong date is an error beside its
 * field, not a refusal page. With errors, the period falls back to this month.
 */
export function periodOf(query: Record<string, unknown>, now: Date): Period {
  const today = DateTime.fromJSDate(now, { zone: SITE_ZONE }).startOf('day');
  const iso = (d: DateTime) => d.toISODate() as string;
  const thisMonth = { from: iso(today.startOf('month')), to: iso(today) };
  const str = (v: unknown) => (typeof v === 'string' ? v.trim().slice(0, 20) : '');
  const typed = { fra: str(query.fra), til: str(query.til) };
  if (query.periode === 'last_month') {
    const last = today.minus({ months: 1 });
    return {
      choice: 'last_month',
      from: iso(last.startOf('month')),
      to: iso(last.endOf('month')),
      typed,
      errors: {},
    };
  }
  if (query.periode !== 'chosen' && typed.fra === '' && typed.til === '') {
    return { choice: 'this_month', ...thisMonth, typed, errors: {} };
  }
  const from = localDate(typed.fra);
  const to = localDate(typed.til);
  const errors: PeriodErrors = {};
  if (!from) errors.fra = 'date_invalid';
  if (!to) errors.til = 'date_invalid';
  if (from && to && to < from) errors.til = 'period_order';
  if (from && to && to.diff(from, 'days').days > PERIOD_DAYS_MAX) errors.fra = 'period_too_long';
  if (!from || !to || errors.fra || errors.til) return { choice: 'chosen', ...thisMonth, typed, errors };
  return { choice: 'chosen', from: iso(from), to: iso(to), typed, errors };
}
