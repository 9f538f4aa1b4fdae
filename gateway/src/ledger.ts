import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  type CentralEntry,
  type Decision,
  type DeclineCode,
  KantineError,
  type LinkAccount,
  type SaleLine,
  type Tap,
  type TapCancel,
} from '@kantine/protocol';
import Database from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import {
  type AccountFacts,
  authorize,
  type BasketFacts,
  type BasketLine,
  type BatchRow,
  type CardRow,
  type LimitFacts,
  type PlaceKind,
} from './authorizer.ts';
import type { Clock } from './clock.ts';
import { migrations } from './ledger-schema.ts';
import { type BudgetNeed, Replica } from './replica.ts';
import { dayBounds, localDate, PERIODS, type Period, periodStarts } from './spend-limits.ts';
import { type StatementLine, type StatementRow, statementLine } from './statement.ts';
import { buildTillReport, type ReportRows, type TillReport } from './till-report.ts';

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
  /** The place that sells it; null: every place of the site. */
  place_id: string | null;
  name: string;
  category: string;
  price_ore: number;
  /** Allergen codes (e.g. `gluten`, `maelk`, `noedder`); a child's allergies use the same codes. */
  allergens?: string[];
}
export interface AccountInput {
  id: string;
  first_name: string;
  last_name?: string;
  place_kinds?: PlaceKind[];
  denied_categories?: string[];
  allergies?: string[];
  photo?: string | null;
  auto_topup_ore?: number | null;
}
export interface SpendLimit {
  place_kind: PlaceKind;
  period: Period;
  limit_ore: number;
}
export interface ReaderRow {
  id: string;
  till_id: string | null;
  secret_hash: string;
  revoked_at: string | null;
}
export interface Basket extends BasketFacts {
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
  /** The account the card belongs to (a fresh decision with a known card only): for the kiosk. */
  account_id?: string;
  /** allergen_check: the child's allergens found in the basket. */
  allergens?: string[];
}

/** A purchase that leaves less than this triggers the account's automatic top-up (the seeds' 50 kr). */
/** How a tap on a linked site may use central: ask for more shares, or decide with what it has. */
export interface EscrowTurn {
  mayAsk: boolean;
  /** Central refused the shares: decline with this code (what the account lacks). */
  refused?: DeclineCode;
}

/** A sale this site's shares cannot cover: what it lacks, to ask central for. */
export interface ShareNeeds {
  needs: BudgetNeed[];
  account_id: string;
}

export const AUTO_TOPUP_BELOW_ORE = 50_00;

interface AccountDbRow {
  id: string;
  first_name: string;
  balance_ore: number;
  place_kinds: string;
  denied_categories: string;
  allergies: string;
  auto_topup_ore: number | null;
}
interface BasketDbRow {
  till_id: string;
  basket_id: string;
  lines: string;
  total_ore: number;
  standing: 0 | 1;
  allergens_confirmed_for: string | null;
  created_at: string;
}

export interface AccountCard {
  id: string;
  first_name: string;
  last_name: string;
  /** A URL the kiosk can show (a data: URL for an uploaded picture), or null. */
  photo: string | null;
  balance_ore: number;
}

export interface Preorder {
  id: string;
  account_id: string;
  place_id: string;
  lines: SaleLine[];
  total_ore: number;
  for_date: string;
  state: 'paid' | 'handed_out';
  handed_out_at: string | null;
  handed_out_by: string | null;
}
type PreorderRow = Omit<Preorder, 'lines'> & { lines: string };
function preorderOf(row: PreorderRow): Preorder {
  return { ...row, lines: JSON.parse(row.lines) as SaleLine[] };
}

export interface TopupRequest {
  id: string;
  account_id: string;
  /** The purchase that left the balance under the threshold. */
  entry_id: string;
  amount_ore: number;
  state: 'pending' | 'deposited' | 'failed';
  reason: string | null;
  deposit_entry_id: string | null;
  created_at: string;
}

function accountFacts(row: AccountDbRow): AccountFacts {
  return {
    ...row,
    place_kinds: JSON.parse(row.place_kinds) as PlaceKind[],
    denied_categories: JSON.parse(row.denied_categories) as string[],
    allergies: JSON.parse(row.allergies) as string[],
  };
}

function basketOf(row: BasketDbRow): Basket {
  return { ...row, lines: JSON.parse(row.lines) as BasketLine[], standing: row.standing === 1 };
}

/** The sale line as the receipt and the decision show it (without the rules' extras). */
function saleLine(l: BasketLine): SaleLine {
  return { product_id: l.product_id, name: l.name, quantity: l.quantity, unit_price_ore: l.unit_price_ore };
}

// A basket is what one child buys at a counter; more lines than this is a mistake at the till.
export const MAX_BASKET_LINES = 50;

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

/**
 * The gateway's ledger on SQLite. Durable before answered: WAL with `synchronous=FULL`, so a
 * committed transaction survives a power cut; callers group many taps into one transaction.
 */
export class Ledger {
  readonly db: Database.Database;
  private readonly stmt;
  /** The site setting for UID-only cards (gateway config `cards.allow_legacy`). */
  allowLegacyCards = true;
  private readonly placeKinds = new Map<string, PlaceKind>();
  /** The link's state and this site's escrow shares: set on a site linked to central. */
  replica: Replica | undefined;

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
      getAccount: db.prepare<[string], AccountDbRow>(
        'SELECT id, first_name, balance_ore, place_kinds, denied_categories, allergies, auto_topup_ore FROM accounts WHERE id = ?',
      ),
      getBasket: db.prepare<[string], BasketDbRow>('SELECT * FROM baskets WHERE till_id = ?'),
      getLimits: db.prepare<[string, string], { period: Period; limit_ore: number }>(
        'SELECT period, limit_ore FROM spend_limits WHERE account_id = ? AND place_kind = ?',
      ),
      // What an account spent at one kind of place since each period began; a voided sale
      // does not count.
      getSpent: db.prepare<
        { account_id: string; place_kind: string; day: string; week: string; month: string; earliest: string },
        { day: number; week: number; month: number }
      >(
        `SELECT COALESCE(SUM(CASE WHEN created_at >= @day THEN -amount_ore END), 0) AS day,
                COALESCE(SUM(CASE WHEN created_at >= @week THEN -amount_ore END), 0) AS week,
                COALESCE(SUM(CASE WHEN created_at >= @month THEN -amount_ore END), 0) AS month
         FROM entries e
         WHERE account_id = @account_id AND place_kind = @place_kind AND kind = 'purchase'
           AND created_at >= @earliest
           AND NOT EXISTS (SELECT 1 FROM entries v WHERE v.voids_entry_id = e.id)`,
      ),
      getTillPlaceKind: db.prepare<[string], { kind: PlaceKind }>(
        'SELECT p.kind FROM tills t JOIN places p ON p.id = t.place_id WHERE t.id = ?',
      ),
      insertTopup: db.prepare(
        `INSERT INTO topup_requests (id, account_id, entry_id, amount_ore, state, created_at)
         SELECT @id, @account_id, @entry_id, @amount_ore, 'pending', @created_at
         WHERE NOT EXISTS (SELECT 1 FROM topup_requests WHERE account_id = @account_id AND state = 'pending')`,
      ),
      deleteBasket: db.prepare<[string]>('DELETE FROM baskets WHERE till_id = ?'),
      upsertBasket: db.prepare(
        `INSERT INTO baskets (till_id, basket_id, lines, total_ore, standing, allergens_confirmed_for, created_at)
         VALUES (@till_id, @basket_id, @lines, @total_ore, @standing, NULL, @created_at)
         ON CONFLICT (till_id) DO UPDATE SET basket_id = excluded.basket_id, lines = excluded.lines,
           total_ore = excluded.total_ore, standing = excluded.standing,
           allergens_confirmed_for = NULL, created_at = excluded.created_at`,
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
      getProduct: db.prepare<[string], Omit<Product, 'allergens'> & { active: number; allergens: string }>(
        'SELECT * FROM products WHERE id = ?',
      ),
      getTill: db.prepare<[string], Till>('SELECT * FROM tills WHERE id = ?'),
    };
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > migrations.length) {
      throw new KantineError(
        'config_invalid',
        `the ledger is at schema ${version}, newer than this gateway knows (${migrations.length}); run a newer gateway`,
      );
    }
    if (version === migrations.length) return;
    // SQLite's way to rebuild a table: foreign keys off (only possible outside a transaction),
    // each migration in its own transaction, and a foreign-key check before it commits.
    this.db.pragma('foreign_keys = OFF');
    try {
      for (let v = version; v < migrations.length; v++) {
        this.db.transaction(() => {
          this.db.exec(migrations[v] as string);
          const broken = this.db.pragma('foreign_key_check') as unknown[];
          if (broken.length > 0) throw new Error(`migration ${v + 1} breaks ${broken.length} foreign keys`);
          this.db.pragma(`user_version = ${v + 1}`);
        })();
      }
    } finally {
      this.db.pragma('foreign_keys = ON');
    }
  }

  close(): void {
    this.db.close();
  }

  /**
   * From now on this site sells only within its escrow shares, and writes every sale and void
   * to the outbox for central (docs/replication.md).
   */
  enableLink(): Replica {
    this.replica ??= new Replica(this.db, this);
    return this.replica;
  }

  /** An account as central sends it: the guardians' choices and the limits, replaced whole. */
  replaceAccount(a: LinkAccount): void {
    this.putAccount(a);
    this.db.prepare('DELETE FROM spend_limits WHERE account_id = ?').run(a.id);
    for (const l of a.limits) this.setSpendLimit(a.id, l);
  }

  /** An entry made elsewhere (central, or another site), booked once under its own id. */
  bookCentralEntry(e: CentralEntry): void {
    if (this.db.prepare('SELECT 1 FROM entries WHERE id = ?').get(e.id)) return;
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
    this.placeKinds.clear();
  }

  upsertTill(t: Till): void {
    this.db
      .prepare(
        'INSERT INTO tills (id, place_id, name) VALUES (@id, @place_id, @name) ON CONFLICT (id) DO UPDATE SET place_id = excluded.place_id, name = excluded.name',
      )
      .run(t);
    this.placeKinds.delete(t.id);
  }

  upsertProduct(p: Product): void {
    this.db
      .prepare(
        `INSERT INTO products (id, place_id, name, category, price_ore, allergens)
         VALUES (@id, @place_id, @name, @category, @price_ore, @allergens)
         ON CONFLICT (id) DO UPDATE SET place_id = excluded.place_id, name = excluded.name,
           category = excluded.category, price_ore = excluded.price_ore, allergens = excluded.allergens`,
      )
      .run({ ...p, allergens: JSON.stringify(p.allergens ?? []) });
  }

  upsertReader(r: { id: string; till_id: string | null; secret_hash: string }): void {
    this.db
      .prepare(
        `INSERT INTO readers (id, till_id, secret_hash, created_at) VALUES (@id, @till_id, @secret_hash, @created_at)
         ON CONFLICT (id) DO UPDATE SET till_id = excluded.till_id, secret_hash = excluded.secret_hash, revoked_at = NULL`,
      )
      .run({ ...r, created_at: this.now() });
  }

  /** Adds or updates a member of staff; the PIN arrives already hashed (`hashSecret`). */
  putStaff(s: { id: string; name: string; pin_hash: string }): void {
    this.db
      .prepare(
        `INSERT INTO staff (id, name, pin_hash, created_at) VALUES (@id, @name, @pin_hash, @created_at)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, pin_hash = excluded.pin_hash, active = 1`,
      )
      .run({ ...s, created_at: this.now() });
  }

  /** Stops a member of staff logging in (the row stays: voids and hand-outs name them). */
  removeStaff(id: string): boolean {
    return this.db.prepare('UPDATE staff SET active = 0 WHERE id = ?').run(id).changes > 0;
  }

  listStaff(): { id: string; name: string }[] {
    return this.db
      .prepare<[], { id: string; name: string }>('SELECT id, name FROM staff WHERE active = 1 ORDER BY name')
      .all();
  }

  getStaff(id: string): { id: string; name: string; pin_hash: string } | undefined {
    return this.db
      .prepare<[string], { id: string; name: string; pin_hash: string }>(
        'SELECT id, name, pin_hash FROM staff WHERE id = ? AND active = 1',
      )
      .get(id);
  }

  /** Adds (or re-keys, un-revoking) an integration; the secret arrives already hashed. */
  putIntegration(i: { id: string; name: string; secret_hash: string }): void {
    this.db
      .prepare(
        `INSERT INTO integrations (id, name, secret_hash, created_at) VALUES (@id, @name, @secret_hash, @created_at)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, secret_hash = excluded.secret_hash, revoked_at = NULL`,
      )
      .run({ ...i, created_at: this.now() });
  }

  revokeIntegration(id: string): boolean {
    return (
      this.db.prepare('UPDATE integrations SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(this.now(), id)
        .changes > 0
    );
  }

  /** The stored secret hash of an integration that may connect, or undefined (unknown or revoked). */
  integrationSecretHash(id: string): string | undefined {
    return this.db
      .prepare<[string], { secret_hash: string }>(
        'SELECT secret_hash FROM integrations WHERE id = ? AND revoked_at IS NULL',
      )
      .get(id)?.secret_hash;
  }

  listIntegrations(): { id: string; name: string; created_at: string; revoked_at: string | null }[] {
    return this.db
      .prepare<[], { id: string; name: string; created_at: string; revoked_at: string | null }>(
        'SELECT id, name, created_at, revoked_at FROM integrations ORDER BY id',
      )
      .all();
  }

  /** Stops a reader connecting (the row stays: taps name it). */
  revokeReader(id: string): boolean {
    return (
      this.db.prepare('UPDATE readers SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(this.now(), id)
        .changes > 0
    );
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

  /** The active catalogue; with a place, what that place sells (its own and the site-wide ones). */
  listProducts(placeId?: string): Product[] {
    return this.db
      .prepare<{ place: string | null }, Product & { allergens: string }>(
        `SELECT id, place_id, name, category, price_ore, allergens FROM products
         WHERE active = 1 AND (@place IS NULL OR place_id IS NULL OR place_id = @place) ORDER BY category, name`,
      )
      .all({ place: placeId ?? null })
      .map((p) => ({ ...p, allergens: JSON.parse(p.allergens) as string[] }));
  }

  // ── Accounts and cards (owned by central later; seeded here for this slice) ───────────────────

  /** Creates an account or updates its name and the guardians' choices (the balance moves only by entries). */
  putAccount(a: AccountInput): void {
    this.db
      .prepare(
        `INSERT INTO accounts (id, first_name, last_name, place_kinds, denied_categories, allergies, photo,
                               auto_topup_ore, created_at)
         VALUES (@id, @first_name, @last_name, @place_kinds, @denied_categories, @allergies, @photo,
                 @auto_topup_ore, @created_at)
         ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name, last_name = excluded.last_name,
           place_kinds = excluded.place_kinds, denied_categories = excluded.denied_categories,
           allergies = excluded.allergies, photo = excluded.photo, auto_topup_ore = excluded.auto_topup_ore`,
      )
      .run({
        id: a.id,
        first_name: a.first_name,
        last_name: a.last_name ?? '',
        place_kinds: JSON.stringify(a.place_kinds ?? ['school', 'club']),
        denied_categories: JSON.stringify(a.denied_categories ?? []),
        allergies: JSON.stringify(a.allergies ?? []),
        photo: a.photo ?? null,
        auto_topup_ore: a.auto_topup_ore ?? null,
        created_at: this.now(),
      });
  }

  /** Sets (or, with `limit_ore` null, removes) one spend limit of an account. */
  setSpendLimit(accountId: string, limit: Omit<SpendLimit, 'limit_ore'> & { limit_ore: number | null }): void {
    if (limit.limit_ore === null) {
      this.db
        .prepare('DELETE FROM spend_limits WHERE account_id = ? AND place_kind = ? AND period = ?')
        .run(accountId, limit.place_kind, limit.period);
      return;
    }
    this.db
      .prepare(
        `INSERT INTO spend_limits (account_id, place_kind, period, limit_ore) VALUES (?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET limit_ore = excluded.limit_ore`,
      )
      .run(accountId, limit.place_kind, limit.period, limit.limit_ore);
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

  getAccount(id: string): AccountFacts | undefined {
    const row = this.stmt.getAccount.get(id);
    return row ? accountFacts(row) : undefined;
  }

  /** What the kiosk shows of a child: name, photo, balance. */
  getAccountCard(id: string): AccountCard | undefined {
    return this.db
      .prepare<[string], AccountCard>('SELECT id, first_name, last_name, photo, balance_ore FROM accounts WHERE id = ?')
      .get(id);
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
        ...NO_TILL,
        created_at: this.now(),
      });
      this.stmt.setBalance.run(balance, account.id);
    });
    return id;
  }

  // ── Baskets ──────────────────────────────────────────────────────────────────────────────────

  /** Puts a basket on a till, replacing any basket there. Prices come from the catalogue. */
  setBasket(tillId: string, request: readonly BasketRequestLine[], standing = false): Basket {
    const till = this.stmt.getTill.get(tillId);
    if (!till) throw new KantineError('unknown_till', `no till ${tillId}`);
    if (request.length === 0) throw new KantineError('basket_empty');
    if (request.length > MAX_BASKET_LINES) {
      throw new KantineError('basket_too_large', `a basket holds at most ${MAX_BASKET_LINES} lines`);
    }
    const lines: BasketLine[] = request.map((l) => {
      if (!Number.isInteger(l.quantity) || l.quantity < 1 || l.quantity > 99) {
        throw new KantineError('invalid_request', `a quantity is a whole number from 1 to 99 (${l.product_id})`);
      }
      const p = this.stmt.getProduct.get(l.product_id);
      // A product of another place is not on this till's menu.
      if (p?.active !== 1 || (p.place_id !== null && p.place_id !== till.place_id)) {
        throw new KantineError('unknown_product', `no product ${l.product_id} at this till`);
      }
      return {
        product_id: p.id,
        name: p.name,
        quantity: l.quantity,
        unit_price_ore: p.price_ore,
        category: p.category,
        allergens: JSON.parse(p.allergens) as string[],
      };
    });
    const total = lines.reduce((sum, l) => sum + l.quantity * l.unit_price_ore, 0);
    if (total <= 0) throw new KantineError('basket_empty', 'the basket costs nothing');
    const basket: Basket = {
      till_id: tillId,
      basket_id: uuidv7(),
      lines,
      total_ore: total,
      standing,
      allergens_confirmed_for: null,
      created_at: this.now(),
    };
    this.stmt.upsertBasket.run({ ...basket, lines: JSON.stringify(lines), standing: standing ? 1 : 0 });
    return basket;
  }

  getBasket(tillId: string): Basket | undefined {
    const row = this.stmt.getBasket.get(tillId);
    return row ? basketOf(row) : undefined;
  }

  /**
   * Staff saw that the basket holds an allergen of this child's and confirmed it anyway: the
   * child's next tap pays. Only for the basket shown (`basketId`); a changed basket asks again.
   */
  confirmAllergens(tillId: string, basketId: string, accountId: string): boolean {
    return (
      this.db
        .prepare('UPDATE baskets SET allergens_confirmed_for = ? WHERE till_id = ? AND basket_id = ?')
        .run(accountId, tillId, basketId).changes > 0
    );
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
    const d = this.tryTap(tap, tillId, { mayAsk: false });
    if ('needs' in d) throw new Error('a tap that may not ask came back asking'); // tryTap's contract
    return d;
  }

  /**
   * Decides one tap, as `decideTap`; on a linked site a sale this site's escrow shares cannot
   * cover comes back as `needs` (nothing written) when `turn.mayAsk`, for the caller to ask
   * central and try again, and is declined otherwise (`turn.refused`, or offline).
   */
  tryTap(tap: Tap, tillId: string, turn: EscrowTurn): Decided | ShareNeeds {
    const stored = this.storedDecision(tap.tap_id);
    if (stored) return { decision: stored, replay: true };

    const decided_at = this.now();
    const read = tap.card;
    const card = this.stmt.getCard.get(read.uid);
    const batch = read.kind === 'ntag424' ? this.stmt.getBatch.get(read.batch) : undefined;
    const accountRow = card?.account_id ? this.stmt.getAccount.get(card.account_id) : undefined;
    const account = accountRow ? accountFacts(accountRow) : undefined;
    const basketRow = this.stmt.getBasket.get(tillId);
    const basket = basketRow ? basketOf(basketRow) : undefined;
    const placeKind = this.placeKindOf(tillId);
    const limits = account && basket ? this.limitsAt(account.id, placeKind) : [];
    let verdict = authorize({
      read,
      card,
      batch,
      account,
      basket,
      placeKind,
      limits,
      settings: { allowLegacy: this.allowLegacyCards },
    });
    // Escrow: a linked site sells only from its own shares of the balance and of each limit.
    let budgets: string[] = [];
    if (this.replica && verdict.outcome === 'approved') {
      budgets = this.replica.budgetsFor(placeKind, limits, this.clock.now());
      const needs = this.replica.shortfall(verdict.account.id, budgets, verdict.basket.total_ore);
      if (needs.length > 0) {
        if (turn.mayAsk) return { needs, account_id: verdict.account.id };
        verdict = {
          outcome: 'declined',
          code: turn.refused ?? 'share_exhausted_offline',
          account: verdict.account,
          basket: verdict.basket,
          ...(verdict.sunCounter === undefined ? {} : { sunCounter: verdict.sunCounter }),
        };
      }
    }
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
          ...(verdict.limit ? { limit_ore: verdict.limit.limit_ore, spent_ore: verdict.limit.spent_ore } : {}),
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
        const lines = basket.lines.map(saleLine);
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
          place_kind: placeKind,
          voids_entry_id: null,
          reason: null,
          staff_id: null,
          origin: null,
          budgets: this.replica ? JSON.stringify(budgets) : null,
          created_at: decided_at,
        });
        lines.forEach((l, i) => {
          this.stmt.insertLine.run({ entry_id: entryId, line_no: i + 1, ...l });
        });
        this.replica?.recordSale({
          id: entryId,
          account_id: acc.id,
          kind: 'purchase',
          amount_ore: -basket.total_ore,
          place_kind: placeKind,
          budgets,
          tap_id: tap.tap_id,
          lines,
          created_at: decided_at,
        });
        this.stmt.setBalance.run(balance, acc.id);
        if (!basket.standing) this.stmt.deleteBasket.run(tillId);
        // Automatic top-up: asked of central, never waited for. At most one per purchase (the
        // purchase's entry is the request's key) and one open per account.
        if (balance < AUTO_TOPUP_BELOW_ORE && acc.auto_topup_ore !== null) {
          this.stmt.insertTopup.run({
            id: uuidv7(),
            account_id: acc.id,
            entry_id: entryId,
            amount_ore: acc.auto_topup_ore,
            created_at: decided_at,
          });
        }
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
    return {
      decision,
      replay: false,
      ...(account ? { account_id: account.id } : {}),
      ...(verdict.outcome === 'declined' && verdict.allergens ? { allergens: verdict.allergens } : {}),
    };
  }

  /** The kind of place a till stands at; kept in memory, as tills seldom move. */
  private placeKindOf(tillId: string): PlaceKind {
    let kind = this.placeKinds.get(tillId);
    if (!kind) {
      const row = this.stmt.getTillPlaceKind.get(tillId);
      if (!row) throw new Error(`till ${tillId} has no place`); // tills reference places: a broken row
      kind = row.kind;
      this.placeKinds.set(tillId, kind);
    }
    return kind;
  }

  /** The account's limits at a kind of place, each with what was spent in its period so far. */
  private limitsAt(accountId: string, placeKind: PlaceKind): LimitFacts[] {
    const limits = this.stmt.getLimits.all(accountId, placeKind);
    if (limits.length === 0) return [];
    const starts = periodStarts(this.clock.now());
    const spent = this.stmt.getSpent.get({ account_id: accountId, place_kind: placeKind, ...starts }) as Record<
      Period,
      number
    >;
    return PERIODS.flatMap((period) => {
      const l = limits.find((x) => x.period === period);
      return l ? [{ period, limit_ore: l.limit_ore, spent_ore: spent[period] }] : [];
    });
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

  // ── Voids, reports ───────────────────────────────────────────────────────────────────────────

  /**
   * Voids a sale made at this till today: a compensating entry gives the money back (the sale's
   * entry is never touched). A sale is voided at most once.
   */
  voidSale(v: { till_id: string; entry_id: string; reason: string; staff_id: string | null }): {
    entry_id: string;
    account_id: string;
    amount_ore: number;
    balance_ore: number;
  } {
    return this.transaction(() => {
      const sale = this.db
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
      const voided = this.db.prepare('SELECT 1 FROM entries WHERE voids_entry_id = ?').get(sale.id);
      if (voided) throw new KantineError('sale_already_voided');
      const now = this.clock.now();
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
      if (this.replica && sale.budgets && sale.place_kind) {
        this.replica.recordSale({
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
    const bounds = dayBounds(localDate(this.clock.now())) as { from: string; to: string };
    return this.db
      .prepare<[string, string], { entry_id: string; amount_ore: number; first_name: string; at: string }>(
        `SELECT e.id AS entry_id, -e.amount_ore AS amount_ore, a.first_name, e.created_at AS at
         FROM entries e JOIN accounts a ON a.id = e.account_id
         WHERE e.till_id = ? AND e.kind = 'purchase' AND e.created_at >= ?
           AND NOT EXISTS (SELECT 1 FROM entries v WHERE v.voids_entry_id = e.id)
         ORDER BY e.seq DESC LIMIT 1`,
      )
      .get(tillId, bounds.from);
  }

  /**
   * An account's statement (kontoudtog) for local dates [from, to], newest first: every deposit,
   * purchase (with its line items) and void, each with the balance after it.
   */
  statement(accountId: string, from: string, to: string): StatementLine[] {
    const start = dayBounds(from);
    const end = dayBounds(to);
    if (!start || !end) throw new KantineError('invalid_request', `not a date: ${start ? to : from}`);
    const lines = this.db.prepare<[string], { quantity: number; name: string; unit_price_ore: number }>(
      'SELECT quantity, name, unit_price_ore FROM entry_lines WHERE entry_id = ? ORDER BY line_no',
    );
    return this.db
      .prepare<[string, string, string], StatementRow>(
        `SELECT id, kind, amount_ore, balance_after_ore, reason, created_at FROM entries
         WHERE account_id = ? AND created_at >= ? AND created_at < ? ORDER BY seq DESC`,
      )
      .all(accountId, start.from, end.to)
      .map((row) => statementLine(row, row.kind === 'purchase' ? lines.all(row.id) : []));
  }

  /** The end-of-day report of one till for a local date (YYYY-MM-DD). */
  tillReport(tillId: string, date: string): TillReport {
    const bounds = dayBounds(date);
    if (!bounds) throw new KantineError('invalid_request', `not a date: ${date}`);
    type Args = [string, string, string];
    const args: Args = [tillId, bounds.from, bounds.to];
    const inDay = 'till_id = ? AND created_at >= ? AND created_at < ?';
    return buildTillReport(tillId, date, {
      lines: this.db
        .prepare<Args, { product_id: string; name: string; quantity: number; unit_price_ore: number }>(
          `SELECT l.product_id, l.name, l.quantity, l.unit_price_ore FROM entries e
           JOIN entry_lines l ON l.entry_id = e.id
           WHERE e.kind = 'purchase' AND e.till_id = ? AND e.created_at >= ? AND e.created_at < ?
           ORDER BY e.seq, l.line_no`,
        )
        .all(...args),
      sales: this.db
        .prepare<Args, { amount_ore: number }>(`SELECT amount_ore FROM entries WHERE kind = 'purchase' AND ${inDay}`)
        .all(...args),
      voids: this.db
        .prepare<Args, ReportRows['voids'][number]>(
          `SELECT id, voids_entry_id, amount_ore, reason, staff_id, created_at FROM entries
           WHERE kind = 'void' AND ${inDay} ORDER BY seq`,
        )
        .all(...args),
      declines: this.db
        .prepare<Args, { code: string; count: number }>(
          `SELECT code, COUNT(*) AS count FROM taps
           WHERE outcome = 'declined' AND till_id = ? AND decided_at >= ? AND decided_at < ?
           GROUP BY code ORDER BY count DESC, code`,
        )
        .all(...args),
    });
  }

  // ── Pre-orders (paid in the webshop, handed out at the place) ─────────────────────────────────

  putPreorder(o: { id: string; account_id: string; place_id: string; lines: SaleLine[]; for_date: string }): void {
    const total = o.lines.reduce((sum, l) => sum + l.quantity * l.unit_price_ore, 0);
    this.db
      .prepare(
        `INSERT INTO preorders (id, account_id, place_id, lines, total_ore, for_date, state)
         VALUES (?, ?, ?, ?, ?, ?, 'paid') ON CONFLICT (id) DO NOTHING`,
      )
      .run(o.id, o.account_id, o.place_id, JSON.stringify(o.lines), total, o.for_date);
  }

  /** The child's paid orders to hand out at this place today (and any left from earlier days). */
  openPreorders(accountId: string, placeId: string): Preorder[] {
    return this.db
      .prepare<[string, string, string], PreorderRow>(
        `SELECT * FROM preorders WHERE account_id = ? AND place_id = ? AND state = 'paid' AND for_date <= ?
         ORDER BY for_date, id`,
      )
      .all(accountId, placeId, localDate(this.clock.now()))
      .map(preorderOf);
  }

  /** Staff handed a pre-order out at a till of its place. */
  handOutPreorder(id: string, tillId: string, staffId: string | null): Preorder {
    return this.transaction(() => {
      const till = this.stmt.getTill.get(tillId);
      const row = this.db.prepare<[string], PreorderRow>('SELECT * FROM preorders WHERE id = ?').get(id);
      if (!row || !till || row.place_id !== till.place_id) throw new KantineError('preorder_not_found');
      if (row.state !== 'paid') throw new KantineError('preorder_handed_out');
      const at = this.now();
      this.db
        .prepare("UPDATE preorders SET state = 'handed_out', handed_out_at = ?, handed_out_by = ? WHERE id = ?")
        .run(at, staffId, id);
      return preorderOf({ ...row, state: 'handed_out', handed_out_at: at, handed_out_by: staffId });
    });
  }

  // ── Automatic top-up requests (for central) ───────────────────────────────────────────────────

  pendingTopups(): TopupRequest[] {
    return this.db
      .prepare<[], TopupRequest>(
        "SELECT id, account_id, entry_id, amount_ore, state, reason, deposit_entry_id, created_at FROM topup_requests WHERE state = 'pending' ORDER BY created_at",
      )
      .all();
  }

  /**
   * Central's answer to a top-up request: a deposit (applied once, under central's entry id) or
   * the reason it failed (expired or blocked payment card, no funds, blocked account). A repeated
   * answer changes nothing.
   */
  settleTopup(
    id: string,
    result: { outcome: 'deposited'; deposit_id: string } | { outcome: 'failed'; reason: string },
  ): TopupRequest {
    return this.transaction(() => {
      const get = () =>
        this.db
          .prepare<[string], TopupRequest>(
            'SELECT id, account_id, entry_id, amount_ore, state, reason, deposit_entry_id, created_at FROM topup_requests WHERE id = ?',
          )
          .get(id);
      const req = get();
      if (!req) throw new KantineError('topup_not_found', `no top-up request ${id}`);
      if (req.state !== 'pending') return req;
      if (result.outcome === 'deposited') {
        this.deposit({ id: result.deposit_id, account_id: req.account_id, amount_ore: req.amount_ore });
        this.db
          .prepare("UPDATE topup_requests SET state = 'deposited', deposit_entry_id = ?, settled_at = ? WHERE id = ?")
          .run(result.deposit_id, this.now(), id);
      } else {
        this.db
          .prepare("UPDATE topup_requests SET state = 'failed', reason = ?, settled_at = ? WHERE id = ?")
          .run(result.reason, this.now(), id);
      }
      return get() as TopupRequest;
    });
  }

  recentDecisions(tillId: string, limit: number): Decision[] {
    return this.db
      .prepare<[string, number], { decision: string }>(
        'SELECT decision FROM taps WHERE till_id = ? ORDER BY decided_at DESC, tap_id DESC LIMIT ?',
      )
      .all(tillId, Math.min(Math.max(limit, 1), 500))
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
