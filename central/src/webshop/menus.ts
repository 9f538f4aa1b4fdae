import { KantineError, type LinkMenu, type MenuBody, type MenuItem, SITE_ZONE } from '@kantine/protocol';
import { DateTime } from 'luxon';
import type { Tx } from '../db/tx.ts';

/** A place's menu for a date, as central keeps it. */
export interface Menu {
  site_id: string;
  place_id: string;
  place_name: string;
  place_kind: 'school' | 'club';
  date: string;
  order_deadline: string;
  cancel_deadline: string;
  items: MenuItem[];
  source: 'kiosk' | 'central';
  updated_at: string;
}

export const MENU_COLUMNS = `site_id, place_id, to_char(date, 'YYYY-MM-DD') AS date, place_name, place_kind,
  order_deadline, cancel_deadline, items, source, updated_at`;

/** A menu row as the API answers it (times as RFC 3339). */
export function menuOf(r: Record<string, unknown>): Menu {
  return {
    site_id: r.site_id as string,
    place_id: r.place_id as string,
    place_name: r.place_name as string,
    place_kind: r.place_kind as Menu['place_kind'],
    date: r.date as string,
    order_deadline: new Date(r.order_deadline as string).toISOString(),
    cancel_deadline: new Date(r.cancel_deadline as string).toISOString(),
    items: r.items as MenuItem[],
    source: r.source as Menu['source'],
    updated_at: new Date(r.updated_at as string).toISOString(),
  };
}

/** The local day `date` at the sites (Europe/Copenhagen) as the instant it ends. */
export function endOfDay(date: string): Date {
  const d = DateTime.fromISO(date, { zone: SITE_ZONE });
  if (!d.isValid) throw new KantineError('invalid_request', `no such date ${date}`);
  return d.plus({ days: 1 }).toJSDate();
}

/** Today at the sites. */
export function today(now: Date): string {
  return DateTime.fromJSDate(now, { zone: SITE_ZONE }).toISODate() as string;
}

export function addDays(date: string, days: number): string {
  return DateTime.fromISO(date, { zone: SITE_ZONE }).plus({ days }).toISODate() as string;
}

/**
 * A menu's own rules: one line per product, the cancel deadline at or before the order deadline,
 * and both at the latest when the day ends.
 */
export function checkMenu(date: string, m: MenuBody): void {
  const ids = m.items.map((i) => i.product_id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup) throw new KantineError('webshop_menu_invalid', `product ${dup} twice on the menu`, [`/items ${dup} twice`]);
  const order = Date.parse(m.order_deadline);
  const cancel = Date.parse(m.cancel_deadline);
  if (Number.isNaN(order) || Number.isNaN(cancel))
    throw new KantineError('invalid_request', 'a deadline is not a time');
  if (cancel > order)
    throw new KantineError('webshop_menu_invalid', 'the cancel deadline comes after the order deadline', [
      '/cancel_deadline after /order_deadline',
    ]);
  if (order > endOfDay(date).getTime())
    throw new KantineError('webshop_menu_invalid', 'the order deadline is after the day', [
      '/order_deadline after the day',
    ]);
}

/** Makes or replaces a menu (orders on items it no longer has keep them). */
export async function putMenu(t: Tx, site: string, menu: LinkMenu, source: Menu['source']): Promise<void> {
  checkMenu(menu.date, menu);
  await t.sql.query(
    `INSERT INTO webshop_menus (site_id, place_id, date, place_name, place_kind, order_deadline, cancel_deadline, items, source, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (site_id, place_id, date) DO UPDATE SET place_name = excluded.place_name, place_kind = excluded.place_kind,
       order_deadline = excluded.order_deadline, cancel_deadline = excluded.cancel_deadline, items = excluded.items,
       source = excluded.source, updated_at = excluded.updated_at`,
    [
      site,
      menu.place_id,
      menu.date,
      menu.place_name,
      menu.place_kind,
      menu.order_deadline,
      menu.cancel_deadline,
      JSON.stringify(menu.items),
      source,
      t.now,
    ],
  );
}

/** A local time (`HH:MM`) on a local date at the sites, as an instant (summer time as it is that day). */
export function localTime(date: string, hhmm: string): Date {
  const [h, m] = hhmm.split(':').map(Number);
  return DateTime.fromISO(date, { zone: SITE_ZONE })
    .set({ hour: h ?? 0, minute: m ?? 0 })
    .toJSDate();
}
