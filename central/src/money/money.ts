import { BALANCE_BUDGET, KantineError } from '@kantine/protocol';
import { v7 as uuidv7 } from 'uuid';
import { canteenCardBlocked, lockAccount, sitesOf } from '../accounts/rows.ts';
import type { Store, Tx } from '../db/tx.ts';
import { freeOf, outstanding } from '../escrow/arithmetic.ts';
import type { EscrowService } from '../escrow/escrow.ts';
import { appendDownTo, appendRecall } from '../link/down-log.ts';
import { book, centralEntry, type EntryRow } from './entries.ts';

/** Money made at central: deposits, withdrawals, fees; and central's own books. */
export class MoneyService {
  constructor(
    private readonly store: Store,
    private readonly escrow: EscrowService,
  ) {}

  /** A top-up (idempotent by `id`): the money is shared out to the account's sites at once. */
  async deposit(d: { id?: string; account_id: string; amount_ore: number }): Promise<string> {
    positive(d.amount_ore);
    const id = d.id ?? uuidv7();
    await this.store.tx(async (t) => {
      await lockAccount(t, d.account_id);
      await notAPaymentsId(t, id);
      if (await sameEntry(t, { id, account_id: d.account_id, kind: 'deposit', amount_ore: d.amount_ore })) return;
      if (await canteenCardBlocked(t, d.account_id)) throw new KantineError('account_blocked');
      await this.bookAtCentral(t, { id, account_id: d.account_id, kind: 'deposit', amount_ore: d.amount_ore });
      await this.escrow.rebalance(t, d.account_id);
    });
    return id;
  }

  /**
   * A deposit inside the caller's transaction (a paid payment intent; the intent's purpose has
   * refused it if the card was blocked meanwhile). Idempotent by `id`; returns the balance after.
   */
  async depositIn(t: Tx, d: { id: string; account_id: string; amount_ore: number }): Promise<number> {
    positive(d.amount_ore);
    await lockAccount(t, d.account_id);
    if (!(await sameEntry(t, { id: d.id, account_id: d.account_id, kind: 'deposit', amount_ore: d.amount_ore }))) {
      await this.bookAtCentral(t, { id: d.id, account_id: d.account_id, kind: 'deposit', amount_ore: d.amount_ore });
      await this.escrow.rebalance(t, d.account_id);
    }
    const [row] = await t.sql.query<{ balance_ore: number }>('SELECT balance_ore FROM accounts WHERE id = $1', [
      d.account_id,
    ]);
    return Number(row?.balance_ore ?? 0);
  }

  /**
   * A withdrawal (udbetaling) or a fee (a replacement card): only from the free part of the
   * balance. If sites hold the rest, their shares are recalled and the caller may try again in a
   * moment (`funds_held_offline`); an account without the money gets `insufficient_balance`.
   */
  async withdraw(w: {
    id?: string;
    account_id: string;
    amount_ore: number;
    kind?: 'withdrawal' | 'fee';
    reason?: string;
    /** Runs in the booking's transaction, after it (a payout filed with its withdrawal, or neither). */
    within?: (t: Tx, id: string) => Promise<void>;
  }): Promise<string> {
    positive(w.amount_ore);
    const id = w.id ?? uuidv7();
    const result = await this.store.tx(async (t): Promise<'done' | 'recalled' | 'short'> => {
      const account = await lockAccount(t, w.account_id);
      const kind = w.kind ?? 'withdrawal';
      await notAPaymentsId(t, id);
      if (await sameEntry(t, { id, account_id: w.account_id, kind, amount_ore: -w.amount_ore })) return 'done';
      const shares = await this.escrow.shares(t, w.account_id, BALANCE_BUDGET);
      const free = freeOf(BALANCE_BUDGET, account.balance_ore, shares);
      if (free >= w.amount_ore) {
        await this.bookAtCentral(t, {
          id,
          account_id: w.account_id,
          kind,
          amount_ore: -w.amount_ore,
          ...(w.reason ? { reason: w.reason } : {}),
        });
        await w.within?.(t, id);
        await this.escrow.rebalance(t, w.account_id); // what was recalled and not paid out goes back out
        return 'done';
      }
      if (account.balance_ore < w.amount_ore) return 'short';
      for (const s of shares) {
        if (outstanding(s) > 0) await appendRecall(t, s.site_id, w.account_id, BALANCE_BUDGET);
      }
      return 'recalled';
    });
    if (result === 'short') throw new KantineError('insufficient_balance');
    if (result === 'recalled') throw new KantineError('funds_held_offline');
    return id;
  }

  /**
   * Books an entry made at central and sends it to every site of the account (the account row is
   * locked by the caller).
   */
  async bookAtCentral(
    t: Tx,
    e: { id: string; account_id: string; kind: 'deposit' | 'withdrawal' | 'fee'; amount_ore: number; reason?: string },
  ): Promise<void> {
    const row = await book(t, { ...e, origin: 'central', created_at: t.now.toISOString() });
    const sites = (await sitesOf(t, e.account_id)).map((s) => s.id);
    await appendDownTo(t, sites, { kind: 'entry', entry: centralEntry(row) });
  }

  /** An account's entries, oldest first. */
  async entries(accountId: string): Promise<EntryRow[]> {
    return this.store.db.query<EntryRow>('SELECT * FROM entries WHERE account_id = $1 ORDER BY seq', [accountId]);
  }

  /** Central's own books: each balance is the sum of its entries, each share is within its grant. */
  async verify(): Promise<string[]> {
    const { db } = this.store;
    const problems: string[] = [];
    for (const r of await db.query<{ id: string; balance_ore: number; sum: number }>(
      `SELECT a.id, a.balance_ore, COALESCE(SUM(e.amount_ore), 0)::bigint AS sum FROM accounts a
       LEFT JOIN entries e ON e.account_id = a.id GROUP BY a.id HAVING a.balance_ore <> COALESCE(SUM(e.amount_ore), 0)`,
    )) {
      problems.push(`account ${r.id}: balance ${r.balance_ore} but entries sum to ${r.sum}`);
    }
    for (const r of await db.query<{ id: string; balance_ore: number; out: number }>(
      `SELECT a.id, a.balance_ore, SUM(s.granted_ore - s.consumed_ore - s.returned_ore)::bigint AS out
       FROM accounts a JOIN shares s ON s.account_id = a.id AND s.budget = 'balance'
       GROUP BY a.id HAVING SUM(s.granted_ore - s.consumed_ore - s.returned_ore) > a.balance_ore`,
    )) {
      problems.push(`account ${r.id}: shares out ${r.out} exceed the balance ${r.balance_ore}`);
    }
    return problems;
  }
}

/**
 * Whether the entry `e.id` is already booked as this very request (a retry: the same answer), or
 * not at all. The id is bound to its account, kind and amount: the same id for anything else is
 * `entry_id_reused`, never a silent success that booked nothing.
 */
async function sameEntry(
  t: Tx,
  e: { id: string; account_id: string; kind: EntryRow['kind']; amount_ore: number },
): Promise<boolean> {
  const [row] = await t.sql.query<{ account_id: string; kind: string; amount_ore: number; origin: string }>(
    'SELECT account_id, kind, amount_ore, origin FROM entries WHERE id = $1',
    [e.id],
  );
  if (!row) return false;
  if (
    row.account_id === e.account_id &&
    row.kind === e.kind &&
    Number(row.amount_ore) === e.amount_ore &&
    row.origin === 'central'
  )
    return true;
  throw new KantineError('entry_id_reused', `entry ${e.id} was booked before for another request`);
}

/**
 * A payment intent's id is the id of the deposit its payment makes (`depositIn`). An entry whose id
 * a caller chose (finance's deposit, a guardian's withdrawal or fee) never takes one: the paid
 * payment's deposit could then never be booked, or would be counted as booked already.
 */
async function notAPaymentsId(t: Tx, id: string): Promise<void> {
  const [intent] = await t.sql.query('SELECT 1 FROM payment_intents WHERE id = $1', [id]);
  if (intent) throw new KantineError('entry_id_reused', `${id} is a payment's id`);
}

function positive(amount_ore: number): void {
  if (!Number.isSafeInteger(amount_ore) || amount_ore <= 0) {
    throw new KantineError('invalid_request', 'an amount is a positive whole number of øre');
  }
}
