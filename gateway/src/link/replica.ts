import {
  check,
  DownChange,
  KantineError,
  type LinkAccount,
  type LinkCard,
  type RestoreNote,
  type SiteEntry,
  type UnsequencedUp,
  type UpChange,
} from '@kantine/protocol';
import type Database from 'better-sqlite3';
import type { Accounts } from '../ledger/accounts.ts';
import { savepoint } from '../ledger/db.ts';
import type { Entries } from '../ledger/entries.ts';
import type { Escrow } from '../ledger/escrow.ts';
import type { Preorders } from '../ledger/preorders.ts';
import type { Topups } from '../ledger/topups.ts';

export type { BudgetNeed } from '../ledger/escrow.ts';

// SQLite errors of the machine, not of a change (better-sqlite3's `code`).
const TRANSIENT_SQLITE = /^SQLITE_(FULL|IOERR|BUSY|LOCKED|NOMEM|READONLY|CANTOPEN|CORRUPT|INTERRUPT|PROTOCOL)/;

/** A change from central this site could not apply and moved past. */
export interface SetAside {
  seq: number;
  kind: string;
  /**
   * `invalid_payload` (not a change this gateway knows), `link_change_too_large` (withheld by
   * central), or `link_change_failed` (applying it failed).
   */
  code: string;
  detail: string;
}

/** What applying a message of central's changes did. */
export interface DownApplied {
  /** The cursor before this message. */
  before: number;
  cursor: number;
  setAside: SetAside[];
  /** Central started its log for this site again (a `reset`: central was restored, or lost track). */
  reset?: boolean;
}

/** Where this site stands in both logs. */
export interface LinkState {
  down_cursor: number;
  /** The mark of central's change at `down_cursor` (null before any, or before marks). */
  down_mark: string | null;
  up_seq: number;
  up_acked: number;
  /** The mark of the resync running (between central's `reset` and its `resync_done`). */
  resync_mark: string | null;
}

/** The stores central's changes land in. */
export interface ReplicaStores {
  db: Database.Database;
  accounts: Pick<Accounts, 'replaceAccount' | 'putCard' | 'putBatch'>;
  entries: Pick<Entries, 'bookCentralEntry'>;
  preorders: Pick<Preorders, 'putPreorder' | 'cancelPreorder' | 'menuAnswer'>;
  /** Automatic top-up requests, marked by central's `topup_result` (issue 19). */
  topups?: Pick<Topups, 'settle'>;
}

/**
 * The site's side of the link to central (docs/replication.md): the down cursor and the outbox
 * sent up; this site's escrow shares are the ledger's (`Escrow`). Every method runs inside the
 * caller's ledger transaction, so an applied change moves the cursor in the same commit.
 */
export class Replica {
  private readonly stmt;
  constructor(
    private readonly stores: ReplicaStores,
    private readonly escrow: Escrow,
  ) {
    const { db } = stores;
    this.stmt = {
      state: db.prepare<[], LinkState>('SELECT down_cursor, down_mark, up_seq, up_acked, resync_mark FROM link_state'),
      setDown: db.prepare<[number, string | null]>('UPDATE link_state SET down_cursor = ?, down_mark = ?'),
      setResync: db.prepare<[string | null]>('UPDATE link_state SET resync_mark = ?'),
      nextUp: db.prepare<[], { up_seq: number }>('UPDATE link_state SET up_seq = up_seq + 1 RETURNING up_seq'),
      enqueue: db.prepare<[number, string]>('INSERT INTO outbox (seq, change) VALUES (?, ?)'),
      seen: db.prepare<[string, string]>('INSERT OR IGNORE INTO resync_seen (what, id) VALUES (?, ?)'),
      outboxFrom: db.prepare<[number, number], { change: string }>(
        'SELECT change FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?',
      ),
      dropAcked: db.prepare<[number]>('DELETE FROM outbox WHERE seq <= ?'),
      setAcked: db.prepare<[number]>('UPDATE link_state SET up_acked = ?'),
      setAside: db.prepare<[number, string, string, string, string]>(
        'INSERT OR IGNORE INTO down_set_aside (seq, kind, code, detail, set_aside_at) VALUES (?, ?, ?, ?, ?)',
      ),
      setAsideCount: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM down_set_aside'),
    };
  }

  state(): LinkState {
    return this.stmt.state.get() as LinkState;
  }

  /** Changes not yet acknowledged by central, from `after`, oldest first. */
  outbox(after: number, limit: number): UpChange[] {
    return this.stmt.outboxFrom.all(after, limit).map((r) => JSON.parse(r.change) as UpChange);
  }

  /** Central applied the outbox up to `cursor`: those rows are done. */
  upAcked(cursor: number): void {
    const { up_seq, up_acked } = this.state();
    if (cursor <= up_acked || cursor > up_seq) return; // stale, or not ours (a reset central)
    this.stmt.dropAcked.run(cursor);
    this.stmt.setAcked.run(cursor);
  }

  /** How many of central's changes this site has set aside, ever. */
  setAsideCount(): number {
    return this.stmt.setAsideCount.get()?.n ?? 0;
  }

  /**
   * Applies central's changes in order, each exactly once; returns the new cursor. A change after
   * a gap is left for the re-send. Each change is checked and applied on its own (a savepoint): one
   * this site cannot take — not a change it knows, withheld by central, or failing when applied —
   * is set aside (recorded, and returned for the alarm and central) and the cursor moves past it,
   * so it never holds back the changes after it (design note 13).
   */
  applyDown(changes: readonly { seq: number; kind: string; mark?: string }[], now: string): DownApplied {
    const state = this.state();
    let at = state.down_cursor;
    let mark = state.down_mark;
    // Read once, and again only after a change that moves it (a reset, or the resync's end).
    let resyncMark = state.resync_mark;
    let reset = false;
    const setAside: SetAside[] = [];
    const putAside = (c: { seq: number; kind: string }, code: string, detail: string) => {
      const entry = { seq: c.seq, kind: String(c.kind).slice(0, 40), code, detail: detail.slice(0, 500) };
      this.stmt.setAside.run(entry.seq, entry.kind, entry.code, entry.detail, now);
      setAside.push(entry);
    };
    let sorted = [...changes].sort((a, b) => a.seq - b.seq);
    // Central's log starts again at a reset, after whatever cursor this site had: nothing before
    // it in this message belongs to the log that follows.
    const resetAt = sorted.findLastIndex((c) => c.kind === 'reset' && c.seq > at);
    if (resetAt >= 0) {
      sorted = sorted.slice(resetAt);
      at = (sorted[0] as { seq: number }).seq - 1;
    }
    for (const c of sorted) {
      if (c.seq <= at) continue;
      if (c.seq !== at + 1) break;
      at = c.seq;
      mark = typeof c.mark === 'string' ? c.mark : null;
      let change: DownChange;
      try {
        change = check(DownChange, c);
      } catch (err) {
        putAside(c, 'invalid_payload', (err as KantineError).details.join('; '));
        continue;
      }
      if (change.kind === 'withheld') {
        putAside(c, 'link_change_too_large', `central withheld it (${change.code})`);
        continue;
      }
      if (change.kind === 'reset') reset = true;
      try {
        // A nested transaction is a savepoint: a change that fails leaves nothing behind.
        savepoint(this.stores.db, () => this.apply(change, resyncMark !== null));
        if (change.kind === 'reset' || change.kind === 'resync_done') resyncMark = this.state().resync_mark;
      } catch (err) {
        const e = err as Error & { code?: unknown };
        // The disk or the database failing is no fault of the change: the whole message fails
        // and central sends it again. Only what this change itself cannot do is set aside.
        if (typeof e.code === 'string' && TRANSIENT_SQLITE.test(e.code)) throw err;
        putAside(c, 'link_change_failed', e instanceof KantineError ? `${e.code}: ${e.message}` : e.message);
      }
    }
    this.stmt.setDown.run(at, mark);
    return { before: state.down_cursor, cursor: at, setAside, ...(reset ? { reset } : {}) };
  }

  /** Applies one change; `resyncing`: a resync is running (what central sends is noted). */
  private apply(c: DownChange, resyncing: boolean): void {
    switch (c.kind) {
      case 'account':
        if (resyncing) this.noteAccount(c.account);
        this.stores.accounts.replaceAccount(c.account);
        return;
      case 'card':
        if (resyncing) this.noteCard(c.card);
        this.stores.accounts.putCard(c.card);
        return;
      case 'batch':
        this.stores.accounts.putBatch({ id: c.batch.id, sdm_master: Buffer.from(c.batch.sdm_master, 'hex') });
        return;
      case 'entry':
        if (resyncing) this.stmt.seen.run('entry', c.entry.id);
        this.stores.entries.bookCentralEntry(c.entry);
        return;
      case 'reset':
        this.reset(c);
        return;
      case 'resync_done':
        this.resyncDone(c.reset_mark);
        return;
      case 'grant':
        this.escrow.grant(c.account_id, c.budget, c.amount_ore);
        return;
      case 'recall':
        // Give back all that is left: central needs it for another site, or a limit fell.
        this.escrow.recall(c.account_id, c.budget);
        return;
      case 'preorder':
        this.stores.preorders.putPreorder(c.preorder);
        return;
      case 'preorder_cancel':
        this.stores.preorders.cancelPreorder(c.order_id);
        return;
      case 'menu_answer': // shopfix
        this.stores.preorders.menuAnswer(c);
        return;
      case 'topup_result':
        if (!this.stores.topups) throw new KantineError('topup_not_found', 'this site keeps no top-up requests');
        this.stores.topups.settle(
          c.request_id,
          c.outcome === 'deposited'
            ? { outcome: 'deposited', deposit_id: c.entry_id ?? '' }
            : { outcome: 'failed', reason: c.code ?? 'autotopup_failed' },
        );
        return;
      case 'withheld':
        return; // set aside by applyDown
    }
  }

  /** Appends a change to this site's log for central (in the caller's transaction). */
  private enqueue(change: UnsequencedUp): void {
    const { up_seq } = this.stmt.nextUp.get() as { up_seq: number };
    this.stmt.enqueue.run(up_seq, JSON.stringify({ ...change, seq: up_seq }));
  }

  /**
   * Central's log for this site starts again (docs/replication.md §Restore). What is left of every
   * share goes (central set them to nothing too: it no longer knows what it granted after its
   * backup); every sale and void made here after the last one central holds is sent again from
   * the ledger, where entries never change; then `resynced` marks where the sales on the old
   * shares end. What central sends up to `resync_done` is compared with what this site knew.
   */
  private reset(c: Extract<DownChange, { kind: 'reset' }>): void {
    const { db } = this.stores;
    db.prepare('UPDATE shares SET granted_ore = used_ore + returned_ore').run();
    this.upAcked(c.up_cursor);
    const after = c.last_entry_id
      ? (db
          .prepare<[string], { seq: number }>('SELECT seq FROM entries WHERE id = ? AND origin IS NULL')
          .get(c.last_entry_id)?.seq ?? 0)
      : 0;
    for (const entry of this.ownEntriesAfter(after)) this.enqueue({ kind: 'entry', entry });
    this.enqueue({ kind: 'resynced', mark: c.mark });
    db.prepare('DELETE FROM resync_seen').run();
    this.stmt.setResync.run(c.mark);
  }

  /** This site's sales and voids after ledger position `after`, as it reported them. */
  private ownEntriesAfter(after: number): SiteEntry[] {
    const { db } = this.stores;
    const rows = db
      .prepare<
        [number],
        {
          id: string;
          account_id: string;
          kind: 'purchase' | 'void';
          amount_ore: number;
          place_kind: SiteEntry['place_kind'];
          budgets: string;
          tap_id: string | null;
          voids_entry_id: string | null;
          reason: string | null;
          created_at: string;
        }
      >(
        `SELECT id, account_id, kind, amount_ore, place_kind, budgets, tap_id, voids_entry_id, reason, created_at
         FROM entries WHERE seq > ? AND origin IS NULL AND budgets IS NOT NULL AND place_kind IS NOT NULL
           AND kind IN ('purchase', 'void')
         ORDER BY seq`,
      )
      .all(after);
    const lines = db.prepare<[string], { product_id: string; name: string; quantity: number; unit_price_ore: number }>(
      'SELECT product_id, name, quantity, unit_price_ore FROM entry_lines WHERE entry_id = ? ORDER BY line_no',
    );
    return rows.map((r) => {
      const l = lines.all(r.id);
      return {
        id: r.id,
        account_id: r.account_id,
        kind: r.kind,
        amount_ore: r.amount_ore,
        place_kind: r.place_kind,
        budgets: JSON.parse(r.budgets) as string[],
        created_at: r.created_at,
        ...(r.tap_id ? { tap_id: r.tap_id } : {}),
        ...(r.voids_entry_id ? { voids_entry_id: r.voids_entry_id } : {}),
        ...(r.reason ? { reason: r.reason } : {}),
        ...(l.length > 0 ? { lines: l } : {}),
      };
    });
  }

  /** During a resync: an account central sends, compared with what this site held. */
  private noteAccount(a: LinkAccount): void {
    const { db } = this.stores;
    this.stmt.seen.run('account', a.id);
    const here = db
      .prepare<
        [string],
        {
          first_name: string;
          last_name: string;
          place_kinds: string;
          denied_categories: string;
          allergies: string;
          photo: string | null;
          auto_topup_ore: number | null;
        }
      >(
        'SELECT first_name, last_name, place_kinds, denied_categories, allergies, photo, auto_topup_ore FROM accounts WHERE id = ?',
      )
      .get(a.id);
    if (!here) return;
    const limits = this.limitsOf(a.id);
    const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
    const byKey = (l: LinkAccount['limits']) =>
      [...l].sort((x, y) => `${x.place_kind}${x.period}`.localeCompare(`${y.place_kind}${y.period}`));
    const fields = [
      here.first_name !== a.first_name ? 'first_name' : '',
      here.last_name !== a.last_name ? 'last_name' : '',
      !same(JSON.parse(here.place_kinds), a.place_kinds) ? 'place_kinds' : '',
      !same(JSON.parse(here.denied_categories), a.denied_categories) ? 'denied_categories' : '',
      !same(JSON.parse(here.allergies), a.allergies) ? 'allergies' : '',
      here.photo !== a.photo ? 'photo' : '',
      here.auto_topup_ore !== a.auto_topup_ore ? 'auto_topup_ore' : '',
      !same(byKey(limits), byKey(a.limits)) ? 'limits' : '',
    ].filter((f) => f !== '');
    if (fields.length > 0) this.note(this.accountNote(a.id, here, limits, false, fields));
  }

  private accountNote(
    id: string,
    here: { first_name: string; last_name: string },
    limits: LinkAccount['limits'],
    missing: boolean,
    fields: string[],
  ): RestoreNote {
    return {
      what: 'account',
      account_id: id,
      first_name: here.first_name.slice(0, 80),
      last_name: here.last_name.slice(0, 80),
      missing,
      fields,
      limits,
    };
  }

  private limitsOf(accountId: string): LinkAccount['limits'] {
    return this.stores.db
      .prepare<[string], LinkAccount['limits'][number]>(
        'SELECT place_kind, period, limit_ore FROM spend_limits WHERE account_id = ? ORDER BY place_kind, period',
      )
      .all(accountId);
  }

  /** During a resync: a card central sends, compared with what this site held. */
  private noteCard(card: LinkCard): void {
    this.stmt.seen.run('card', card.uid);
    const here = this.stores.db
      .prepare<[string], { account_id: string | null; state: LinkCard['state'] }>(
        'SELECT account_id, state FROM cards WHERE uid = ?',
      )
      .get(card.uid);
    if (here && (here.state !== card.state || here.account_id !== card.account_id))
      this.note({
        what: 'card',
        uid: card.uid,
        account_id: here.account_id,
        state: here.state,
        central_state: card.state,
      });
  }

  private note(note: RestoreNote): void {
    const mark = this.state().resync_mark;
    if (mark) this.enqueue({ kind: 'note', mark, note });
  }

  /**
   * The resync is complete: what this site knows that central did not send again — entries made
   * at central or at another site, accounts, cards — goes to central as notes for the restore
   * report (central made it after its backup; an administrator enters it again).
   */
  private resyncDone(resetMark: string): void {
    const { db } = this.stores;
    if (this.state().resync_mark !== resetMark) return; // not the resync running
    for (const e of db
      .prepare<
        [],
        {
          id: string;
          account_id: string;
          kind: 'deposit' | 'withdrawal' | 'fee' | 'purchase' | 'void';
          amount_ore: number;
          origin: string;
          created_at: string;
        }
      >(
        `SELECT id, account_id, kind, amount_ore, origin, created_at FROM entries e
         WHERE origin IS NOT NULL AND NOT EXISTS (SELECT 1 FROM resync_seen s WHERE s.what = 'entry' AND s.id = e.id)
         ORDER BY seq`,
      )
      .all())
      this.note({ what: 'entry', entry: e });
    for (const a of db
      .prepare<[], { id: string; first_name: string; last_name: string }>(
        `SELECT id, first_name, last_name FROM accounts a
         WHERE NOT EXISTS (SELECT 1 FROM resync_seen s WHERE s.what = 'account' AND s.id = a.id) ORDER BY id`,
      )
      .all())
      this.note(this.accountNote(a.id, a, this.limitsOf(a.id), true, []));
    for (const c of db
      .prepare<[], { uid: string; account_id: string | null; state: LinkCard['state'] }>(
        `SELECT uid, account_id, state FROM cards c
         WHERE NOT EXISTS (SELECT 1 FROM resync_seen s WHERE s.what = 'card' AND s.id = c.uid) ORDER BY uid`,
      )
      .all())
      this.note({ what: 'card', uid: c.uid, account_id: c.account_id, state: c.state, central_state: null });
    db.prepare('DELETE FROM resync_seen').run();
    this.stmt.setResync.run(null);
  }
}
