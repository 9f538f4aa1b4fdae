import {
  BALANCE_BUDGET,
  basketRules,
  KantineError,
  limitBudget,
  type MenuBody,
  type MenuItem,
  ORDER_STATE_DA,
  type OrderBody,
  type OrderState,
  PERIODS,
  type PlaceKind,
  type RuleLimit,
  type SaleLine,
  SITE_ZONE,
} from '@kantine/protocol';
import { DateTime } from 'luxon';
import { v7 as uuidv7 } from 'uuid';
import { type AccountRow, limitsOf, lockAccount, sitesOf } from '../accounts/rows.ts';
import type { Sql } from '../db/db.ts';
import type { Store, Tx } from '../db/tx.ts';
import { freeOf, outstanding } from '../escrow/arithmetic.ts';
import type { EscrowService } from '../escrow/escrow.ts';
import { appendDown, appendRecall } from '../link/down-log.ts';
import { book, centralEntry } from '../money/entries.ts';
import type { Intent, PaymentIntents } from '../payments/intents.ts';
import { heldByWebshop, liveOrder, windowDates } from './held.ts';
import { addDays, MENU_COLUMNS, type Menu, menuOf, putMenu, today } from './menus.ts';

/** An order line as central keeps it: the sale line and what the child's rules look at. */
export interface OrderLine extends SaleLine {
  category: string;
  allergens: string[];
}

export interface Order {
  id: string;
  account_id: string;
  site_id: string;
  place_id: string;
  place_name: string;
  date: string;
  lines: SaleLine[];
  total_ore: number;
  payment: 'canteen_card' | 'bank_card';
  state: OrderState;
  state_da: string;
  cancel_reason: 'guardian' | 'expired' | 'not_collected' | null;
  not_collected: boolean;
  order_deadline: string;
  cancel_deadline: string;
  cancellable: boolean;
  placed_by: { person_id: string | null; name: string };
  created_at: string;
  paid_at: string | null;
  handed_out_at: string | null;
  cancelled_at: string | null;
  refunded_at: string | null;
  entry_id: string | null;
  refund_entry_id: string | null;
  payment_intent_id: string | null;
  payment_url: string | null;
}

/** Who places or cancels an order. */
export interface Orderer {
  person_id: string | null;
  name: string;
}

const ORDER_COLUMNS = `*, to_char(date, 'YYYY-MM-DD') AS date`;
const iso = (v: unknown): string | null => (v === null || v === undefined ? null : new Date(v as string).toISOString());

function orderOf(r: Record<string, unknown>, now: Date): Order {
  const state = r.state as OrderState;
  const lines = (r.lines as OrderLine[]).map(({ product_id, name, quantity, unit_price_ore }) => ({
    product_id,
    name,
    quantity,
    unit_price_ore,
  }));
  const cancelDeadline = new Date(r.cancel_deadline as string);
  return {
    id: r.id as string,
    account_id: r.account_id as string,
    site_id: r.site_id as string,
    place_id: r.place_id as string,
    place_name: r.place_name as string,
    date: r.date as string,
    lines,
    total_ore: Number(r.total_ore),
    payment: r.payment as Order['payment'],
    state,
    state_da: stateDa(state, r.cancel_reason as Order['cancel_reason']),
    cancel_reason: (r.cancel_reason as Order['cancel_reason']) ?? null,
    not_collected: Boolean(r.not_collected),
    order_deadline: iso(r.order_deadline) as string,
    cancel_deadline: cancelDeadline.toISOString(),
    cancellable: state === 'awaiting_payment' || (state === 'paid' && now < cancelDeadline),
    placed_by: { person_id: (r.placed_by as string | null) ?? null, name: r.placed_by_name as string },
    created_at: iso(r.created_at) as string,
    paid_at: iso(r.paid_at),
    handed_out_at: iso(r.handed_out_at),
    cancelled_at: iso(r.cancelled_at),
    refunded_at: iso(r.refunded_at),
    entry_id: (r.entry_id as string | null) ?? null,
    refund_entry_id: (r.refund_entry_id as string | null) ?? null,
    payment_intent_id: (r.payment_intent_id as string | null) ?? null,
    payment_url: state === 'awaiting_payment' ? ((r.payment_url as string | null) ?? null) : null,
  };
}

/** A menu as a child sees it: what the till would say of each item, and what is left of capped ones. */
export interface ChildMenu extends Menu {
  open: boolean;
  items: (MenuItem & { remaining: number | null; refusal: string | null; allergens_hit: string[] })[];
}

// How long an order waits for a site to give back the money it holds (a recall) before it answers `funds_held_offline`.
const RECALL_WAIT_MS = 6_000;
const RECALL_POLL_MS = 500;

/** What the municipality does with a paid order nobody collected: refund it, or keep the money. */
export type UncollectedPolicy = 'refund' | 'keep';

/**
 * The webshop (issue 20): menus per site, place and date; guardians' orders with the child's own
 * rules (the till's: protocol/src/basket-rules.ts); paying by canteen card as a purchase at
 * central within the escrow (the balance and each limit window's headroom that is free here, the
 * sites' shares recalled as a withdrawal does); paid orders down the link to the site; handing
 * out reported back; cancel and refund before the cancel deadline.
 */
export class WebshopService {
  constructor(
    private readonly store: Store,
    private readonly escrow: EscrowService,
    private readonly uncollected: UncollectedPolicy = 'keep',
    /** Bank card payments through the provider (purpose `order`); without them only the canteen card. */
    private readonly payments?: PaymentIntents,
  ) {
    payments?.onPaid('order', (t, intent) => this.bankPaid(t, intent));
    payments?.onEnded('order', async (t, intent, state) => {
      await t.sql.query(
        `UPDATE webshop_orders SET state = 'cancelled', cancel_reason = $2, cancelled_at = $3
         WHERE id = $1 AND state = 'awaiting_payment'`,
        [orderOfIntent(intent), state === 'expired' ? 'expired' : null, t.now],
      );
    });
  }

  now(): Date {
    return this.store.clock.now();
  }

  // ── Menus ───────────────────────────────────────────────────────────────────────────────

  async putMenu(site: string, place: string, date: string, body: MenuBody): Promise<void> {
    await this.store.tx(async (t) => {
      const [s] = await t.sql.query('SELECT 1 FROM sites WHERE id = $1', [site]);
      if (!s) throw new KantineError('not_found', `no site ${site}`);
      await putMenu(t, site, { ...body, place_id: place, date }, 'central');
    });
  }

  async siteMenus(site: string, from: string, to: string): Promise<Menu[]> {
    const rows = await this.store.db.query(
      `SELECT ${MENU_COLUMNS} FROM webshop_menus WHERE site_id = $1 AND date >= $2 AND date <= $3 ORDER BY date, place_id`,
      [site, from, to],
    );
    return rows.map(menuOf);
  }

  /** The menus of the child's sites from `from` to `to`, with what the child's rules say of each item. */
  async childMenus(accountId: string, from: string, to: string): Promise<ChildMenu[]> {
    const { db, clock } = this.store;
    const [account] = await db.query<AccountRow>(
      'SELECT id, place_kinds, denied_categories, allergies, balance_ore FROM accounts WHERE id = $1',
      [accountId],
    );
    if (!account) throw new KantineError('not_found', `no account ${accountId}`);
    const rows = await db.query(
      `SELECT ${MENU_COLUMNS} FROM webshop_menus m
       WHERE m.site_id IN (SELECT site_id FROM account_sites WHERE account_id = $1) AND m.date >= $2 AND m.date <= $3
       ORDER BY m.date, m.site_id, m.place_id`,
      [accountId, from, to],
    );
    const now = clock.now();
    const out: ChildMenu[] = [];
    for (const menu of rows.map(menuOf)) {
      const ordered = await this.orderedPerItem(db, menu, now);
      out.push({
        ...menu,
        open: now < new Date(menu.order_deadline),
        items: menu.items.map((item) => {
          const refusal = basketRules(
            { ...account, balance_ore: Number.MAX_SAFE_INTEGER },
            { lines: [item], total_ore: 0, allergens_confirmed_for: null },
            menu.place_kind,
            [],
          );
          return {
            ...item,
            remaining: item.cap === null ? null : Math.max(0, item.cap - (ordered.get(item.product_id) ?? 0)),
            refusal: refusal && refusal.code !== 'allergen_check' ? refusal.code : null,
            allergens_hit: refusal?.code === 'allergen_check' ? refusal.allergens : [],
          };
        }),
      });
    }
    return out;
  }

  private async orderedPerItem(
    sql: Sql,
    menu: { site_id: string; place_id: string; date: string },
    now: Date,
  ): Promise<Map<string, number>> {
    const rows = await sql.query<{ product_id: string; n: number | string }>(
      `SELECT l->>'product_id' AS product_id, SUM((l->>'quantity')::int)::bigint AS n
       FROM webshop_orders o, jsonb_array_elements(o.lines) l
       WHERE o.site_id = $1 AND o.place_id = $2 AND o.date = $3 AND ${liveOrder('$4')}
       GROUP BY 1`,
      [menu.site_id, menu.place_id, menu.date, now],
    );
    return new Map(rows.map((r) => [r.product_id, Number(r.n)]));
  }

  // ── Orders ──────────────────────────────────────────────────────────────────────────────

  /**
   * Places an order for a child. The child's rules apply as at the till, with its codes; paid by
   * canteen card it is booked at once (the money free at central: the sites' shares of the
   * balance, and of the date's limit windows, are recalled if need be, and the order waits a
   * moment for them); by bank card it waits for the payment (`awaiting_payment`).
   */
  async place(accountId: string, body: OrderBody, by: Orderer): Promise<Order> {
    const id = body.id ?? uuidv7();
    const started = Date.now();
    for (;;) {
      const result = await this.store.tx((t) => this.tryPlace(t, id, accountId, body, by));
      if (typeof result === 'object' && 'recalled' in result) {
        if (Date.now() - started > RECALL_WAIT_MS) throw heldOffline(result.recalled);
        await new Promise((r) => setTimeout(r, RECALL_POLL_MS));
        continue;
      }
      if ('dry_total_ore' in result) throw new Error('webshop: a dry run from place');
      return this.payByBankCard(result);
    }
  }

  /**
   * Checks an order without placing it: the same refusals `place` gives (the menu, its deadline,
   * the caps, the child's rules with the till's codes), nothing booked. Returns its total.
   */
  async check(accountId: string, body: OrderBody): Promise<{ total_ore: number }> {
    return this.store.tx(async (t) => {
      const r = await this.tryPlace(t, 'dry-run', accountId, body, { person_id: null, name: '' }, true);
      if (typeof r !== 'object' || !('dry_total_ore' in r)) throw new Error('webshop: a dry run placed an order');
      return { total_ore: r.dry_total_ore };
    });
  }

  private async tryPlace(
    t: Tx,
    id: string,
    accountId: string,
    body: OrderBody,
    by: Orderer,
    dry = false,
  ): Promise<Order | { recalled: ('balance' | 'limit')[] } | { dry_total_ore: number }> {
    const account = await lockAccount(t, accountId);
    const [again] = dry ? [] : await t.sql.query(`SELECT ${ORDER_COLUMNS} FROM webshop_orders WHERE id = $1`, [id]);
    if (again) {
      // The same order sent twice (a double click): the same answer; an id of another account's is refused.
      if (again.account_id !== accountId) throw new KantineError('webshop_order_state', `order ${id} exists`);
      return orderOf(again, t.now);
    }
    if (!(await sitesOf(t, accountId)).some((s) => s.id === body.site_id))
      throw new KantineError('not_found', `no menu at ${body.site_id} for this child`);
    const [menuRow] = await t.sql.query(
      `SELECT ${MENU_COLUMNS} FROM webshop_menus WHERE site_id = $1 AND place_id = $2 AND date = $3 FOR UPDATE`,
      [body.site_id, body.place_id, body.date],
    );
    if (!menuRow) throw new KantineError('not_found', `no menu at ${body.site_id}/${body.place_id} on ${body.date}`);
    const menu = menuOf(menuRow);
    if (t.now >= new Date(menu.order_deadline)) throw new KantineError('webshop_order_closed');

    // One line per product (the same product twice is one line with both quantities).
    const wanted = new Map<string, number>();
    for (const l of body.lines) wanted.set(l.product_id, (wanted.get(l.product_id) ?? 0) + l.quantity);
    const lines: OrderLine[] = [];
    for (const [product_id, quantity] of wanted) {
      const item = menu.items.find((i) => i.product_id === product_id);
      if (!item) throw new KantineError('webshop_not_on_menu', `${product_id} is not on the menu`, [product_id]);
      if (quantity > 99) throw new KantineError('invalid_request', 'at most 99 of one item', [product_id]);
      lines.push({
        product_id,
        name: item.name,
        quantity,
        unit_price_ore: item.price_ore,
        category: item.category,
        allergens: item.allergens,
      });
    }
    const ordered = await this.orderedPerItem(t.sql, menu, t.now);
    const sold = lines.filter((l) => {
      const cap = menu.items.find((i) => i.product_id === l.product_id)?.cap ?? null;
      return cap !== null && (ordered.get(l.product_id) ?? 0) + l.quantity > cap;
    });
    if (sold.length > 0)
      throw new KantineError(
        'webshop_sold_out',
        `sold out: ${sold.map((l) => l.product_id).join(', ')}`,
        sold.map((l) => l.product_id),
      );
    const total = lines.reduce((sum, l) => sum + l.quantity * l.unit_price_ore, 0);

    // The child's rules, as the till applies them, on the order's date.
    const kind = menu.place_kind;
    const limits = await this.limitFacts(t, account.id, kind, body.date);
    const refusal = basketRules(
      account,
      { lines, total_ore: total, allergens_confirmed_for: body.confirm_allergens ? account.id : null },
      kind,
      limits.map((l) => l.facts),
      { balance: body.payment === 'canteen_card' },
    );
    if (refusal) {
      const details = 'allergens' in refusal ? refusal.allergens : [];
      throw new KantineError(refusal.code, undefined, details);
    }
    if (dry) return { dry_total_ore: total };

    // Escrow: what this order takes must be free at central; else the sites give back their shares.
    const short = new Set<'balance' | 'limit'>();
    const recall = async (budget: string, shares: { site_id: string }[]) => {
      for (const s of shares as Parameters<typeof outstanding>[0][])
        if (outstanding(s) > 0) await appendRecall(t, s.site_id, account.id, budget);
    };
    for (const l of limits) {
      const shares = await this.escrow.shares(t, account.id, l.budget);
      const free = freeOf(l.budget, l.facts.limit_ore - (await heldByWebshop(t, account.id, l.budget)), shares);
      if (free >= total) continue;
      if (!shares.some((s) => outstanding(s) > 0)) throw new KantineError(limitCode(l.facts.period));
      await recall(l.budget, shares);
      short.add('limit');
    }
    if (body.payment === 'canteen_card') {
      const shares = await this.escrow.shares(t, account.id, BALANCE_BUDGET);
      if (freeOf(BALANCE_BUDGET, account.balance_ore, shares) < total) {
        await recall(BALANCE_BUDGET, shares);
        short.add('balance');
      }
    }
    if (short.size > 0) return { recalled: [...short].sort() };

    if (body.payment === 'bank_card' && !this.payments) throw new KantineError('webshop_bank_card_unavailable');
    await t.sql.query(
      `INSERT INTO webshop_orders (id, account_id, site_id, place_id, place_name, place_kind, date, lines, total_ore,
         payment, state, order_deadline, cancel_deadline, placed_by, placed_by_name, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'awaiting_payment', $11, $12, $13, $14, $15)`,
      [
        id,
        account.id,
        menu.site_id,
        menu.place_id,
        menu.place_name,
        kind,
        menu.date,
        JSON.stringify(lines),
        total,
        body.payment,
        menu.order_deadline,
        menu.cancel_deadline,
        by.person_id,
        by.name.slice(0, 200),
        t.now,
      ],
    );
    if (body.payment === 'canteen_card') await this.markPaid(t, id, 'canteen');
    await this.escrow.rebalance(t, account.id); // what was recalled and not used goes back out
    return this.read(t, id);
  }

  /**
   * A bank-card order waiting for its payment: the provider's checkout is made now (its intent
   * written first, then the provider asked); the browser comes back to the portal's order page,
   * which shows central's state ("Afventer betaling" until the provider's verified answer).
   */
  private async payByBankCard(order: Order): Promise<Order> {
    if (order.payment !== 'bank_card' || order.state !== 'awaiting_payment' || order.payment_intent_id) return order;
    const payments = this.payments;
    if (!payments) throw new KantineError('webshop_bank_card_unavailable');
    const created = await payments.create({
      purpose: 'order',
      account_id: order.account_id,
      amount_ore: order.total_ore,
      ref: { order_id: order.id },
      person_id: order.placed_by.person_id,
      return_path: `/konti/${order.account_id}/ordrer/${order.id}`,
      check: async (t) => {
        const [o] = await t.sql.query('SELECT state FROM webshop_orders WHERE id = $1 FOR UPDATE', [order.id]);
        if (o?.state !== 'awaiting_payment') throw new KantineError('webshop_order_state');
      },
    });
    await this.store.db.query(
      `UPDATE webshop_orders SET payment_intent_id = $2, payment_url = $3 WHERE id = $1 AND state = 'awaiting_payment'`,
      [order.id, created.intent_id, created.checkout_url],
    );
    return { ...order, payment_intent_id: created.intent_id, payment_url: created.checkout_url };
  }

  /**
   * The provider's verified payment of an order (inside the transaction that marks its intent
   * paid). An order that is no longer waiting (it expired, or was cancelled, before the money came)
   * is refunded at the provider: a failing refund rolls back, and the payment is settled again later.
   */
  private async bankPaid(t: Tx, intent: Intent): Promise<void> {
    const orderId = orderOfIntent(intent);
    const [o] = await t.sql.query(`SELECT ${ORDER_COLUMNS} FROM webshop_orders WHERE id = $1 FOR UPDATE`, [orderId]);
    if (!o) throw new Error(`payments: an order intent ${intent.id} without its order ${orderId}`);
    // The payment the order takes is the first to arrive while it waits (a double click may have
    // made several checkouts of it); a refund of the order goes back to that one.
    if (o.state === 'awaiting_payment') {
      await t.sql.query('UPDATE webshop_orders SET payment_intent_id = $2 WHERE id = $1', [orderId, intent.id]);
      if (await this.markPaid(t, orderId, 'bank')) return;
    }
    if (o.paid_at && o.payment_intent_id === intent.id) return; // this payment is the order's already
    // Any other payment of it (the order paid by another checkout, cancelled or expired) goes back, once per payment.
    await this.providerRefund(intent, `order-late-${intent.id}`);
    await t.sql.query(
      `UPDATE webshop_orders SET state = 'refunded', refunded_at = $2, cancel_reason = COALESCE(cancel_reason, 'expired')
       WHERE id = $1 AND state = 'cancelled'`,
      [orderId, t.now],
    );
  }

  private async providerRefund(intent: Intent, key: string): Promise<void> {
    if (!this.payments || !intent.provider_payment_id) throw new KantineError('webshop_bank_card_unavailable');
    await this.payments.adapter.refund(intent.provider_payment_id, intent.amount_ore, key);
  }

  /**
   * An order's payment arrived (canteen card: at once; bank card: the provider's verified payment,
   * in the transaction that marks the intent paid). Canteen card: a purchase on the account, sent
   * to every site of the child. Either way the order goes to its site's till. An order that expired
   * meanwhile (a bank card paid after the deadline) is refunded by the caller: returns false.
   */
  async markPaid(t: Tx, orderId: string, how: 'canteen' | 'bank'): Promise<boolean> {
    const [o] = await t.sql.query(`SELECT ${ORDER_COLUMNS} FROM webshop_orders WHERE id = $1 FOR UPDATE`, [orderId]);
    if (!o) throw new KantineError('not_found', `no order ${orderId}`);
    if (o.state === 'paid' || o.state === 'handed_out') return true;
    if (o.state !== 'awaiting_payment') return false;
    if (how === 'bank' && !(await this.stillPayable(t, orderId))) {
      // Paid after its order deadline (or after its checkout expired, when it stopped holding its
      // items): not taken, whether or not the upkeep got to expire it first. The caller refunds.
      await t.sql.query(
        `UPDATE webshop_orders SET state = 'cancelled', cancel_reason = 'expired', cancelled_at = $2 WHERE id = $1`,
        [orderId, t.now],
      );
      return false;
    }
    const lines = o.lines as OrderLine[];
    let entryId: string | null = null;
    if (how === 'canteen') {
      entryId = uuidv7();
      const row = await book(t, {
        id: entryId,
        account_id: o.account_id as string,
        kind: 'purchase',
        amount_ore: -Number(o.total_ore),
        origin: 'central',
        created_at: t.now.toISOString(),
        reason: `Webshop ${o.date}`,
        lines: lines.map(({ product_id, name, quantity, unit_price_ore }) => ({
          product_id,
          name,
          quantity,
          unit_price_ore,
        })),
      });
      for (const s of await sitesOf(t, o.account_id as string))
        await appendDown(t, s.id, { kind: 'entry', entry: centralEntry(row) });
    }
    await t.sql.query(`UPDATE webshop_orders SET state = 'paid', paid_at = $2, entry_id = $3 WHERE id = $1`, [
      orderId,
      t.now,
      entryId,
    ]);
    await appendDown(t, o.site_id as string, {
      kind: 'preorder',
      preorder: {
        id: orderId,
        account_id: o.account_id as string,
        place_id: o.place_id as string,
        for_date: o.date as string,
        lines: lines.map(({ product_id, name, quantity, unit_price_ore }) => ({
          product_id,
          name,
          quantity,
          unit_price_ore,
        })),
      },
    });
    return true;
  }

  /** Whether an unpaid order still holds its items and may be paid (its deadline and checkout not passed). */
  private async stillPayable(t: Tx, orderId: string): Promise<boolean> {
    const rows = await t.sql.query(`SELECT 1 FROM webshop_orders o WHERE o.id = $1 AND ${liveOrder('$2')}`, [
      orderId,
      t.now,
    ]);
    return rows.length > 0;
  }

  /**
   * The child's limits at this kind of place whose window holds `date` (day, week, month), each
   * with what was spent in it: the sites' sales central knows of (less their voids) and the
   * webshop's orders for dates in it.
   */
  private async limitFacts(
    t: Tx,
    accountId: string,
    kind: PlaceKind,
    date: string,
  ): Promise<{ budget: string; facts: RuleLimit }[]> {
    const limits = (await limitsOf(t, accountId)).filter((l) => l.place_kind === kind);
    const at = DateTime.fromISO(date, { zone: SITE_ZONE }).plus({ hours: 12 }).toJSDate();
    const out: { budget: string; facts: RuleLimit }[] = [];
    for (const period of PERIODS) {
      const limit = limits.find((l) => l.period === period);
      if (!limit) continue;
      const budget = limitBudget(kind, period, at);
      const w = windowDates(budget);
      if (!w) continue;
      const from = DateTime.fromISO(w.from, { zone: SITE_ZONE }).toJSDate();
      const to = DateTime.fromISO(w.to, { zone: SITE_ZONE }).toJSDate();
      const [row] = await t.sql.query<{ spent: number | string }>(
        `SELECT COALESCE(-SUM(e.amount_ore), 0)::bigint AS spent FROM entries e
         WHERE e.account_id = $1 AND e.kind = 'purchase' AND e.place_kind = $2 AND e.created_at >= $3 AND e.created_at < $4
           AND NOT EXISTS (SELECT 1 FROM entries v WHERE v.voids_entry_id = e.id)`,
        [accountId, kind, from, to],
      );
      const spent = Number(row?.spent ?? 0) + (await heldByWebshop(t, accountId, budget));
      out.push({ budget, facts: { period, limit_ore: limit.limit_ore, spent_ore: spent } });
    }
    return out;
  }

  private async read(t: Tx, id: string): Promise<Order> {
    const [r] = await t.sql.query(`SELECT ${ORDER_COLUMNS} FROM webshop_orders WHERE id = $1`, [id]);
    if (!r) throw new KantineError('not_found', `no order ${id}`);
    return orderOf(r, t.now);
  }

  /** A child's orders, the latest date first. */
  async list(accountId: string): Promise<Order[]> {
    await this.expire();
    const rows = await this.store.db.query(
      `SELECT ${ORDER_COLUMNS} FROM webshop_orders WHERE account_id = $1 ORDER BY webshop_orders.date DESC, created_at DESC LIMIT 500`,
      [accountId],
    );
    const now = this.store.clock.now();
    return rows.map((r) => orderOf(r, now));
  }

  /**
   * One of a child's orders (`not_found` if it is another child's). A bank-card order still
   * waiting is asked about at the provider first (the browser's return proves nothing).
   */
  async get(accountId: string, orderId: string): Promise<Order> {
    await this.expire();
    const [waiting] = await this.store.db.query<{ payment_intent_id: string }>(
      `SELECT payment_intent_id FROM webshop_orders
       WHERE id = $1 AND account_id = $2 AND state = 'awaiting_payment' AND payment_intent_id IS NOT NULL`,
      [orderId, accountId],
    );
    if (waiting && this.payments) {
      const intent = await this.payments.get(waiting.payment_intent_id);
      if (intent?.provider_payment_id && (intent.state === 'pending' || intent.state === 'created'))
        await this.payments.settle(intent.provider_payment_id).catch(() => undefined); // unreachable: still waiting
    }
    const [r] = await this.store.db.query(
      `SELECT ${ORDER_COLUMNS} FROM webshop_orders WHERE id = $1 AND account_id = $2`,
      [orderId, accountId],
    );
    if (!r) throw new KantineError('not_found', `no order ${orderId}`);
    return orderOf(r, this.store.clock.now());
  }

  /** Every order of the children a person may use the webshop for (guardian, or relation allowed). */
  async ofPerson(personId: string): Promise<(Order & { first_name: string })[]> {
    await this.expire();
    const rows = await this.store.db.query(
      `SELECT o.*, to_char(o.date, 'YYYY-MM-DD') AS date, a.first_name FROM webshop_orders o
       JOIN accounts a ON a.id = o.account_id
       JOIN account_guardians g ON g.account_id = o.account_id AND g.person_id = $1
       WHERE g.role = 'guardian' OR EXISTS (SELECT 1 FROM webshop_relations r WHERE r.account_id = o.account_id AND r.person_id = $1)
       ORDER BY o.date DESC, o.created_at DESC LIMIT 500`,
      [personId],
    );
    const now = this.store.clock.now();
    return rows.map((r) => ({ ...orderOf(r, now), first_name: r.first_name as string }));
  }

  /**
   * Cancels an order: an unpaid one at any time (nothing moved); a paid one before its cancel
   * deadline, refunded the way it was paid (canteen card: a void of its purchase) and taken off
   * its site's till.
   */
  async cancel(accountId: string, orderId: string): Promise<Order> {
    return this.store.tx(async (t) => {
      await lockAccount(t, accountId);
      const [o] = await t.sql.query(
        `SELECT ${ORDER_COLUMNS} FROM webshop_orders WHERE id = $1 AND account_id = $2 FOR UPDATE`,
        [orderId, accountId],
      );
      if (!o) throw new KantineError('not_found', `no order ${orderId}`);
      if (o.state === 'awaiting_payment') {
        await t.sql.query(
          `UPDATE webshop_orders SET state = 'cancelled', cancel_reason = 'guardian', cancelled_at = $2 WHERE id = $1`,
          [orderId, t.now],
        );
      } else if (o.state === 'paid') {
        if (t.now >= new Date(o.cancel_deadline as string)) throw new KantineError('webshop_cancel_closed');
        await this.refund(t, o, 'guardian', 'Webshop-ordre annulleret');
      } else {
        throw new KantineError('webshop_order_state', `the order is ${o.state}`);
      }
      await this.escrow.rebalance(t, accountId);
      return this.read(t, orderId);
    });
  }

  /** Refunds a paid order (the caller holds the locks) and takes it off its site's till. */
  private async refund(t: Tx, o: Record<string, unknown>, reason: 'guardian' | 'not_collected', text: string) {
    let refundId: string | null = null;
    if (o.payment === 'canteen_card' && o.entry_id) {
      refundId = uuidv7();
      const row = await book(t, {
        id: refundId,
        account_id: o.account_id as string,
        kind: 'void',
        amount_ore: Number(o.total_ore),
        origin: 'central',
        created_at: t.now.toISOString(),
        voids_entry_id: o.entry_id as string,
        reason: text,
      });
      for (const s of await sitesOf(t, o.account_id as string))
        await appendDown(t, s.id, { kind: 'entry', entry: centralEntry(row) });
    } else if (o.payment === 'bank_card') {
      // The provider gives the money back (once, by its key); failing, nothing here changes.
      const intent = o.payment_intent_id ? await this.payments?.get(o.payment_intent_id as string) : undefined;
      if (!intent) throw new KantineError('webshop_bank_card_unavailable');
      await this.providerRefund(intent, `order-refund-${o.id as string}`);
    }
    await t.sql.query(
      `UPDATE webshop_orders SET state = 'refunded', cancel_reason = $2, refunded_at = $3, cancelled_at = $3,
         refund_entry_id = $4 WHERE id = $1`,
      [o.id, reason, t.now, refundId],
    );
    await appendDown(t, o.site_id as string, { kind: 'preorder_cancel', order_id: o.id as string });
  }

  /**
   * Unpaid orders past their order deadline, or whose checkout expired, expire (they stopped
   * holding a cap and a limit then: `liveOrder`).
   */
  async expire(): Promise<number> {
    const rows = await this.store.db.query<{ account_id: string }>(
      `UPDATE webshop_orders o SET state = 'cancelled', cancel_reason = 'expired', cancelled_at = $1
       WHERE o.state = 'awaiting_payment' AND NOT ${liveOrder('$1')} RETURNING o.account_id`,
      [this.store.clock.now()],
    );
    for (const id of new Set(rows.map((r) => r.account_id))) await this.store.tx((t) => this.escrow.rebalance(t, id));
    return rows.length;
  }

  /**
   * Paid orders nobody collected by the end of the day after their date (a handing out reported
   * late over the link has had a day): refunded, or kept as not collected, as the municipality set.
   * A refund the provider refuses (or cannot be reached for) stops only its own order: the order
   * stays paid with why (`refund_failure`, finance sees it: `refundProblems`) and is tried again
   * after a back-off (1 min doubling, at most 6 h); the others go on. Returns how many were settled.
   */
  async settleUncollected(): Promise<number> {
    const now = this.store.clock.now();
    const before = addDays(today(now), -1);
    const ids = await this.store.db.query<{ id: string; account_id: string }>(
      `SELECT id, account_id FROM webshop_orders
       WHERE state = 'paid' AND NOT not_collected AND date < $1 AND (refund_retry_at IS NULL OR refund_retry_at <= $2)
       ORDER BY date, id LIMIT 500`,
      [before, now],
    );
    let settled = 0;
    for (const { id, account_id } of ids) {
      try {
        await this.store.tx(async (t) => {
          await lockAccount(t, account_id);
          const [o] = await t.sql.query(
            `SELECT ${ORDER_COLUMNS} FROM webshop_orders WHERE id = $1 AND state = 'paid' FOR UPDATE`,
            [id],
          );
          if (!o) return;
          if (this.uncollected === 'refund') await this.refund(t, o, 'not_collected', 'Webshop-ordre ikke afhentet');
          else await t.sql.query('UPDATE webshop_orders SET not_collected = true WHERE id = $1', [id]);
          await this.escrow.rebalance(t, account_id);
        });
        settled++;
      } catch (err) {
        const why = err instanceof KantineError ? `${err.code}: ${err.message}` : (err as Error).message;
        await this.store.tx(async (t) => {
          await t.sql.query(
            `UPDATE webshop_orders SET refund_failure = $2, refund_failures = refund_failures + 1,
               refund_retry_at = $3::timestamptz + least(interval '1 minute' * power(2, refund_failures), interval '6 hours')
             WHERE id = $1 AND state = 'paid'`,
            [id, why.slice(0, 500), t.now],
          );
        });
      }
    }
    return settled;
  }

  /** Paid orders whose refund (not collected) the provider refused: for finance, with why and the next try. */
  async refundProblems(): Promise<
    (Order & { first_name: string; refund_failure: string; refund_failures: number; refund_retry_at: string })[]
  > {
    const rows = await this.store.db.query(
      `SELECT o.*, to_char(o.date, 'YYYY-MM-DD') AS date, a.first_name FROM webshop_orders o
       JOIN accounts a ON a.id = o.account_id
       WHERE o.state = 'paid' AND o.refund_failure IS NOT NULL ORDER BY o.date, o.id LIMIT 500`,
    );
    const now = this.store.clock.now();
    return rows.map((r) => ({
      ...orderOf(r, now),
      first_name: r.first_name as string,
      refund_failure: r.refund_failure as string,
      refund_failures: Number(r.refund_failures),
      refund_retry_at: iso(r.refund_retry_at) as string,
    }));
  }

  // ── Relations ───────────────────────────────────────────────────────────────────────────

  /** Whether a guardian let this relation use the webshop for the child. */
  async relationAllowed(accountId: string, personId: string): Promise<boolean> {
    const rows = await this.store.db.query('SELECT 1 FROM webshop_relations WHERE account_id = $1 AND person_id = $2', [
      accountId,
      personId,
    ]);
    return rows.length > 0;
  }

  /** A guardian lets a relation of the child use the webshop, or no longer. */
  async setRelation(accountId: string, personId: string, allowed: boolean, by: string): Promise<void> {
    await this.store.tx(async (t) => {
      const [r] = await t.sql.query(
        `SELECT 1 FROM account_guardians WHERE account_id = $1 AND person_id = $2 AND role = 'relation'`,
        [accountId, personId],
      );
      if (!r) throw new KantineError('not_found', `no relation ${personId} of this child`);
      if (allowed)
        await t.sql.query(
          `INSERT INTO webshop_relations (account_id, person_id, allowed_by, allowed_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (account_id, person_id) DO NOTHING`,
          [accountId, personId, by, t.now],
        );
      else
        await t.sql.query('DELETE FROM webshop_relations WHERE account_id = $1 AND person_id = $2', [
          accountId,
          personId,
        ]);
    });
  }

  async relation(accountId: string, personId: string): Promise<boolean> {
    const [r] = await this.store.db.query(
      `SELECT 1 FROM account_guardians WHERE account_id = $1 AND person_id = $2 AND role = 'relation'`,
      [accountId, personId],
    );
    if (!r) throw new KantineError('not_found', `no relation ${personId} of this child`);
    return this.relationAllowed(accountId, personId);
  }
}

/**
 * The state in Danish: an order that expired unpaid says so ("Udløbet"), and one whose payment
 * came after it expired says the money went back ("Udløbet – betalingen er refunderet").
 */
function stateDa(state: OrderState, reason: Order['cancel_reason']): string {
  if (reason === 'expired' && state === 'cancelled') return 'Udløbet';
  if (reason === 'expired' && state === 'refunded') return 'Udløbet – betalingen er refunderet';
  return ORDER_STATE_DA[state];
}

/**
 * The refusal when a site holds what the order needs and has not given it back in time: which of
 * the child's money it holds (`balance`: the canteen card's balance; `limit`: a spend limit's
 * headroom) is in the details, so the portal can tell the guardian what to do — a bank card does
 * not need the balance, but every order needs the limit.
 */
function heldOffline(held: ('balance' | 'limit')[]): KantineError {
  const what = held.includes('limit')
    ? "the school's till holds part of the child's spend limit and is offline: try again later, when the school is online"
    : "the school's till holds the child's balance and is offline: pay by bank card, or try again later";
  return new KantineError('funds_held_offline', what, held);
}

function orderOfIntent(intent: Intent): string {
  const id = intent.ref.order_id;
  if (typeof id !== 'string') throw new Error(`payments: order intent ${intent.id} names no order`);
  return id;
}

function limitCode(period: RuleLimit['period']): 'limit_exceeded_day' | 'limit_exceeded_week' | 'limit_exceeded_month' {
  return period === 'day' ? 'limit_exceeded_day' : period === 'week' ? 'limit_exceeded_week' : 'limit_exceeded_month';
}
