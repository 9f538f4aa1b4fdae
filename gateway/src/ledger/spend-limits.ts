import { PERIODS, type Period, SITE_ZONE } from '@kantine/protocol';
import { DateTime } from 'luxon';

// Days, weeks and months are those of the school's clock: Monday-first, Europe/Copenhagen. The
// zone and the periods are the protocol's, so central computes the same windows.
export { PERIODS, type Period, SITE_ZONE };

export interface PeriodStarts {
  day: string;
  week: string;
  month: string;
  /** The earliest of the three: one query from here covers them all. */
  earliest: string;
}

/**
 * When the day, the week (Monday 00:00) and the month that hold `now` began, in the site's zone,
 * as UTC ISO strings comparable with the ledger's `created_at`. Summer time is the zone's own
 * business: a day is 23 or 25 hours long twice a year, and that is still one day.
 */
export function periodStarts(now: Date, zone = SITE_ZONE): PeriodStarts {
  const local = DateTime.fromJSDate(now, { zone });
  const iso = (d: DateTime) => d.toUTC().toISO({ includeOffset: false }) + 'Z';
  const day = local.startOf('day');
  const week = local.startOf('week'); // Luxon's weeks are ISO weeks: Monday first
  const month = local.startOf('month');
  return { day: iso(day), week: iso(week), month: iso(month), earliest: iso(week < month ? week : month) };
}

/** The local date (YYYY-MM-DD) of an instant in the site's zone: reports and pre-orders use it. */
export function localDate(now: Date, zone = SITE_ZONE): string {
  return DateTime.fromJSDate(now, { zone }).toISODate() as string;
}

/** The UTC ISO bounds [from, to) of a local date in the site's zone. */
export function dayBounds(date: string, zone = SITE_ZONE): { from: string; to: string } | undefined {
  const d = DateTime.fromISO(date, { zone });
  if (!d.isValid) return undefined;
  const iso = (x: DateTime) => x.toUTC().toISO({ includeOffset: false }) + 'Z';
  return { from: iso(d.startOf('day')), to: iso(d.startOf('day').plus({ days: 1 })) };
}
