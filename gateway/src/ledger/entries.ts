import { type CentralEntry, KantineError, type PlaceKind, type SaleLine } from '@kantine/protocol';
import { v7 as uuidv7 } from 'uuid';
import type { AccountDbRow } from './accounts.ts';
import { type Db, nowIso, prepared, writeTransaction } from './db.ts';
import type { Escrow } from './escrow.ts';
import { dayBounds, localDate } from './spend-limits.ts';

// The columns of an entry that no till made.
const NO_TILL = {
  tap_id: null,
  till_id: null,
  place_kind: null,
  voids_entry_id: null,
  reason: null,
  staff_id: null,
  origin: null,
  budgets: null,
};

/** A sale a tap made: what the commit step writes. */
export interface Purchase {
  account_id: string;
  /** The balance before the sale. */
  balance_ore: number;
  total_ore: number;
  tap_id: string;
  till_id: string;
  place_kind: PlaceKind;
  lines: SaleLine[];
  /** The escrow budgets it draws on (a linked site only). */
  budgets: string[];
  created_at: string;
  /** Paid with a kantine card: its SUN counter goes to central with the sale (and on to the other sites). */
  card?: { uid: string; sun_counter: number };
}

export interface Voided {
  entry_id: string;
  account_id: string;
  amount_ore: number;
  balance_ore: number;
}

/**
 * The money: every deposit, sale and void is an entry, and a balance only ever moves through
 * entries. On a linked site (`escrow` set) sales and voids use and give back this site's shares.
 */
export class Entries {
  private readonly stmt;
  /** This site's shares and the outbox for central: set on a site linked to central. */
  escrow: Escrow | undefined;

  constructor(private readonly d: Db) {
    const { db } = d;
    this.stmt = {
      getAccount: db.prepare<[string], Pick<AccountDbRow, 'id' | 'balance_ore'>>(
        'SELECT id, balance_ore FROM accounts WHERE id = ?',
      ),
      insertEntry: db.prepare(
        `INSERT INTO entries (id, account_id, kind, amount_ore, balance_after_ore, tap_id, till_id, place_kind,
                              voids_entry_id, reason, staff_id, origin, budgets, created_at)
         VALUES (@id, @account_id, @kind, @amount_ore, @balance_after_ore, @tap_id, @till_id, @place_kind,
                 @voids_entry_id, @reason, @staff_id, @origin, @budgets, @created_at)`,
      ),
      insertLine: db.prepare(
        `INSERT INTO entry_lines (entry_id, line_no, product_id, name, quantity, unit_price_ore)
         VALUES (@entry_id, @line_no, @product_id, @name, @quantity, @unit_price_ore)`,
      ),
      setBalance: db.prepare<[number, string]>('UPDATE accounts SET balance_ore = ? WHERE id = ?'),
      // The tap path's writes bind by position: no parameter object to build and read per row.
      insertPurchase: db.prepare<[string, string, number, number, string, string, string, string | null, string]>(
        `INSERT INTO entries (id, account_id, kind, amount_ore, balance_after_ore, tap_id, till_id, place_kind,
                              budgets, created_at)
         VALUES (?, ?, 'purchase', ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertSaleLine: db.prepare<[string, number, string, string, number, number]>(
        `INSERT INTO entry_lines (entry_id, line_no, product_id, name, quantity, unit_price_ore)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
    };
  }

  /** A deposit is an entry like any other: the balance only ever moves through entries. */
  deposit(d: { id?: string; account_id: string; amount_ore: number }): string {
    if (!Number.isSafeInteger(d.amount_ore) || d.amount_ore <= 0) {
      throw new KantineError('invalid_request', 'a deposit is a positive whole number of øre');
    }
    const id = d.id ?? uuidv7();
    writeTransaction(this.d.db, () => {
      const account = this.stmt.getAccount.get(d.account_id);
      if (!account) throw new KantineError('not_found', `no account ${d.account_id}`);
      const balance = account.balance_ore + d.amount_ore;
      this.stmt.insertEntry.run({
        id,
        account_id: account.id,
        kind: 'deposit',
        amount_ore: d.amount_ore,
        balance_after_ore: balance,
        ...NO_TILL,
        created_at: nowIso(this.d.clock),
      });
      this.stmt.setBalance.run(balance, account.id);
    });
    return id;
  }

  /** An entry made elsewhere (central, or another site), booked once under its own id. */
  bookCentralEntry(e: CentralEntry): void {
    if (prepared(this.d.db, 'SELECT 1 FROM entries WHERE id = ?').get(e.id)) return;
    const account = this.stmt.getAccount.get(e.account_id);
    if (!account) throw new Error(`central sent an entry for account ${e.account_id} before the account`);
    const balance = account.balance_ore + e.amount_ore;
    this.stmt.insertEntry.run({
      ...NO_TILL,
      id: e.id,
      account_id: e.account_id,
      kind: e.kind,
      amount_ore: e.amount_ore,
      balance_after_ore: balance,
      place_kind: e.place_kind ?? null,
      voids_entry_id: e.voids_entry_id ?? null,
      reason: e.reason ?? null,
      origin: e.origin,
      created_at: e.created_at,
    });
    (e.lines ?? []).forEach((l, i) => {
      this.stmt.insertLine.run({ entry_id: e.id, line_no: i + 1, ...l });
    });
    this.stmt.setBalance.run(balance, e.account_id);
  }

  /** Books a tap's sale (call inside the tap's transaction); returns its entry id and the new balance. */
  purchase(p: Purchase): { entry_id: string; balance_ore: number } {
    const entryId = uuidv7();
    const balance = p.balance_ore - p.total_ore;
    this.stmt.insertPurchase.run(
      entryId,
      p.account_id,
      -p.total_ore,
      balance,
      p.tap_id,
      p.till_id,
      p.place_kind,
      this.escrow ? JSON.stringify(p.budgets) : null,
      p.created_at,
    );
    for (let i = 0; i < p.lines.length; i++) {
      const l = p.lines[i] as SaleLine;
      this.stmt.insertSaleLine.run(entryId, i + 1, l.product_id, l.name, l.quantity, l.unit_price_ore);
    }
    this.escrow?.recordSale({
      id: entryId,
      account_id: p.account_id,
      kind: 'purchase',
      amount_ore: -p.total_ore,
      place_kind: p.place_kind,
      budgets: p.budgets,
      tap_id: p.tap_id,
      lines: p.lines,
      created_at: p.created_at,
      ...(p.card ? { card: p.card } : {}),
    });
    this.stmt.setBalance.run(balance, p.account_id);
    return { entry_id: entryId, balance_ore: balance };
  }

  /**
   * Voids a sale made at this till today: a compensating entry gives the money back (the sale's
   * entry is never touched). A sale is voided at most once.
   */
  voidSale(v: { till_id: string; entry_id: string; reason: string; staff_id: string | null }): Voided {
    return writeTransaction(this.d.db, () => {
      const sale = this.d.db
        .prepare<
          [string, string],
          {
            id: string;
            account_id: string;
            amount_ore: number;
            place_kind: PlaceKind | null;
            budgets: string | null;
            created_at: string;
          }
        >(
          "SELECT id, account_id, amount_ore, place_kind, budgets, created_at FROM entries WHERE id = ? AND till_id = ? AND kind = 'purchase' AND origin IS NULL",
        )
        .get(v.entry_id, v.till_id);
      if (!sale) throw new KantineError('sale_not_found', `no sale ${v.entry_id} at till ${v.till_id}`);
      const voided = this.d.db.prepare('SELECT 1 FROM entries WHERE voids_entry_id = ?').get(sale.id);
      if (voided) throw new KantineError('sale_already_voided');
      const now = this.d.clock.now();
      if (localDate(new Date(sale.created_at)) !== localDate(now)) throw new KantineError('void_too_late');
      const account = this.stmt.getAccount.get(sale.account_id);
      if (!account) throw new Error(`entry ${sale.id} names a missing account`); // foreign key: cannot happen
      const id = uuidv7();
      const amount = -sale.amount_ore;
      const balance = account.balance_ore + amount;
      this.stmt.insertEntry.run({
        id,
        account_id: account.id,
        kind: 'void',
        amount_ore: amount,
        balance_after_ore: balance,
        tap_id: null,
        till_id: v.till_id,
        place_kind: sale.place_kind,
        voids_entry_id: sale.id,
        reason: v.reason,
        staff_id: v.staff_id,
        origin: null,
        budgets: sale.budgets,
        created_at: now.toISOString(),
      });
      this.stmt.setBalance.run(balance, account.id);
      // The void gives the sale's shares back to this site, and goes to central like the sale.
      if (this.escrow && sale.budgets && sale.place_kind) {
        this.escrow.recordSale({
          id,
          account_id: account.id,
          kind: 'void',
          amount_ore: amount,
          place_kind: sale.place_kind,
          budgets: JSON.parse(sale.budgets) as string[],
          voids_entry_id: sale.id,
          reason: v.reason,
          created_at: now.toISOString(),
        });
      }
      return { entry_id: id, account_id: account.id, amount_ore: amount, balance_ore: balance };
    });
  }

  /** The till's last sale that can still be voided (today's, not voided), for the kiosk's void button. */
  lastSale(tillId: string): { entry_id: string; amount_ore: number; first_name: string; at: string } | undefined {
    const bounds = dayBounds(localDate(this.d.clock.now())) as { from: string; to: string };
    return this.d.db
      .prepare<[string, string], { entry_id: string; amount_ore: number; first_name: string; at: string }>(
        `SELECT e.id AS entry_id, -e.amount_ore AS amount_ore, a.first_name, e.created_at AS at
         FROM entries e JOIN accounts a ON a.id = e.account_id
         WHERE e.till_id = ? AND e.kind = 'purchase' AND e.created_at >= ?
           AND NOT EXISTS (SELECT 1 FROM entries v WHERE v.voids_entry_id = e.id)
         ORDER BY e.seq DESC LIMIT 1`,
      )
      .get(tillId, bounds.from);
  }
}
