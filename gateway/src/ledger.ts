import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Decision, KantineError, type SaleLine, type Tap, type TapCancel } from '@kantine/protocol';
import Database from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { type AccountRow, authorize, type BasketRow, type BatchRow, type CardRow } from './authorizer.ts';
import type { Clock } from './clock.ts';
import { migrations } from './ledger-schema.ts';

export interface Place {
  id: string;
  name: string;
  kind: 'school' | 'club';
}
export interface Till {
  id: string;
  place_id: string;
  name: string;
}
export interface Product {
  id: string;
  place_id: string | null;
  name: string;
  category: string;
  price_ore: number;
}
export interface ReaderRow {
  id: string;
  till_id: string | null;
  secret_hash: string;
  revoked_at: string | null;
}
export interface Basket {
  till_id: string;
  basket_id: string;
  lines: SaleLine[];
  total_ore: number;
  standing: boolean;
  created_at: string;
}
export interface BasketRequestLine {
  product_id: string;
  quantity: number;
}

/** The result of deciding a tap: `replay` when it is a stored decision for a repeated tap id. */
export interface Decided {
  decision: Decision;
  replay: boolean;
}

// A basket is what one child buys at a counter; more lines than this is a mistake at the till.
export const MAX_BASKET_LINES = 50;

/**
 * The gateway's ledger on SQLite. Durable before answered: WAL with `synchronous=FULL`, so a
 * committed transaction survives a power cut; callers group many taps into one transaction.
 */
export class Ledger {
  readonly db: Database.Database;
  private readonly stmt;
  /** The site setting for UID-only cards (gateway config `cards.allow_legacy`). */
  allowLegacyCards = true;

  constructor(
    path: string,
    private readonly clock: Clock,
  ) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    const db = this.db;
    this.stmt = {
      getTap: db.prepare<[string], { decision: string }>('SELECT decision FROM taps WHERE tap_id = ?'),
      insertTap: db.prepare(
        `INSERT INTO taps (tap_id, reader_id, till_id, card_uid, outcome, code, decision, decided_at)
         VALUES (@tap_id, @reader_id, @till_id, @card_uid, @outcome, @code, @decision, @decided_at)`,
      ),
      getCard: db.prepare<[string], CardRow>(
        'SELECT uid, account_id, state, kind, batch_id, sun_counter FROM cards WHERE uid = ?',
      ),
      getBatch: db.prepare<[string], BatchRow>('SELECT id, sdm_master FROM card_batches WHERE id = ?'),
      setSunCounter: db.prepare<[number, string]>('UPDATE cards SET sun_counter = ? WHERE uid = ?'),
      getAccount: db.prepare<[string], AccountRow>('SELECT id, first_name, balance_ore FROM accounts WHERE id = ?'),
      getBasket: db.prepare<[string], BasketRow & { created_at: string }>('SELECT * FROM baskets WHERE till_id = ?'),
      deleteBasket: db.prepare<[string]>('DELETE FROM baskets WHERE till_id = ?'),
      upsertBasket: db.prepare(
        `INSERT INTO baskets (till_id, basket_id, lines, total_ore, standing, created_at)
         VALUES (@till_id, @basket_id, @lines, @total_ore, @standing, @created_at)
         ON CONFLICT (till_id) DO UPDATE SET basket_id = excluded.basket_id, lines = excluded.lines,
           total_ore = excluded.total_ore, standing = excluded.standing, created_at = excluded.created_at`,
      ),
      insertEntry: db.prepare(
        `INSERT INTO entries (id, account_id, kind, amount_ore, balance_after_ore, tap_id, till_id, created_at)
         VALUES (@id, @account_id, @kind, @amount_ore, @balance_after_ore, @tap_id, @till_id, @created_at)`,
      ),
      insertLine: db.prepare(
        `INSERT INTO entry_lines (entry_id, line_no, product_id, name, quantity, unit_price_ore)
         VALUES (@entry_id, @line_no, @product_id, @name, @quantity, @unit_price_ore)`,
      ),
      setBalance: db.prepare<[number, string]>('UPDATE accounts SET balance_ore = ? WHERE id = ?'),
      getProduct: db.prepare<[string], Product & { active: number }>('SELECT * FROM products WHERE id = ?'),
      getTill: db.prepare<[string], Till>('SELECT * FROM tills WHERE id = ?'),
    };
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < migrations.length; v++) {
      this.db.transaction(() => {
        this.db.exec(migrations[v] as string);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  close(): void {
    this.db.close();
  }

  /** Runs `fn` in one write transaction (BEGIN IMMEDIATE): one commit, one fsync. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  private now(): string {
    return this.clock.now().toISOString();
  }

  // ── The site: places, tills, readers, products ───────────────────────────────────────────────

  upsertPlace(p: Place): void {
    this.db
      .prepare(
        'INSERT INTO places (id, name, kind) VALUES (@id, @name, @kind) ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind',
      )
      .run(p);
  }

  upsertTill(t: Till): void {
    this.db
      .prepare(
        'INSERT INTO tills (id, place_id, name) VALUES (@id, @place_id, @name) ON CONFLICT (id) DO UPDATE SET place_id = excluded.place_id, name = excluded.name',
      )
      .run(t);
  }

  upsertProduct(p: Product): void {
    this.db
      .prepare(
        `INSERT INTO products (id, place_id, name, category, price_ore) VALUES (@id, @place_id, @name, @category, @price_ore)
         ON CONFLICT (id) DO UPDATE SET place_id = excluded.place_id, name = excluded.name, category = excluded.category, price_ore = excluded.price_ore`,
      )
      .run(p);
  }

  upsertReader(r: { id: string; till_id: string | null; secret_hash: string }): void {
    this.db
      .prepare(
        `INSERT INTO readers (id, till_id, secret_hash, created_at) VALUES (@id, @till_id, @secret_hash, @created_at)
         ON CONFLICT (id) DO UPDATE SET till_id = excluded.till_id, secret_hash = excluded.secret_hash, revoked_at = NULL`,
      )
      .run({ ...r, created_at: this.now() });
  }

  listReaders(): ReaderRow[] {
    return this.db.prepare<[], ReaderRow>('SELECT id, till_id, secret_hash, revoked_at FROM readers ORDER BY id').all();
  }

  getTill(id: string): Till | undefined {
    return this.stmt.getTill.get(id);
  }

  getPlace(id: string): Place | undefined {
    return this.db.prepare<[string], Place>('SELECT * FROM places WHERE id = ?').get(id);
  }

  listPlaces(): Place[] {
    return this.db.prepare<[], Place>('SELECT * FROM places ORDER BY id').all();
  }

  listTills(): Till[] {
    return this.db.prepare<[], Till>('SELECT * FROM tills ORDER BY id').all();
  }

  listProducts(): Product[] {
    return this.db
      .prepare<[], Product>(
        'SELECT id, place_id, name, category, price_ore FROM products WHERE active = 1 ORDER BY category, name',
      )
      .all();
  }

  // ── Accounts and cards (owned by central later; seeded here for this slice) ───────────────────

  createAccount(a: { id: string; first_name: string; last_name?: string }): void {
    this.db
      .prepare('INSERT INTO accounts (id, first_name, last_name, created_at) VALUES (?, ?, ?, ?)')
      .run(a.id, a.first_name, a.last_name ?? '', this.now());
  }

  /**
   * Registers a card. A kantine card (`ntag424`) names its batch, whose SDM master key must be
   * known here first (`putBatch`); re-registering keeps its SUN counter.
   */
  putCard(c: {
    uid: string;
    account_id: string | null;
    state: CardRow['state'];
    kind?: CardRow['kind'];
    batch_id?: string | null;
    label?: string;
  }): void {
    const kind = c.kind ?? 'legacy';
    if (kind === 'ntag424' && !c.batch_id)
      throw new KantineError('invalid_request', 'an NTAG 424 DNA card names its batch');
    this.db
      .prepare(
        `INSERT INTO cards (uid, account_id, state, kind, batch_id, label)
         VALUES (@uid, @account_id, @state, @kind, @batch_id, @label)
         ON CONFLICT (uid) DO UPDATE SET account_id = excluded.account_id, state = excluded.state,
           kind = excluded.kind, batch_id = excluded.batch_id, label = excluded.label`,
      )
      .run({ label: null, ...c, kind, batch_id: kind === 'ntag424' ? c.batch_id : null });
  }

  getCard(uid: string): CardRow | undefined {
    return this.stmt.getCard.get(uid);
  }

  /** Makes a batch of kantine cards known: its SDM master key verifies every card's taps. */
  putBatch(b: { id: string; sdm_master: Uint8Array }): void {
    if (b.sdm_master.length !== 16) throw new KantineError('invalid_request', 'an SDM master key is 16 bytes');
    this.db
      .prepare(
        `INSERT INTO card_batches (id, sdm_master, created_at) VALUES (?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET sdm_master = excluded.sdm_master`,
      )
      .run(b.id, Buffer.from(b.sdm_master), this.now());
  }

  getAccount(id: string): AccountRow | undefined {
    return this.stmt.getAccount.get(id);
  }

  /** A deposit is an entry like any other: the balance only ever moves through entries. */
  deposit(d: { id?: string; account_id: string; amount_ore: number }): string {
    if (!Number.isSafeInteger(d.amount_ore) || d.amount_ore <= 0) {
      throw new KantineError('invalid_request', 'a deposit is a positive whole number of øre');
    }
    const id = d.id ?? uuidv7();
    this.transaction(() => {
      const account = this.stmt.getAccount.get(d.account_id);
      if (!account) throw new KantineError('not_found', `no account ${d.account_id}`);
      const balance = account.balance_ore + d.amount_ore;
      this.stmt.insertEntry.run({
        id,
        account_id: account.id,
        kind: 'deposit',
        amount_ore: d.amount_ore,
        balance_after_ore: balance,
        tap_id: null,
        till_id: null,
        created_at: this.now(),
      });
      this.stmt.setBalance.run(balance, account.id);
    });
    return id;
  }

  // ── Baskets ──────────────────────────────────────────────────────────────────────────────────

  /** Puts a basket on a till, replacing any basket there. Prices come from the catalogue. */
  setBasket(tillId: string, request: readonly BasketRequestLine[], standing = false): Basket {
    if (!this.stmt.getTill.get(tillId)) throw new KantineError('unknown_till', `no till ${tillId}`);
    if (request.length === 0) throw new KantineError('basket_empty');
    if (request.length > MAX_BASKET_LINES) {
      throw new KantineError('basket_too_large', `a basket holds at most ${MAX_BASKET_LINES} lines`);
    }
    const lines: SaleLine[] = request.map((l) => {
      const p = this.stmt.getProduct.get(l.product_id);
      if (p?.active !== 1) throw new KantineError('unknown_product', `no product ${l.product_id}`);
      return { product_id: p.id, name: p.name, quantity: l.quantity, unit_price_ore: p.price_ore };
    });
    const total = lines.reduce((sum, l) => sum + l.quantity * l.unit_price_ore, 0);
    if (total <= 0) throw new KantineError('basket_empty', 'the basket costs nothing');
    const basket: Basket = {
      till_id: tillId,
      basket_id: uuidv7(),
      lines,
      total_ore: total,
      standing,
      created_at: this.now(),
    };
    this.stmt.upsertBasket.run({ ...basket, lines: JSON.stringify(lines), standing: standing ? 1 : 0 });
    return basket;
  }

  getBasket(tillId: string): Basket | undefined {
    const row = this.stmt.getBasket.get(tillId);
    if (!row) return undefined;
    return { ...row, lines: JSON.parse(row.lines) as SaleLine[], standing: row.standing === 1 };
  }

  clearBasket(tillId: string): boolean {
    return this.stmt.deleteBasket.run(tillId).changes > 0;
  }

  // ── Taps ─────────────────────────────────────────────────────────────────────────────────────

  storedDecision(tapId: string): Decision | undefined {
    const row = this.stmt.getTap.get(tapId);
    return row ? (JSON.parse(row.decision) as Decision) : undefined;
  }

  /**
   * Decides one tap. Call inside `transaction()`; the decision may be published only after
   * that transaction has committed. A tap id seen before gets its stored decision.
   */
  decideTap(tap: Tap, tillId: string): Decided {
    const stored = this.storedDecision(tap.tap_id);
    if (stored) return { decision: stored, replay: true };

    const decided_at = this.now();
    const read = tap.card;
    const card = this.stmt.getCard.get(read.uid);
    const batch = read.kind === 'ntag424' ? this.stmt.getBatch.get(read.batch) : undefined;
    const account = card?.account_id ? this.stmt.getAccount.get(card.account_id) : undefined;
    const basketRow = this.stmt.getBasket.get(tillId);
    const verdict = authorize({
      read,
      card,
      batch,
      account,
      basket: basketRow,
      settings: { allowLegacy: this.allowLegacyCards },
    });
    // A genuine SUN message is used up whatever the outcome: the same message never passes twice.
    if (verdict.sunCounter !== undefined) this.stmt.setSunCounter.run(verdict.sunCounter, read.uid);
    const base = {
      v: 1 as const,
      tap_id: tap.tap_id,
      reader_id: tap.reader_id,
      till_id: tillId,
      ...(card ? { card_kind: read.kind } : {}),
      decided_at,
    };

    let decision: Decision;
    switch (verdict.outcome) {
      case 'declined':
        decision = {
          ...base,
          outcome: 'declined',
          code: verdict.code,
          ...(verdict.basket ? { amount_ore: verdict.basket.total_ore } : {}),
          ...(verdict.account
            ? { first_name: verdict.account.first_name, balance_ore: verdict.account.balance_ore }
            : {}),
        };
        break;
      case 'balance':
        decision = {
          ...base,
          outcome: 'balance',
          first_name: verdict.account.first_name,
          balance_ore: verdict.account.balance_ore,
        };
        break;
      case 'approved': {
        const { account: acc, basket } = verdict;
        const lines = JSON.parse(basket.lines) as SaleLine[];
        const entryId = uuidv7();
        const balance = acc.balance_ore - basket.total_ore;
        this.stmt.insertEntry.run({
          id: entryId,
          account_id: acc.id,
          kind: 'purchase',
          amount_ore: -basket.total_ore,
          balance_after_ore: balance,
          tap_id: tap.tap_id,
          till_id: tillId,
          created_at: decided_at,
        });
        lines.forEach((l, i) => {
          this.stmt.insertLine.run({ entry_id: entryId, line_no: i + 1, ...l });
        });
        this.stmt.setBalance.run(balance, acc.id);
        if (basket.standing === 0) this.stmt.deleteBasket.run(tillId);
        decision = {
          ...base,
          outcome: 'approved',
          amount_ore: basket.total_ore,
          balance_ore: balance,
          first_name: acc.first_name,
          lines,
          entry_id: entryId,
        };
        break;
      }
    }
    this.stmt.insertTap.run({
      tap_id: tap.tap_id,
      reader_id: tap.reader_id,
      till_id: tillId,
      card_uid: tap.card.uid,
      outcome: decision.outcome,
      code: decision.code ?? null,
      decision: JSON.stringify(decision),
      decided_at,
    });
    return { decision, replay: false };
  }

  /**
   * A reader gave up on a tap. Undecided, it is stored as declined (`tap_cancelled`) so a late
   * copy can never be charged; decided, the stored decision stands. Call inside `transaction()`.
   */
  cancelTap(cancel: TapCancel, tillId: string | null): Decided {
    const stored = this.storedDecision(cancel.tap_id);
    if (stored) return { decision: stored, replay: true };
    const decided_at = this.now();
    const decision: Decision = {
      v: 1,
      tap_id: cancel.tap_id,
      reader_id: cancel.reader_id,
      ...(tillId ? { till_id: tillId } : {}),
      outcome: 'declined',
      code: 'tap_cancelled',
      decided_at,
    };
    this.stmt.insertTap.run({
      tap_id: cancel.tap_id,
      reader_id: cancel.reader_id,
      till_id: tillId,
      card_uid: null,
      outcome: 'declined',
      code: 'tap_cancelled',
      decision: JSON.stringify(decision),
      decided_at,
    });
    return { decision, replay: false };
  }

  recentDecisions(limit: number): Decision[] {
    return this.db
      .prepare<[number], { decision: string }>(
        'SELECT decision FROM taps ORDER BY decided_at DESC, tap_id DESC LIMIT ?',
      )
      .all(Math.min(Math.max(limit, 1), 500))
      .map((r) => JSON.parse(r.decision) as Decision);
  }

  /** Re-derives every balance from the entries; returns the accounts where they disagree. */
  verify(): { account_id: string; balance_ore: number; entries_sum_ore: number }[] {
    return this.db
      .prepare<[], { account_id: string; balance_ore: number; entries_sum_ore: number }>(
        `SELECT a.id AS account_id, a.balance_ore, COALESCE(SUM(e.amount_ore), 0) AS entries_sum_ore
         FROM accounts a LEFT JOIN entries e ON e.account_id = a.id
         GROUP BY a.id HAVING a.balance_ore <> COALESCE(SUM(e.amount_ore), 0)`,
      )
      .all();
  }
}
