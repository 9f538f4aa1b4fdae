import {
  BALANCE_BUDGET,
  type CentralEntry,
  type DownChange,
  type LinkAccount,
  limitBudget,
  type PlaceKind,
  type SiteEntry,
  type UnsequencedUp,
  type UpChange,
} from '@kantine/protocol';
import type Database from 'better-sqlite3';
import type { LimitFacts } from './authorizer.ts';

/** One budget a sale draws on, with how much of this site's share is left. */
export interface BudgetNeed {
  budget: string;
  amount_ore: number;
}

/**
 * The site's side of the link to central (docs/replication.md): the down cursor, the outbox,
 * and this site's escrow shares. Every method runs inside the caller's ledger transaction, so a
 * sale, its share and its outbox row commit together, and an applied change moves the cursor in
 * the same commit.
 */
export class Replica {
  private readonly stmt;
  constructor(
    db: Database.Database,
    private readonly ledger: ReplicaLedger,
  ) {
    this.stmt = {
      state: db.prepare<[], { down_cursor: number; up_seq: number; up_acked: number }>(
        'SELECT down_cursor, up_seq, up_acked FROM link_state',
      ),
      share: db.prepare<[string, string], { granted_ore: number; used_ore: number; returned_ore: number }>(
        'SELECT granted_ore, used_ore, returned_ore FROM shares WHERE account_id = ? AND budget = ?',
      ),
      // A sale draws only on a share it was granted (the row exists; its CHECK bounds the use).
      use: db.prepare<[number, string, string]>(
        'UPDATE shares SET used_ore = used_ore + ? WHERE account_id = ? AND budget = ?',
      ),
      grant: db.prepare<[string, string, number]>(
        `INSERT INTO shares (account_id, budget, granted_ore) VALUES (?, ?, ?)
         ON CONFLICT DO UPDATE SET granted_ore = granted_ore + excluded.granted_ore`,
      ),
      giveBack: db.prepare<[number, string, string]>(
        'UPDATE shares SET returned_ore = returned_ore + ? WHERE account_id = ? AND budget = ?',
      ),
      nextUp: db.prepare<[], { up_seq: number }>('UPDATE link_state SET up_seq = up_seq + 1 RETURNING up_seq'),
      outbox: db.prepare<[number, string]>('INSERT INTO outbox (seq, change) VALUES (?, ?)'),
      setDown: db.prepare<[number]>('UPDATE link_state SET down_cursor = ?'),
      outboxFrom: db.prepare<[number, number], { change: string }>(
        'SELECT change FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?',
      ),
      dropAcked: db.prepare<[number]>('DELETE FROM outbox WHERE seq <= ?'),
      setAcked: db.prepare<[number]>('UPDATE link_state SET up_acked = ?'),
    };
  }

  state(): { down_cursor: number; up_seq: number; up_acked: number } {
    return this.stmt.state.get() as { down_cursor: number; up_seq: number; up_acked: number };
  }

  /** What is left of this site's share of a budget. */
  available(accountId: string, budget: string): number {
    const s = this.stmt.share.get(accountId, budget);
    return s ? s.granted_ore - s.used_ore - s.returned_ore : 0;
  }

  /** The budgets a sale of `total` draws on: the balance and each limit's current window. */
  budgetsFor(placeKind: PlaceKind, limits: readonly LimitFacts[], now: Date): string[] {
    return [BALANCE_BUDGET, ...limits.map((l) => limitBudget(placeKind, l.period, now))];
  }

  /** What this site lacks of each budget for a sale of `amount_ore` (empty: it may sell). */
  shortfall(accountId: string, budgets: readonly string[], amount_ore: number): BudgetNeed[] {
    return budgets.flatMap((budget) => {
      const left = this.available(accountId, budget);
      return left >= amount_ore ? [] : [{ budget, amount_ore: amount_ore - left }];
    });
  }

  /** A sale (amount < 0) uses its shares; a void (amount > 0) gives them back. Then it goes up. */
  recordSale(entry: SiteEntry): void {
    for (const budget of entry.budgets) {
      const { changes } = this.stmt.use.run(-entry.amount_ore, entry.account_id, budget);
      if (changes !== 1) throw new Error(`a sale of ${entry.account_id} drew on ${budget} without a share`);
    }
    this.enqueue({ kind: 'entry', entry });
  }

  private enqueue(change: UnsequencedUp): void {
    const { up_seq } = this.stmt.nextUp.get() as { up_seq: number };
    this.stmt.outbox.run(up_seq, JSON.stringify({ ...change, seq: up_seq }));
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

  /**
   * Applies central's changes in order, each exactly once; returns the new cursor. A change after
   * a gap is left for the re-send.
   */
  applyDown(changes: readonly DownChange[]): number {
    let at = this.state().down_cursor;
    for (const c of [...changes].sort((a, b) => a.seq - b.seq)) {
      if (c.seq <= at) continue;
      if (c.seq !== at + 1) break;
      this.apply(c);
      at = c.seq;
    }
    this.stmt.setDown.run(at);
    return at;
  }

  private apply(c: DownChange): void {
    switch (c.kind) {
      case 'account':
        this.ledger.replaceAccount(c.account);
        return;
      case 'card':
        this.ledger.putCard(c.card);
        return;
      case 'batch':
        this.ledger.putBatch({ id: c.batch.id, sdm_master: Buffer.from(c.batch.sdm_master, 'hex') });
        return;
      case 'entry':
        this.ledger.bookCentralEntry(c.entry);
        return;
      case 'grant':
        this.stmt.grant.run(c.account_id, c.budget, c.amount_ore);
        return;
      case 'recall': {
        // Give back all that is left: central needs it for another site, or a limit fell.
        const left = this.available(c.account_id, c.budget);
        if (left <= 0) return;
        this.stmt.giveBack.run(left, c.account_id, c.budget);
        this.enqueue({ kind: 'return', account_id: c.account_id, budget: c.budget, amount_ore: left });
        return;
      }
    }
  }
}

/** What the replica needs of the ledger to apply central's changes. */
export interface ReplicaLedger {
  replaceAccount(a: LinkAccount): void;
  putCard(c: {
    uid: string;
    account_id: string | null;
    state: 'stock' | 'active' | 'blocked' | 'replaced';
    kind: 'legacy' | 'ntag424';
    batch_id: string | null;
  }): void;
  putBatch(b: { id: string; sdm_master: Uint8Array }): void;
  bookCentralEntry(e: CentralEntry): void;
}
