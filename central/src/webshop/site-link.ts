import { KantineError, type LinkMenu } from '@kantine/protocol';
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
    message: message.slice(0, 500),
  });
}

/**
 * A site handed an order out (the link's `preorder_handed_out`): only an order of that site's
 * that was paid. One refunded meanwhile (the cancel crossed the handing out) is refused and set
 * aside for IT, as anything a site reports that central's record refutes.
 */
export async function orderHandedOut(t: Tx, site: string, orderId: string, at: string): Promise<void> {
  const [o] = await t.sql.query<{ state: string }>(
    'SELECT state FROM webshop_orders WHERE id = $1 AND site_id = $2 FOR UPDATE',
    [orderId, site],
  );
  if (!o) throw new KantineError('preorder_not_found', `site ${site} has no order ${orderId}`);
  if (o.state === 'handed_out') return;
  if (o.state !== 'paid') throw new KantineError('webshop_order_state', `order ${orderId} is ${o.state}`);
  await t.sql.query(`UPDATE webshop_orders SET state = 'handed_out', handed_out_at = $2 WHERE id = $1`, [orderId, at]);
}
