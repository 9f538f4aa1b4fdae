import { KantineError, type PlaceKind, typedCardNumber } from '@kantine/protocol';
import { v4 as uuidv4 } from 'uuid';
import { lockAccount, sitesOf } from '../accounts/rows.ts';
import { attempts } from '../attempts/attempts.ts';
import type { Store, Tx } from '../db/tx.ts';
import type { MoneyService } from '../money/money.ts';
import type { CardService } from './cards.ts';

/** The replacement card's fee (the seeds: a fee of its own on the statement). */
export const REPLACEMENT_FEE_ORE = 1_000;
/** The fee entry's reason: its statement line reads "Gebyr: Nyt kort". */
export const REPLACEMENT_REASON = 'Nyt kort';

/** How many wrong card numbers a person (and an account) may type in a window. */
export interface ActivationLimits {
  window_s: number;
  per_person: number;
  per_account: number;
}
// Typing slips are caught by the check character and do not count; 5 wrong but well-formed
// numbers in 15 minutes is plenty for a person and far too few to find another child's card.
export const DEFAULT_ACTIVATION_LIMITS: ActivationLimits = { window_s: 15 * 60, per_person: 5, per_account: 10 };

/** A replacement card on order (ordered in the portal, handed out at the school office). */
export interface CardOrder {
  order_id: string;
  account_id: string;
  first_name: string;
  last_name: string;
  site_id: string;
  state: 'ordered' | 'handed_out';
  /** The number of the card handed out (as printed), once it is. */
  card_number: string | null;
  /** Whether that card is now the child's active (or blocked) card. */
  activated: boolean;
  ordered_at: string;
  handed_out_at: string | null;
}

/** A stock card at an office, by its printed number. */
export interface StockCard {
  card_number: string;
  /** The child it was handed to (not yet activated), or null while it lies in the pile. */
  handed_to: { account_id: string; first_name: string; last_name: string } | null;
}

/** The "Kortet virker ikke" checklist's facts, from the child's live state. */
export interface CardCheck {
  /** The card on the account now, and the older ones that no longer work. */
  card: { state: 'active' | 'blocked' | 'none'; number: string | null; replaced: string[] };
  /** An open replacement order (the new card waits at the office, or is handed out to activate). */
  order: { state: 'ordered' | 'handed_out'; card_number: string | null } | null;
  balance_ore: number;
  /** Each limit reached in its window now (spent ≥ limit). */
  limits_reached: { place_kind: PlaceKind; period: 'day' | 'week' | 'month'; spent_ore: number; limit_ore: number }[];
  /** The places the child's sites have, and whether the guardians allow the card there. */
  places: { place_kind: PlaceKind; allowed: boolean }[];
}

/** The 8 characters after the issuer's digits, as printed (`ABCD-EFGH`), from what a person typed. */
export function typedTail(typed: string): string | undefined {
  if (typeof typed !== 'string') return undefined;
  const s = typed.trim();
  // The whole printed number (issuer's 4 digits too) is read as its last 8 characters.
  const whole = /^[0-9]{4}[\s-]?(.{8,10})$/.exec(s);
  if (whole && s.replace(/[\s-]/g, '').length === 12) return typedCardNumber(whole[1] as string);
  return typedCardNumber(s);
}

/**
 * Replacement cards (issue 18, Kort; issue 19 rule 8): a guardian orders one in the portal (the
 * 10 kr fee is booked as its own entry in the same transaction as the order), the school office
 * hands a blank card from its pile to the child, and the guardian activates it by the number
 * printed on it. The activated card takes over the account — balance, limits, places, agreements
 * hang on the account, not the card — and every older card of the account is replaced, so the
 * till declines it (`card_replaced`). Wrong numbers are counted per person and per account.
 */
export class ReplacementService {
  constructor(
    private readonly store: Store,
    private readonly money: MoneyService,
    private readonly cards: CardService,
    private readonly limits: ActivationLimits = DEFAULT_ACTIVATION_LIMITS,
  ) {}

  /**
   * Orders a replacement card: the fee leaves the balance (`insufficient_balance`,
   * `funds_held_offline` as any withdrawal) and the order goes to the office of the child's
   * school. One open order per child (`card_order_open`). The same `id` again is the same order.
   */
  async order(accountId: string, personId: string, id: string = uuidv4()): Promise<CardOrder> {
    const before = await this.orderRow(id);
    if (before) {
      if (before.account_id !== accountId) throw new KantineError('entry_id_reused');
      return before;
    }
    const [open] = await this.store.db.query("SELECT 1 FROM card_orders WHERE account_id = $1 AND state = 'ordered'", [
      accountId,
    ]);
    if (open) throw new KantineError('card_order_open');
    await this.money.withdraw({
      id,
      account_id: accountId,
      amount_ore: REPLACEMENT_FEE_ORE,
      kind: 'fee',
      reason: REPLACEMENT_REASON,
      within: async (t, entryId) => {
        const site = await schoolOf(t, accountId);
        const [again] = await t.sql.query(
          "SELECT 1 FROM card_orders WHERE account_id = $1 AND state = 'ordered' FOR UPDATE",
          [accountId],
        );
        if (again) throw new KantineError('card_order_open');
        await t.sql.query(
          `INSERT INTO card_orders (id, account_id, site_id, ordered_by, state, ordered_at)
           VALUES ($1, $2, $3, $4, 'ordered', $5)`,
          [entryId, accountId, site, personId, t.now],
        );
      },
    });
    const row = await this.orderRow(id);
    if (!row) throw new KantineError('entry_id_reused', `entry ${id} was booked before for another request`);
    return row;
  }

  /** The child's replacement orders, newest first. */
  async ordersOf(accountId: string): Promise<CardOrder[]> {
    return (
      await this.store.db.query<OrderRow>(`${ORDER_SELECT} WHERE o.account_id = $1 ORDER BY o.ordered_at DESC`, [
        accountId,
      ])
    ).map(orderOf);
  }

  /** The office's orders: the open ones first, then the handed-out ones of the last 60 days. */
  async ordersAt(site: string): Promise<CardOrder[]> {
    return (
      await this.store.db.query<OrderRow>(
        `${ORDER_SELECT} WHERE o.site_id = $1 AND (o.state = 'ordered' OR o.handed_out_at > $2)
          ORDER BY CASE o.state WHEN 'ordered' THEN 0 ELSE 1 END, o.ordered_at`,
        [site, new Date(this.store.clock.now().getTime() - 60 * 86_400_000)],
      )
    ).map(orderOf);
  }

  /** The blank cards in the office's pile, by number (handed-out ones say to whom). */
  async stockAt(site: string): Promise<StockCard[]> {
    const rows = await this.store.db.query<{
      card_number: string;
      account_id: string | null;
      first_name: string | null;
      last_name: string | null;
    }>(
      `SELECT c.card_number, a.id AS account_id, a.first_name, a.last_name FROM cards c
         LEFT JOIN accounts a ON a.id = c.handed_to
        WHERE c.stock_site = $1 AND c.state = 'stock' AND c.card_number IS NOT NULL
        ORDER BY c.handed_to IS NULL, c.card_number`,
      [site],
    );
    return rows.map((r) => ({
      card_number: r.card_number,
      handed_to: r.account_id
        ? { account_id: r.account_id, first_name: r.first_name ?? '', last_name: r.last_name ?? '' }
        : null,
    }));
  }

  /**
   * The office hands a blank card from its pile to the child of an open order: the card is now
   * that child's to activate (no one else's), the order is handed out. An order of another
   * office is `not_found`; a card not lying blank in this office's pile is `card_not_in_stock`.
   */
  async handOut(site: string, orderId: string, typed: string, by: string): Promise<CardOrder> {
    const tail = typedTail(typed);
    if (!tail) throw new KantineError('card_number_invalid');
    await this.store.tx(async (t) => {
      const [order] = await t.sql.query<{ account_id: string; state: string }>(
        'SELECT account_id, state FROM card_orders WHERE id = $1 AND site_id = $2 FOR UPDATE',
        [orderId, site],
      );
      if (!order) throw new KantineError('not_found', `no card order ${orderId} at ${site}`);
      if (order.state !== 'ordered') throw new KantineError('invalid_request', 'the card was handed out already');
      const cards = await t.sql.query<{ uid: string }>(
        `SELECT uid FROM cards WHERE right(card_number, 9) = $1 AND state = 'stock' AND stock_site = $2
           AND handed_to IS NULL FOR UPDATE`,
        [tail, site],
      );
      const [card] = cards;
      if (!card || cards.length > 1) throw new KantineError('card_not_in_stock');
      await t.sql.query('UPDATE cards SET handed_to = $2 WHERE uid = $1', [card.uid, order.account_id]);
      await t.sql.query(
        `UPDATE card_orders SET state = 'handed_out', card_uid = $2, handed_out_at = $3, handed_out_by = $4
          WHERE id = $1`,
        [orderId, card.uid, t.now, by],
      );
    });
    return (await this.orderRow(orderId)) as CardOrder;
  }

  /**
   * A guardian activates a blank card by the number printed on it (the 8 characters after the
   * issuer's digits). The card must lie blank at an office of one of the child's sites (and, if
   * the office handed it to a child, to this one): else `card_in_use` (already someone's card) or
   * `card_not_in_stock` (unknown, or another school's: the same answer). A number that is not
   * one (`card_number_invalid`: the check character caught a slip) is not counted; a wrong one
   * is, per person and per account (`too_many_attempts`). Nothing changes on a refusal.
   */
  async activate(accountId: string, personId: string, typed: string): Promise<{ card_number: string }> {
    const tail = typedTail(typed);
    if (!tail) throw new KantineError('card_number_invalid');
    const buckets = [
      { key: `card:person:${personId}`, max: this.limits.per_person },
      { key: `card:account:${accountId}`, max: this.limits.per_account },
    ];
    const outcome = await this.store.tx(async (t): Promise<string | 'card_in_use' | 'card_not_in_stock'> => {
      await attempts.guard(t, buckets, this.limits.window_s);
      await lockAccount(t, accountId);
      const sites = (await sitesOf(t, accountId)).map((s) => s.id);
      const rows = await t.sql.query<{
        uid: string;
        card_number: string;
        state: string;
        account_id: string | null;
        stock_site: string | null;
        handed_to: string | null;
      }>(
        'SELECT uid, card_number, state, account_id, stock_site, handed_to FROM cards WHERE right(card_number, 9) = $1 ORDER BY uid',
        [tail],
      );
      const here = (r: (typeof rows)[number]) => r.stock_site !== null && sites.includes(r.stock_site);
      const fits = rows.filter(
        (r) => r.state === 'stock' && here(r) && (r.handed_to === null || r.handed_to === accountId),
      );
      if (fits.length !== 1) {
        await attempts.count(t, buckets);
        const used = rows.some(
          (r) => (r.state !== 'stock' && (r.account_id === accountId || here(r))) || (r.state === 'stock' && here(r)),
        );
        return used ? 'card_in_use' : 'card_not_in_stock';
      }
      const card = fits[0] as (typeof rows)[number];
      await this.cards.activateIn(t, card.uid, accountId);
      // The card the office had waiting for this child has been collected.
      await t.sql.query(
        `UPDATE card_orders SET state = 'handed_out', card_uid = $2, handed_out_at = $3, handed_out_by = 'activated'
          WHERE account_id = $1 AND state = 'ordered'`,
        [accountId, card.uid, t.now],
      );
      return card.card_number;
    });
    if (outcome === 'card_in_use' || outcome === 'card_not_in_stock') throw new KantineError(outcome);
    return { card_number: outcome };
  }

  /** The facts the "Kortet virker ikke" checklist answers from. */
  async check(
    accountId: string,
    spend: { place_kind: PlaceKind; period: 'day' | 'week' | 'month'; spent_ore: number; limit_ore: number | null }[],
  ): Promise<CardCheck> {
    const { db } = this.store;
    const [account] = await db.query<{ balance_ore: number; place_kinds: PlaceKind[] }>(
      'SELECT balance_ore, place_kinds FROM accounts WHERE id = $1',
      [accountId],
    );
    if (!account) throw new KantineError('not_found', `no account ${accountId}`);
    const cards = await db.query<{ card_number: string | null; state: 'active' | 'blocked' | 'replaced' }>(
      `SELECT card_number, state FROM cards WHERE account_id = $1 AND state IN ('active', 'blocked', 'replaced')
        ORDER BY card_number`,
      [accountId],
    );
    const current = cards.find((c) => c.state === 'active') ?? cards.find((c) => c.state === 'blocked');
    const [order] = (await this.ordersOf(accountId)).filter(
      (o) => !o.activated && (o.state === 'ordered' || o.card_number),
    );
    const siteKinds = await db.query<{ place_kinds: PlaceKind[] }>(
      'SELECT s.place_kinds FROM account_sites x JOIN sites s ON s.id = x.site_id WHERE x.account_id = $1',
      [accountId],
    );
    const kinds = [...new Set(siteKinds.flatMap((s) => s.place_kinds))].sort();
    return {
      card: {
        state: current ? (current.state as 'active' | 'blocked') : 'none',
        number: current?.card_number ?? null,
        replaced: cards.filter((c) => c.state === 'replaced' && c.card_number).map((c) => c.card_number as string),
      },
      order: order ? { state: order.state, card_number: order.card_number } : null,
      balance_ore: Number(account.balance_ore),
      limits_reached: spend
        .filter((s) => s.limit_ore !== null && s.spent_ore >= s.limit_ore)
        .map((s) => ({
          place_kind: s.place_kind,
          period: s.period,
          spent_ore: s.spent_ore,
          limit_ore: s.limit_ore as number,
        })),
      places: kinds.map((k) => ({ place_kind: k, allowed: account.place_kinds.includes(k) })),
    };
  }

  private async orderRow(id: string): Promise<CardOrder | undefined> {
    const [row] = await this.store.db.query<OrderRow>(`${ORDER_SELECT} WHERE o.id = $1`, [id]);
    return row ? orderOf(row) : undefined;
  }
}

/** The office a child's new card is collected at: the first of its sites that is a school, else its first site. */
async function schoolOf(t: Tx, accountId: string): Promise<string> {
  const sites = await sitesOf(t, accountId);
  const site = sites.find((s) => s.place_kinds.includes('school')) ?? sites[0];
  if (!site) throw new KantineError('card_order_no_school');
  return site.id;
}

const ORDER_SELECT = `SELECT o.id, o.account_id, a.first_name, a.last_name, o.site_id, o.state, c.card_number,
       (c.state IN ('active', 'blocked', 'replaced')) AS activated, o.ordered_at, o.handed_out_at
  FROM card_orders o JOIN accounts a ON a.id = o.account_id LEFT JOIN cards c ON c.uid = o.card_uid`;

interface OrderRow {
  id: string;
  account_id: string;
  first_name: string;
  last_name: string;
  site_id: string;
  state: 'ordered' | 'handed_out';
  card_number: string | null;
  activated: boolean | null;
  ordered_at: Date;
  handed_out_at: Date | null;
}

function orderOf(r: OrderRow): CardOrder {
  return {
    order_id: r.id,
    account_id: r.account_id,
    first_name: r.first_name,
    last_name: r.last_name,
    site_id: r.site_id,
    state: r.state,
    card_number: r.card_number,
    activated: r.activated === true,
    ordered_at: new Date(r.ordered_at).toISOString(),
    handed_out_at: r.handed_out_at ? new Date(r.handed_out_at).toISOString() : null,
  };
}
