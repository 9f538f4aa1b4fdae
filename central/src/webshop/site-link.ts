import { KantineError, type LinkMenu, SITE_ZONE } from '@kantine/protocol';
import { DateTime } from 'luxon';
import type { Tx } from '../db/tx.ts';
import { appendDown } from '../link/down-log.ts';
import { putMenu } from './menus.ts';

/**
 * A site's kiosk made a menu (the link's `menu` change at `seq`): kept as the site's menu for that
 * place and date, and the kiosk told it was taken (`menu_answer`). A refusal throws (the caller
 * sets the change aside) and is told with `menuRefused`.
 */
export async function applySiteMenu(t: Tx, site: string, menu: LinkMenu, seq: number): Promise<void> {
  await putMenu(t, site, menu, 'kiosk');
  await appendDown(t, site, {
    kind: 'menu_answer',
    up_seq: seq,
    place_id: menu.place_id,
    date: menu.date,
    accepted: true,
  });
}

/** Central refused a kiosk's menu: the kiosk is told why (the staff who sent it see it there). */
export async function menuRefused(t: Tx, site: string, menu: LinkMenu, seq: number, code: string, message: string) {
  await appendDown(t, site, {
    kind: 'menu_answer',
    up_seq: seq,
    place_id: menu.place_id,
    date: menu.date,
    accepted: false,
    code,
    message: Array.from(message).slice(0, 500).join(''), // by code points: never half a character
  });
}

/** How far ahead of central's clock a site's time of handing out may be (a Pi's clock drifts). */
const HANDED_OUT_CLOCK_SKEW_MS = 5 * 60_000;

/**
 * A site handed an order out (the link's `preorder_handed_out`): only an order of that site's
 * that was paid, handed out on its own day (the gateway refuses any other; a site that says so
 * anyway is not believed — the order would escape its guardian's cancel and the not-collected
 * refund). One refunded meanwhile (the cancel crossed the handing out) is refused and set aside
 * for IT, as anything a site reports that central's record refutes.
 */
export async function orderHandedOut(t: Tx, site: string, orderId: string, at: string): Promise<void> {
  const [o] = await t.sql.query<{ state: string; date: string }>(
    `SELECT state, to_char(date, 'YYYY-MM-DD') AS date FROM webshop_orders WHERE id = $1 AND site_id = $2 FOR UPDATE`,
    [orderId, site],
  );
  if (!o) throw new KantineError('preorder_not_found', `site ${site} has no order ${orderId}`);
  if (o.state === 'handed_out') return;
  const when = DateTime.fromISO(at, { setZone: true });
  if (
    !when.isValid ||
    when.setZone(SITE_ZONE).toISODate() !== o.date ||
    when.toMillis() > t.now.getTime() + HANDED_OUT_CLOCK_SKEW_MS
  )
    throw new KantineError('preorder_wrong_day', `order ${orderId} is for ${o.date}, not handed out ${at}`);
  if (o.state !== 'paid') throw new KantineError('webshop_order_state', `order ${orderId} is ${o.state}`);
  await t.sql.query(`UPDATE webshop_orders SET state = 'handed_out', handed_out_at = $2 WHERE id = $1`, [orderId, at]);
}
