/**
 * One-off top-up by card (issue 19, rule 5): whole kroner, within the per-payment minimum and
 * maximum, never taking the balance (with the account's pending top-ups) above the municipality's
 * maximum, not to a blocked account — neither when it starts nor when it is paid (then it is
 * refunded). The deposit is booked only when the intent is verified paid, in that transaction,
 * with the intent's id as the entry's id; the receipt mail goes with it.
 */
import { KantineError } from '@kantine/protocol';
import { canteenCardBlocked, lockAccount } from '../accounts/rows.ts';
import type { Tx } from '../db/tx.ts';
import { queueMail } from '../mail/outbox.ts';
import type { MoneyService } from '../money/money.ts';
import type { CreatedIntent, Intent, PaymentIntents } from './intents.ts';

export interface TopupRequest {
  account_id: string;
  person_id: string;
  amount_ore: number;
}

/** Where the provider sends the browser back: the portal's page that shows central's state. */
export const topupReturnPath = (account_id: string) => `/konti/${account_id}/indbetal/{intent}`;

export class TopupService {
  constructor(
    readonly intents: PaymentIntents,
    private readonly money: MoneyService,
  ) {
    intents.onPaid('topup', (t, intent) => this.credit(t, intent));
    // Blocked after the checkout began (a lost card): the payment goes back to the guardian's card.
    intents.onRefuse('topup', async (t, intent) => {
      await lockAccount(t, intent.account_id); // a block takes it too: checked before it, or after it
      return canteenCardBlocked(t, intent.account_id);
    });
  }

  /** The limits as the portal shows them, in øre. */
  get limits(): { min_ore: number; max_ore: number; max_balance_ore: number } {
    const r = this.intents.config.topup;
    return { min_ore: r.min_kr * 100, max_ore: r.max_kr * 100, max_balance_ore: r.max_balance_kr * 100 };
  }

  /** Starts a top-up: the intent is written, the provider asked; the buyer's browser goes to `checkout_url`. */
  async start(r: TopupRequest): Promise<CreatedIntent> {
    const { min_ore, max_ore, max_balance_ore } = this.limits;
    if (
      !Number.isSafeInteger(r.amount_ore) ||
      r.amount_ore % 100 !== 0 ||
      r.amount_ore < min_ore ||
      r.amount_ore > max_ore
    )
      throw new KantineError('topup_amount_invalid', undefined, [
        `/amount_ore whole kroner from ${min_ore / 100} to ${max_ore / 100} kr (in øre: a multiple of 100)`,
      ]);
    return this.intents.create({
      purpose: 'topup',
      account_id: r.account_id,
      amount_ore: r.amount_ore,
      person_id: r.person_id,
      return_path: topupReturnPath(r.account_id),
      check: async (t, account) => {
        if (await canteenCardBlocked(t, r.account_id)) throw new KantineError('account_blocked');
        const [pending] = await t.sql.query<{ sum: number | string }>(
          `SELECT COALESCE(SUM(amount_ore), 0)::bigint AS sum FROM payment_intents
            WHERE account_id = $1 AND purpose = 'topup' AND state IN ('created', 'pending') AND expires_at > $2`,
          [r.account_id, t.now],
        );
        const after = Number(account.balance_ore) + Number(pending?.sum ?? 0) + r.amount_ore;
        if (after > max_balance_ore)
          throw new KantineError('topup_over_max_balance', undefined, [
            `/amount_ore the balance may reach at most ${max_balance_ore / 100} kr (pending top-ups count)`,
          ]);
      },
    });
  }

  /** The intent is verified paid: book the deposit (entry id = intent id) and queue the receipt. */
  private async credit(t: Tx, intent: Intent): Promise<void> {
    const balance = await this.money.depositIn(t, {
      id: intent.id,
      account_id: intent.account_id,
      amount_ore: intent.amount_ore,
    });
    await t.sql.query('UPDATE payment_intents SET entry_id = $2 WHERE id = $1', [intent.id, intent.id]);
    if (!intent.person_id) return;
    const [who] = await t.sql.query<{ email: string | null; child: string }>(
      `SELECT p.email, a.first_name AS child FROM accounts a LEFT JOIN people p ON p.id = $2 WHERE a.id = $1`,
      [intent.account_id, intent.person_id],
    );
    if (!who?.email) return;
    await queueMail(
      t.sql,
      t.now,
      who.email,
      {
        type: 'topup_receipt',
        child_name: who.child,
        amount_ore: intent.amount_ore,
        balance_ore: balance,
        paid_at: t.now,
        payment_ref: intent.provider_payment_id ?? intent.id,
      },
      { key: intent.id },
    );
  }
}
