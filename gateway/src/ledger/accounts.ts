import { KantineError, type LinkAccount } from '@kantine/protocol';
import type { AccountFacts, BatchRow, CardRow, LimitFacts, PlaceKind } from '../taps/authorizer.ts';
import { type Db, nowIso, prepared } from './db.ts';
import { PERIODS, type Period, periodStarts } from './spend-limits.ts';

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
export interface AccountCard {
  id: string;
  first_name: string;
  last_name: string;
  /** A URL the kiosk can show (a data: URL for an uploaded picture), or null. */
  photo: string | null;
  balance_ore: number;
}
export interface CardInput {
  uid: string;
  account_id: string | null;
  state: CardRow['state'];
  kind?: CardRow['kind'];
  batch_id?: string | null;
  label?: string;
  /** The highest SUN counter another site accepted (from central): raises the card's, never lowers it. */
  sun_counter?: number;
}

export interface AccountDbRow {
  id: string;
  first_name: string;
  balance_ore: number;
  place_kinds: string;
  denied_categories: string;
  allergies: string;
  auto_topup_ore: number | null;
}

/**
 * The guardians' choices are stored as JSON text and read on every tap; the same few texts recur
 * (most children have `[]` and `["school","club"]`), so each text is parsed once and its frozen
 * array shared. Bounded: a site with more distinct texts than this parses again after a reset.
 */
const parsedChoices = new Map<string, readonly string[]>();
const PARSED_CHOICES_MAX = 4096;
function choices(text: string): readonly string[] {
  let list = parsedChoices.get(text);
  if (list === undefined) {
    if (parsedChoices.size >= PARSED_CHOICES_MAX) parsedChoices.clear();
    list = Object.freeze(JSON.parse(text) as string[]);
    parsedChoices.set(text, list);
  }
  return list;
}

type AccountRawRow = [string, string, number, string, string, string, number | null];

/** Accounts with the guardians' choices and spend limits, and the cards and card batches that pay from them. */
export class Accounts {
  private readonly stmt;
  /** Demo batches (`DEMO-…`, keys from public text) are taken only when the demo sets this. */
  allowDemoBatches = false;

  constructor(private readonly d: Db) {
    const { db } = d;
    this.stmt = {
      // The tap path's reads return plain arrays (no object built per row by the driver).
      getCard: db
        .prepare<[string], [string, string | null, CardRow['state'], CardRow['kind'], string | null, number]>(
          'SELECT uid, account_id, state, kind, batch_id, sun_counter FROM cards WHERE uid = ?',
        )
        .raw(),
      getBatch: db.prepare<[string], BatchRow>('SELECT id, sdm_master FROM card_batches WHERE id = ?'),
      setSunCounter: db.prepare<[number, string]>('UPDATE cards SET sun_counter = ? WHERE uid = ?'),
      getAccount: db
        .prepare<[string], AccountRawRow>(
          'SELECT id, first_name, balance_ore, place_kinds, denied_categories, allergies, auto_topup_ore FROM accounts WHERE id = ?',
        )
        .raw(),
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
    };
  }

  /** Creates an account or updates its name and the guardians' choices (the balance moves only by entries). */
  putAccount(a: AccountInput): void {
    prepared(
      this.d.db,
      `INSERT INTO accounts (id, first_name, last_name, place_kinds, denied_categories, allergies, photo,
                               auto_topup_ore, created_at)
         VALUES (@id, @first_name, @last_name, @place_kinds, @denied_categories, @allergies, @photo,
                 @auto_topup_ore, @created_at)
         ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name, last_name = excluded.last_name,
           place_kinds = excluded.place_kinds, denied_categories = excluded.denied_categories,
           allergies = excluded.allergies, photo = excluded.photo, auto_topup_ore = excluded.auto_topup_ore`,
    ).run({
      id: a.id,
      first_name: a.first_name,
      last_name: a.last_name ?? '',
      place_kinds: JSON.stringify(a.place_kinds ?? ['school', 'club']),
      denied_categories: JSON.stringify(a.denied_categories ?? []),
      allergies: JSON.stringify(a.allergies ?? []),
      photo: a.photo ?? null,
      auto_topup_ore: a.auto_topup_ore ?? null,
      created_at: nowIso(this.d.clock),
    });
  }

  /** An account as central sends it: the guardians' choices and the limits, replaced whole. */
  replaceAccount(a: LinkAccount): void {
    this.putAccount(a);
    prepared(this.d.db, 'DELETE FROM spend_limits WHERE account_id = ?').run(a.id);
    for (const l of a.limits) this.setSpendLimit(a.id, l);
  }

  /** Sets (or, with `limit_ore` null, removes) one spend limit of an account. */
  setSpendLimit(accountId: string, limit: Omit<SpendLimit, 'limit_ore'> & { limit_ore: number | null }): void {
    if (limit.limit_ore === null) {
      prepared(this.d.db, 'DELETE FROM spend_limits WHERE account_id = ? AND place_kind = ? AND period = ?').run(
        accountId,
        limit.place_kind,
        limit.period,
      );
      return;
    }
    prepared(
      this.d.db,
      `INSERT INTO spend_limits (account_id, place_kind, period, limit_ore) VALUES (?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET limit_ore = excluded.limit_ore`,
    ).run(accountId, limit.place_kind, limit.period, limit.limit_ore);
  }

  getAccount(id: string): AccountFacts | undefined {
    const r = this.stmt.getAccount.get(id);
    if (!r) return undefined;
    return {
      id: r[0],
      first_name: r[1],
      balance_ore: r[2],
      place_kinds: choices(r[3]) as readonly PlaceKind[],
      denied_categories: choices(r[4]),
      allergies: choices(r[5]),
      auto_topup_ore: r[6],
    };
  }

  /** What the kiosk shows of a child: name, photo, balance. */
  getAccountCard(id: string): AccountCard | undefined {
    return this.d.db
      .prepare<[string], AccountCard>('SELECT id, first_name, last_name, photo, balance_ore FROM accounts WHERE id = ?')
      .get(id);
  }

  /** The account's limits at a kind of place, each with what was spent in its period so far. */
  limitsAt(accountId: string, placeKind: PlaceKind): LimitFacts[] {
    const limits = this.stmt.getLimits.all(accountId, placeKind);
    if (limits.length === 0) return [];
    const starts = periodStarts(this.d.clock.now());
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
   * Registers a card. A kantine card (`ntag424`) names its batch, whose SDM master key must be
   * known here first (`putBatch`); re-registering keeps its SUN counter, or raises it to the
   * highest another site accepted (central sends it), never lowers it.
   */
  putCard(c: CardInput): void {
    const kind = c.kind ?? 'legacy';
    if (kind === 'ntag424' && !c.batch_id)
      throw new KantineError('invalid_request', 'an NTAG 424 DNA card names its batch');
    prepared(
      this.d.db,
      `INSERT INTO cards (uid, account_id, state, kind, batch_id, label, sun_counter)
         VALUES (@uid, @account_id, @state, @kind, @batch_id, @label, @sun_counter)
         ON CONFLICT (uid) DO UPDATE SET account_id = excluded.account_id, state = excluded.state,
           kind = excluded.kind, batch_id = excluded.batch_id, label = excluded.label,
           sun_counter = MAX(cards.sun_counter, excluded.sun_counter)`,
    ).run({
      label: null,
      ...c,
      kind,
      batch_id: kind === 'ntag424' ? c.batch_id : null,
      sun_counter: c.sun_counter ?? 0,
    });
  }

  getCard(uid: string): CardRow | undefined {
    const r = this.stmt.getCard.get(uid);
    return r ? { uid: r[0], account_id: r[1], state: r[2], kind: r[3], batch_id: r[4], sun_counter: r[5] } : undefined;
  }

  /** A genuine SUN message was used: the same message never passes twice. */
  setSunCounter(uid: string, counter: number): void {
    this.stmt.setSunCounter.run(counter, uid);
  }

  /**
   * Makes a batch of kantine cards known: its SDM master key verifies every card's taps. A
   * batch's key never changes (whoever re-keyed it would have the real cards refused and forged
   * ones taken): the same key again changes nothing, another is refused. A demo batch, whose key
   * is made from public text, only where the demo allows it.
   */
  putBatch(b: { id: string; sdm_master: Uint8Array }): void {
    if (b.sdm_master.length !== 16) throw new KantineError('invalid_request', 'an SDM master key is 16 bytes');
    if (b.id.startsWith('DEMO-') && !this.allowDemoBatches)
      throw new KantineError('demo_batch_refused', `batch ${b.id}: DEMO- batches are for the demo only`);
    const key = Buffer.from(b.sdm_master);
    const known = this.getBatch(b.id);
    if (known) {
      if (!Buffer.from(known.sdm_master).equals(key))
        throw new KantineError('batch_key_conflict', `batch ${b.id} is known here with another key`);
      return;
    }
    this.d.db
      .prepare('INSERT INTO card_batches (id, sdm_master, created_at) VALUES (?, ?, ?)')
      .run(b.id, key, nowIso(this.d.clock));
  }

  getBatch(id: string): BatchRow | undefined {
    return this.stmt.getBatch.get(id);
  }
}
