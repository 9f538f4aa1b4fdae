import { KantineError, type LinkMenu } from '@kantine/protocol';
import type { Tx } from '../db/tx.ts';
import { putMenu } from './menus.ts';

/** A site's kiosk made a menu (the link's `menu` change): kept as the site's menu for that place and date. */
export async function applySiteMenu(t: Tx, site: string, menu: LinkMenu): Promise<void> {
  await putMenu(t, site, menu, 'kiosk');
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
