import { KantineError, type LinkMenu, type Preorder, type SaleLine } from '@kantine/protocol';
import type { Catalogue } from './catalogue.ts';
import { type Db, nowIso, writeTransaction } from './db.ts';
import type { Escrow } from './escrow.ts';
import { localDate } from './spend-limits.ts';

/** An order paid in the webshop, handed out at its place (its shape is the till API's). */
export type { Preorder };

type PreorderRow = Omit<Preorder, 'lines'> & { lines: string };
function preorderOf(row: PreorderRow): Preorder {
  return { ...row, lines: JSON.parse(row.lines) as SaleLine[] };
}

/** A menu the kiosk sent, and what central said of it (the till API's `GET …/menus/:date`). */
export interface KioskMenuStatus {
  date: string;
  items: number;
  state: 'sent' | 'accepted' | 'refused';
  code: string | null;
  message: string | null;
  sent_at: string;
}

/** Pre-orders: paid in the webshop, handed out at the place. */
export class Preorders {
  constructor(
    private readonly d: Db,
    private readonly catalogue: Catalogue,
    /** The outbox to central, on a linked site: a handing out and a kiosk's menu go up the link. */
    private readonly link: () => Escrow | undefined = () => undefined,
  ) {}

  putPreorder(o: { id: string; account_id: string; place_id: string; lines: SaleLine[]; for_date: string }): void {
    const total = o.lines.reduce((sum, l) => sum + l.quantity * l.unit_price_ore, 0);
    this.d.db
      .prepare(
        `INSERT INTO preorders (id, account_id, place_id, lines, total_ore, for_date, state)
         VALUES (?, ?, ?, ?, ?, ?, 'paid') ON CONFLICT (id) DO NOTHING`,
      )
      .run(o.id, o.account_id, o.place_id, JSON.stringify(o.lines), total, o.for_date);
  }

  /**
   * The child's paid orders to hand out at this place today. Only today's: an order is handed out
   * on its own day (one from an earlier day nobody collected is settled at central — refunded or
   * kept as the municipality says — so handing it out later would give the food twice or free).
   */
  openPreorders(accountId: string, placeId: string): Preorder[] {
    return this.d.db
      .prepare<[string, string, string], PreorderRow>(
        `SELECT * FROM preorders WHERE account_id = ? AND place_id = ? AND state = 'paid' AND for_date = ?
         ORDER BY id`,
      )
      .all(accountId, placeId, localDate(this.d.clock.now()))
      .map(preorderOf);
  }

  /**
   * Staff handed a pre-order out at a till of its place, on its day (`preorder_wrong_day` on any
   * other: an order for a later day is not the child's yet, one from an earlier day is settled).
   */
  handOutPreorder(id: string, tillId: string, staffId: string | null): Preorder {
    return writeTransaction(this.d.db, () => {
      const till = this.catalogue.getTill(tillId);
      const row = this.d.db.prepare<[string], PreorderRow>('SELECT * FROM preorders WHERE id = ?').get(id);
      if (!row || !till || row.place_id !== till.place_id) throw new KantineError('preorder_not_found');
      if (row.state !== 'paid') throw new KantineError('preorder_handed_out');
      const today = localDate(this.d.clock.now());
      if (row.for_date !== today)
        throw new KantineError('preorder_wrong_day', `the order is for ${row.for_date}, today is ${today}`, [
          row.for_date,
        ]);
      const at = nowIso(this.d.clock);
      this.d.db
        .prepare("UPDATE preorders SET state = 'handed_out', handed_out_at = ?, handed_out_by = ? WHERE id = ?")
        .run(at, staffId, id);
      this.link()?.enqueue({ kind: 'preorder_handed_out', order_id: id, handed_out_at: at });
      return preorderOf({ ...row, state: 'handed_out', handed_out_at: at, handed_out_by: staffId });
    });
  }

  /** Central cancelled (and refunded) a paid order: it is not handed out here. One handed out stays. */
  cancelPreorder(id: string): void {
    this.d.db.prepare("DELETE FROM preorders WHERE id = ? AND state = 'paid'").run(id);
  }

  /** The kitchen's list for a place and date: the orders, and how many of each item (offline once sent). */
  dayList(
    placeId: string,
    date: string,
  ): { date: string; orders: Preorder[]; counts: { product_id: string; name: string; quantity: number }[] } {
    const orders = this.d.db
      .prepare<[string, string], PreorderRow>('SELECT * FROM preorders WHERE place_id = ? AND for_date = ? ORDER BY id')
      .all(placeId, date)
      .map(preorderOf);
    const counts = new Map<string, { product_id: string; name: string; quantity: number }>();
    for (const o of orders)
      for (const l of o.lines) {
        const c = counts.get(l.product_id) ?? { product_id: l.product_id, name: l.name, quantity: 0 };
        c.quantity += l.quantity;
        counts.set(l.product_id, c);
      }
    return { date, orders, counts: [...counts.values()].sort((a, b) => a.name.localeCompare(b.name, 'da')) };
  }

  /**
   * Canteen staff made a menu at the kiosk: the place's products (a snapshot of name, price,
   * category and allergens) go up the link to central, where guardians order from it. Only on a
   * linked site (`central_unreachable` else: there is no webshop without central).
   */
  sendMenu(
    placeId: string,
    date: string,
    m: { order_deadline: string; cancel_deadline: string; items: { product_id: string; cap?: number | null }[] },
  ): LinkMenu {
    const escrow = this.link();
    if (!escrow) throw new KantineError('central_unreachable', 'this site is not linked to central');
    const place = this.catalogue.getPlace(placeId);
    if (!place) throw new KantineError('not_found', `no place ${placeId}`);
    const products = new Map(this.catalogue.listProducts(placeId).map((p) => [p.id, p]));
    const menu: LinkMenu = {
      place_id: place.id,
      date,
      place_name: place.name,
      place_kind: place.kind,
      order_deadline: new Date(m.order_deadline).toISOString(),
      cancel_deadline: new Date(m.cancel_deadline).toISOString(),
      items: m.items.map((i) => {
        const p = products.get(i.product_id);
        if (!p) throw new KantineError('not_found', `${i.product_id} is not sold at ${placeId}`, [i.product_id]);
        return {
          product_id: p.id,
          name: p.name,
          price_ore: p.price_ore,
          category: p.category,
          allergens: [...new Set(p.allergens ?? [])],
          cap: i.cap ?? null,
        };
      }),
    };
    const ids = menu.items.map((i) => i.product_id);
    if (new Set(ids).size !== ids.length) throw new KantineError('webshop_menu_invalid', 'a product twice on the menu');
    if (Date.parse(menu.cancel_deadline) > Date.parse(menu.order_deadline))
      throw new KantineError('webshop_menu_invalid', 'the cancel deadline comes after the order deadline');
    writeTransaction(this.d.db, () => {
      escrow.enqueue({ kind: 'menu', menu });
      const { up_seq } = this.d.db.prepare('SELECT up_seq FROM link_state').get() as { up_seq: number };
      this.d.db
        .prepare(
          `INSERT INTO kiosk_menus (place_id, date, up_seq, items, state, code, message, sent_at)
           VALUES (?, ?, ?, ?, 'sent', NULL, NULL, ?)
           ON CONFLICT (place_id, date) DO UPDATE SET up_seq = excluded.up_seq, items = excluded.items,
             state = 'sent', code = NULL, message = NULL, sent_at = excluded.sent_at`,
        )
        .run(place.id, date, up_seq, menu.items.length, nowIso(this.d.clock));
    });
    return menu;
  }

  /**
   * Central's answer to a menu this kiosk sent (the down change `menu_answer`): only the answer to
   * the latest send of that place and date counts (an older one's is about a menu since replaced).
   */
  menuAnswer(a: {
    up_seq: number;
    place_id: string;
    date: string;
    accepted: boolean;
    code?: string;
    message?: string;
  }) {
    this.d.db
      .prepare('UPDATE kiosk_menus SET state = ?, code = ?, message = ? WHERE place_id = ? AND date = ? AND up_seq = ?')
      .run(a.accepted ? 'accepted' : 'refused', a.code ?? null, a.message ?? null, a.place_id, a.date, a.up_seq);
  }

  /** What became of the latest menu sent for a place and date: on its way, taken, or refused and why. */
  menuStatus(placeId: string, date: string): KioskMenuStatus | null {
    const row = this.d.db
      .prepare<[string, string], KioskMenuStatus & { place_id: string }>(
        'SELECT place_id, date, items, state, code, message, sent_at FROM kiosk_menus WHERE place_id = ? AND date = ?',
      )
      .get(placeId, date);
    if (!row) return null;
    const { place_id: _place, ...status } = row;
    return status;
  }
}
