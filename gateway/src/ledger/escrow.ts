import { BALANCE_BUDGET, limitBudget, type PlaceKind, type SiteEntry, type UnsequencedUp } from '@kantine/protocol';
import type Database from 'better-sqlite3';
import type { LimitFacts } from '../taps/authorizer.ts';

/** One budget a sale draws on, with how much of this site's share is left. */
export interface BudgetNeed {
  budget: string;
  amount_ore: number;
}

/**
 * This site's escrow shares of each account's balance and limits, and the outbox of changes for
 * central (docs/replication.md). On a linked site a sale draws only on its shares; every sale,
 * void and returned share goes into the outbox in the same transaction.
 */
export class Escrow {
  private readonly stmt;

  constructor(db: Database.Database) {
    this.stmt = {
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
    };
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

  /** Central granted this site more of a budget. */
  grant(accountId: string, budget: string, amount_ore: number): void {
    this.stmt.grant.run(accountId, budget, amount_ore);
  }

  /** Gives back all that is left of a share (central needs it for another site, or a limit fell). */
  recall(accountId: string, budget: string): void {
    const left = this.available(accountId, budget);
    if (left <= 0) return;
    this.stmt.giveBack.run(left, accountId, budget);
    this.enqueue({ kind: 'return', account_id: accountId, budget, amount_ore: left });
  }

  /** Asks central for the account's automatic top-up after this site's purchase `entry_id` (issue 19). */
  requestTopup(request_id: string, account_id: string, entry_id: string): void {
    this.enqueue({ kind: 'topup', request_id, account_id, entry_id });
  }

  /** Appends a change to this site's log for central (in the caller's transaction). */
  enqueue(change: UnsequencedUp): void {
    const { up_seq } = this.stmt.nextUp.get() as { up_seq: number };
    this.stmt.outbox.run(up_seq, JSON.stringify({ ...change, seq: up_seq }));
  }
}
