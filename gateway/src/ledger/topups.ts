import { KantineError } from '@kantine/protocol';
import { v7 as uuidv7 } from 'uuid';
import { type Db, nowIso, writeTransaction } from './db.ts';
import type { Entries } from './entries.ts';

/** A purchase that leaves less than this triggers the account's automatic top-up (the seeds' 50 kr). */
export const AUTO_TOPUP_BELOW_ORE = 50_00;

/**
 * A request central has not answered after this long no longer blocks the next one: central
 * answers within minutes (`autotopup.answer_within_ms`, 10 by default, even while the provider is
 * unreachable), so an older open request lost its answer (a resync, a restore) and is closed as
 * failed `unanswered`. Central never charges twice for it: it allows one charge in flight per account.
 */
export const TOPUP_UNANSWERED_MS = 30 * 60_000;

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

const COLUMNS = 'id, account_id, entry_id, amount_ore, state, reason, deposit_entry_id, created_at';

/** Automatic top-up requests, for central: asked after a purchase, never waited for. */
export class Topups {
  private readonly stmt;

  constructor(
    private readonly d: Db,
    private readonly entries: Entries,
  ) {
    this.stmt = {
      closeUnanswered: d.db.prepare(
        `UPDATE topup_requests SET state = 'failed', reason = 'unanswered', settled_at = @now
         WHERE account_id = @account_id AND state = 'pending' AND created_at < @before`,
      ),
      insertTopup: d.db.prepare(
        `INSERT INTO topup_requests (id, account_id, entry_id, amount_ore, state, created_at)
         SELECT @id, @account_id, @entry_id, @amount_ore, 'pending', @created_at
         WHERE NOT EXISTS (SELECT 1 FROM topup_requests WHERE account_id = @account_id AND state = 'pending')`,
      ),
    };
  }

  /**
   * After a purchase that left `balance_ore`: asks for the account's automatic top-up when it is
   * under the threshold. At most one per purchase (the purchase's entry is the request's key) and
   * one open per account. Call inside the purchase's transaction.
   */
  afterPurchase(p: {
    account_id: string;
    auto_topup_ore: number | null;
    entry_id: string;
    balance_ore: number;
    at: string;
  }): void {
    if (p.balance_ore >= AUTO_TOPUP_BELOW_ORE || p.auto_topup_ore === null) return;
    this.stmt.closeUnanswered.run({
      account_id: p.account_id,
      now: p.at,
      before: new Date(Date.parse(p.at) - TOPUP_UNANSWERED_MS).toISOString(),
    });
    const id = uuidv7();
    const { changes } = this.stmt.insertTopup.run({
      id,
      account_id: p.account_id,
      entry_id: p.entry_id,
      amount_ore: p.auto_topup_ore,
      created_at: p.at,
    });
    // On a linked site the request goes up after the purchase, in the same commit (issue 19).
    if (changes === 1) this.entries.escrow?.requestTopup(id, p.account_id, p.entry_id);
  }

  pending(): TopupRequest[] {
    return this.d.db
      .prepare<[], TopupRequest>(`SELECT ${COLUMNS} FROM topup_requests WHERE state = 'pending' ORDER BY created_at`)
      .all();
  }

  /**
   * Central's answer to a top-up request: deposited (the deposit is central's entry, booked here
   * as any deposit from central before this answer arrives: the site never books one on its own)
   * or the reason it failed (expired or blocked payment card, no funds, blocked account). A
   * repeated answer changes nothing; a late answer to a request closed `unanswered` still counts.
   */
  settle(
    id: string,
    result: { outcome: 'deposited'; deposit_id: string } | { outcome: 'failed'; reason: string },
  ): TopupRequest {
    return writeTransaction(this.d.db, () => {
      const get = () =>
        this.d.db.prepare<[string], TopupRequest>(`SELECT ${COLUMNS} FROM topup_requests WHERE id = ?`).get(id);
      const req = get();
      if (!req) throw new KantineError('topup_not_found', `no top-up request ${id}`);
      if (req.state !== 'pending' && !(req.state === 'failed' && req.reason === 'unanswered')) return req;
      if (result.outcome === 'deposited') {
        const booked = this.d.db
          .prepare<[string, string], { id: string }>(
            "SELECT id FROM entries WHERE id = ? AND account_id = ? AND kind = 'deposit'",
          )
          .get(result.deposit_id, req.account_id);
        if (!booked)
          throw new KantineError('topup_not_found', `central's deposit ${result.deposit_id} is not booked here`);
        this.d.db
          .prepare("UPDATE topup_requests SET state = 'deposited', deposit_entry_id = ?, settled_at = ? WHERE id = ?")
          .run(result.deposit_id, nowIso(this.d.clock), id);
      } else {
        this.d.db
          .prepare("UPDATE topup_requests SET state = 'failed', reason = ?, settled_at = ? WHERE id = ?")
          .run(result.reason, nowIso(this.d.clock), id);
      }
      return get() as TopupRequest;
    });
  }
}
