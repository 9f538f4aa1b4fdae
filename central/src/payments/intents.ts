/**
 * Payment intents: money coming in through the payment provider, for any purpose (`topup` here;
 * `agreement` — a card kept on file for automatic top-up — and `order` — the webshop — build on it).
 *
 * 1. `create` writes the intent (state `created`) in its own transaction, with the purpose's own
 *    checks under the account's lock, and only then asks the provider for a checkout: the intent
 *    id is the provider's order reference and idempotency key. The intent becomes `pending` with
 *    the provider's payment id, or `failed` when the provider could not be asked (nothing to pay).
 * 2. Nothing the browser brings counts. A webhook is verified (`verifyWebhook`, raw body) and is
 *    then only a hint: `settle` asks the provider (`getPayment`) and applies its answer. The
 *    reconciler asks too, for intents no webhook settled, with back-off, and expires old ones.
 * 3. `paid` is set once, under the intent's row lock, in the same transaction as the purpose's
 *    `onPaid` handler (a top-up's deposit, whose entry id is the intent's id): unique keys on the
 *    provider payment id, the intent and its entry make a second credit impossible.
 * 4. Money central will not credit goes back at the provider, with an idempotency key (a retry
 *    refunds once), after the transaction that marks the intent so (`failure`): a payment of
 *    another amount than asked (`amount_mismatch` → `amount_mismatch_refunded`, state `failed`),
 *    a top-up paid after its intent expired (`paid_late` → `paid_late_refunded`), and a payment
 *    its purpose refuses when it is paid (`onRefuse`: a top-up to an account whose canteen card
 *    was blocked meanwhile — no deposit to a blocked account — `paid_blocked` →
 *    `paid_blocked_refunded`, state `failed`; once its refund is asked, never credited). An intent
 *    that expires while its checkout is open is cancelled at the provider
 *    (`cancelled_at_provider`), so a page left open cannot be paid. A refund or cancel the
 *    provider does not answer is asked again by the reconciler.
 */

import {
  isProviderUnreachable,
  type PaymentStatus,
  type PspAdapter,
  type WebhookEvent,
  type WebhookHeaders,
} from '@kantine/payments';
import { KantineError } from '@kantine/protocol';
import { v7 as uuidv7 } from 'uuid';
import { type AccountRow, lockAccount } from '../accounts/rows.ts';
import type { Store, Tx } from '../db/tx.ts';
import type { CentralPaymentsConfig } from './config.ts';

export type IntentPurpose = 'topup' | 'agreement' | 'order';
export const INTENT_PURPOSES: readonly IntentPurpose[] = ['topup', 'agreement', 'order'];

export type IntentState = 'created' | 'pending' | 'paid' | 'failed' | 'cancelled' | 'expired';
/** The states an intent can end in without money (each may still turn `paid` if the provider says so). */
export type EndedState = 'failed' | 'cancelled' | 'expired';

export interface Intent {
  id: string;
  purpose: IntentPurpose;
  account_id: string;
  /** Who started it (a person's id), or null (a machine: an automatic top-up). */
  person_id: string | null;
  amount_ore: number;
  /** The purpose's own reference (e.g. `{ order_id }`), as given to `create`. */
  ref: Record<string, unknown>;
  provider: string;
  provider_payment_id: string | null;
  checkout_url: string | null;
  state: IntentState;
  /** Why it failed: a decline code, `payment_provider_unreachable`, or the provider's word. */
  failure: string | null;
  /** The ledger entry it made (a top-up's deposit), if any. */
  entry_id: string | null;
  created_at: Date;
  updated_at: Date;
  paid_at: Date | null;
  expires_at: Date;
}

export interface CreateIntent {
  purpose: IntentPurpose;
  account_id: string;
  /** Integer øre; 0 only with `save_card_for_agreement` (a card check). */
  amount_ore: number;
  /** The purpose's own reference, kept as JSON on the intent. */
  ref?: Record<string, unknown>;
  /** Who asks (a person id). */
  person_id?: string | null;
  /** Ask the buyer to keep the card on file (an agreement for automatic top-up). */
  save_card_for_agreement?: boolean;
  /**
   * Where the browser goes after paying (and after cancelling, unless `cancel_path`): a path on
   * central starting with `/`; `{intent}` in it becomes the intent's id. Never proof of payment.
   */
  return_path: string;
  cancel_path?: string;
  /**
   * The purpose's own rules, run in the transaction that writes the intent, with the account row
   * locked (two requests at once are checked one after the other). Throw a coded error to refuse.
   */
  check?: (t: Tx, account: AccountRow) => Promise<void>;
}

export interface CreatedIntent {
  intent_id: string;
  payment_id: string;
  /** The provider's hosted payment page, for the buyer's browser. */
  checkout_url: string;
}

/** Runs inside the transaction that marks the intent paid; throwing rolls it all back (it stays unpaid). */
export type PaidHandler = (t: Tx, intent: Intent, status: PaymentStatus) => Promise<void>;
/**
 * Asked inside the crediting transaction, before `onPaid`: true if the payment must not be credited
 * now that it is paid (it is then refunded).
 */
export type RefuseHandler = (t: Tx, intent: Intent) => Promise<boolean>;

/** Runs inside the transaction that marks the intent failed, cancelled or expired. */
export type EndedHandler = (t: Tx, intent: Intent, state: EndedState) => Promise<void>;

interface IntentRow {
  id: string;
  purpose: IntentPurpose;
  account_id: string;
  person_id: string | null;
  amount_ore: number | string;
  ref: Record<string, unknown>;
  provider: string;
  provider_payment_id: string | null;
  checkout_url: string | null;
  state: IntentState;
  failure: string | null;
  entry_id: string | null;
  created_at: Date;
  updated_at: Date;
  paid_at: Date | null;
  expires_at: Date;
  checks: number;
}

const intentOf = (r: IntentRow): Intent => ({
  id: r.id,
  purpose: r.purpose,
  account_id: r.account_id,
  person_id: r.person_id,
  amount_ore: Number(r.amount_ore),
  ref: r.ref ?? {},
  provider: r.provider,
  provider_payment_id: r.provider_payment_id,
  checkout_url: r.checkout_url,
  state: r.state,
  failure: r.failure,
  entry_id: r.entry_id,
  created_at: r.created_at,
  updated_at: r.updated_at,
  paid_at: r.paid_at,
  expires_at: r.expires_at,
});

/** What one settle did: for logs and tests. `paid_late`: a top-up paid after it expired (refunded). */
export type SettleOutcome =
  | 'paid'
  | 'already_paid'
  | 'still_pending'
  | EndedState
  | 'unknown_payment'
  | 'mismatch'
  | 'paid_late'
  | 'refused';

/**
 * Why central gives a paid payment back instead of crediting it: another amount than asked, paid
 * after the intent expired, refused by its purpose (a blocked card). An intent's `failure` is the
 * reason while the refund waits for the provider's answer, `<reason>_refunded` once it is made.
 */
export const REFUND_REASONS = ['amount_mismatch', 'paid_late', 'paid_blocked'] as const;
export type RefundReason = (typeof REFUND_REASONS)[number];

/** The reason central gives an intent's payment back (its refund asked or made), if it does. */
export function refundReason(failure: string | null | undefined): RefundReason | undefined {
  return REFUND_REASONS.find((r) => failure === r || failure === `${r}_refunded`);
}

/** `failure` values of intents that need nothing more from the provider (a webhook is not fetched for them). */
const DONE_FAILURES = [...REFUND_REASONS.map((r) => `${r}_refunded`), 'cancelled_at_provider'];
/**
 * `failure` values of `failed` intents whose refund the provider has not yet confirmed (a late
 * payment's intent stays `expired`). The reconciler's query names them as literals, so that its
 * partial index (schema 23, the same list) applies.
 */
const REFUND_PENDING: readonly RefundReason[] = ['amount_mismatch', 'paid_blocked'];
const REFUND_PENDING_SQL = REFUND_PENDING.map((r) => `'${r}'`).join(', ');
/** What `settle` says of a payment given back, by its reason. */
const REFUND_OUTCOME: Record<RefundReason, SettleOutcome> = {
  amount_mismatch: 'mismatch',
  paid_late: 'paid_late',
  paid_blocked: 'refused',
};
/** What `apply` leaves to do at the provider once its transaction committed. */
interface FollowUp {
  refund?: { payment_id: string; amount_ore: number; key: string; pending: string; done: string };
  cancel?: string;
}
/** Purposes whose payment after the intent expired is refunded, not credited (an order refunds its own late payments). */
const REFUND_LATE: readonly IntentPurpose[] = ['topup'];

const MAX_BACKOFF_S = 3600;
/** An expired payment is still asked about this long: a guardian may pay on a page left open, and a webhook may be lost. */
const LATE_PAYMENT_DAYS = 7;

/** Intents and the provider behind them. One per central (all state in the database). */
export class PaymentIntents {
  private readonly paid = new Map<IntentPurpose, PaidHandler>();
  private readonly ended = new Map<IntentPurpose, EndedHandler>();
  private readonly refusals = new Map<IntentPurpose, RefuseHandler>();
  /** Told of what it cannot settle (an amount that differs, a handler that threw). */
  onProblem: ((problem: string, intent_id: string) => void) | undefined;

  constructor(
    private readonly store: Store,
    readonly adapter: PspAdapter,
    readonly config: CentralPaymentsConfig,
    /** Central's address as browsers reach it (no trailing slash). */
    readonly publicUrl: string,
  ) {}

  /** Registers what a purpose does when its intent is verified paid (inside the crediting transaction). One per purpose. */
  onPaid(purpose: IntentPurpose, handler: PaidHandler): void {
    if (this.paid.has(purpose)) throw new Error(`payments: ${purpose} already has an onPaid handler`);
    this.paid.set(purpose, handler);
  }

  /** Registers what makes a purpose refuse a payment once it is paid (it is refunded, not credited). One per purpose. */
  onRefuse(purpose: IntentPurpose, handler: RefuseHandler): void {
    if (this.refusals.has(purpose)) throw new Error(`payments: ${purpose} already has an onRefuse handler`);
    this.refusals.set(purpose, handler);
  }

  /** Registers what a purpose does when its intent fails, is cancelled or expires. One per purpose. */
  onEnded(purpose: IntentPurpose, handler: EndedHandler): void {
    if (this.ended.has(purpose)) throw new Error(`payments: ${purpose} already has an onEnded handler`);
    this.ended.set(purpose, handler);
  }

  /** Writes the intent, then asks the provider for a checkout. */
  async create(c: CreateIntent): Promise<CreatedIntent> {
    if (!INTENT_PURPOSES.includes(c.purpose)) throw new Error(`payments: unknown purpose ${c.purpose}`);
    const allowZero = c.save_card_for_agreement === true;
    if (!Number.isSafeInteger(c.amount_ore) || c.amount_ore < (allowZero ? 0 : 1))
      throw new KantineError('invalid_request', 'an amount is a positive whole number of øre', ['/amount_ore']);
    if (!c.return_path.startsWith('/') || c.return_path.startsWith('//'))
      throw new Error('payments: return_path is a path on central');
    const id = uuidv7();
    await this.store.tx(async (t) => {
      const account = await lockAccount(t, c.account_id);
      await c.check?.(t, account);
      await t.sql.query(
        `INSERT INTO payment_intents (id, purpose, account_id, person_id, amount_ore, ref, provider, state,
                                      created_at, updated_at, expires_at, next_check_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'created', $8, $8, $9, $10)`,
        [
          id,
          c.purpose,
          c.account_id,
          c.person_id ?? null,
          c.amount_ore,
          JSON.stringify(c.ref ?? {}),
          this.adapter.provider,
          t.now,
          new Date(t.now.getTime() + this.config.expire_after_minutes * 60_000),
          new Date(t.now.getTime() + this.config.check_after_s * 1000),
        ],
      );
    });
    const url = (path: string) => `${this.publicUrl}${path.replaceAll('{intent}', id)}`;
    let checkout: { payment_id: string; checkout_url: string };
    try {
      checkout = await this.adapter.createCheckout({
        intent_id: id,
        amount_ore: c.amount_ore,
        return_url: url(c.return_path),
        cancel_url: url(c.cancel_path ?? c.return_path),
        terms_url: this.config.terms_url,
        ...(c.save_card_for_agreement ? { save_card_for_agreement: true } : {}),
      });
    } catch (err) {
      // Nothing to pay: the buyer never saw a page. (Had the provider made the payment before the
      // answer was lost, no one has its address; a retry is a new intent.)
      const failure = err instanceof KantineError ? err.code : 'internal_error';
      await this.store.tx(async (t) => {
        const [row] = await t.sql.query<IntentRow>(
          `UPDATE payment_intents SET state = 'failed', failure = $2, updated_at = $3
            WHERE id = $1 AND state = 'created' RETURNING *`,
          [id, failure, t.now],
        );
        if (row) await this.ended.get(c.purpose)?.(t, intentOf(row), 'failed');
      });
      throw err;
    }
    await this.store.tx(async (t) => {
      await t.sql.query(
        `UPDATE payment_intents SET state = 'pending', provider_payment_id = $2, checkout_url = $3, updated_at = $4,
                failure = NULL
          WHERE id = $1 AND provider_payment_id IS NULL AND state IN ('created', 'expired')`,
        [id, checkout.payment_id, checkout.checkout_url, t.now],
      );
    });
    return { intent_id: id, payment_id: checkout.payment_id, checkout_url: checkout.checkout_url };
  }

  async get(id: string): Promise<Intent | undefined> {
    const [row] = await this.store.db.query<IntentRow>('SELECT * FROM payment_intents WHERE id = $1', [id]);
    return row ? intentOf(row) : undefined;
  }

  /**
   * An intent as it is now: a pending one is first asked about at the provider (its stored payment
   * id, never anything the browser brought). An unreachable provider leaves it as central knows it.
   */
  async current(id: string): Promise<Intent | undefined> {
    const intent = await this.get(id);
    if (intent?.state !== 'pending' || !intent.provider_payment_id) return intent;
    try {
      await this.settle(intent.provider_payment_id);
    } catch (err) {
      if (!isProviderUnreachable(err)) this.onProblem?.(`refresh: ${(err as Error).message}`, id);
    }
    return this.get(id);
  }

  async byPayment(payment_id: string): Promise<Intent | undefined> {
    const [row] = await this.store.db.query<IntentRow>('SELECT * FROM payment_intents WHERE provider_payment_id = $1', [
      payment_id,
    ]);
    return row ? intentOf(row) : undefined;
  }

  /** An account's intents, newest first (optionally of one purpose). */
  async ofAccount(account_id: string, purpose?: IntentPurpose, limit = 200): Promise<Intent[]> {
    const rows = await this.store.db.query<IntentRow>(
      `SELECT * FROM payment_intents WHERE account_id = $1 AND ($2::text IS NULL OR purpose = $2)
        ORDER BY created_at DESC, id DESC LIMIT $3`,
      [account_id, purpose ?? null, limit],
    );
    return rows.map(intentOf);
  }

  /**
   * A webhook: checked against its raw body, recorded once per event, then the payment is asked
   * about. Throws `payment_webhook_refused` (forged) or `payment_provider_unreachable` (the
   * provider should send it again).
   */
  async webhook(
    headers: WebhookHeaders,
    rawBody: Buffer | string,
  ): Promise<{ event: WebhookEvent; outcome: SettleOutcome }> {
    const event = this.adapter.verifyWebhook(headers, rawBody);
    await this.store.tx(async (t) => {
      await t.sql.query(
        `INSERT INTO payment_webhooks (provider, event_id, type, payment_id, received_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (provider, event_id) DO UPDATE SET deliveries = payment_webhooks.deliveries + 1`,
        [
          this.adapter.provider,
          event.event_id.slice(0, 200),
          event.type.slice(0, 200),
          event.payment_id.slice(0, 200),
          t.now,
        ],
      );
    });
    const outcome = await this.settle(event.payment_id);
    return { event, outcome };
  }

  /**
   * Asks the provider about a payment and applies its answer. Safe to call any number of times,
   * from any worker, in any order: only the first `paid` credits.
   */
  async settle(payment_id: string): Promise<SettleOutcome> {
    const known = await this.byPayment(payment_id);
    if (!known) return 'unknown_payment';
    if (known.state === 'paid') return 'already_paid';
    // Settled for good (a webhook sent again, or one about our own refund or cancel): no provider
    // call. The daily reconciliation check still asks the provider about every payment.
    if (settledForGood(known)) return known.state as EndedState;
    const status = await this.adapter.getPayment(payment_id);
    return this.applyAndFollow(known.id, status);
  }

  /** `apply`, then what it left to do at the provider (a refund, a cancel); an unanswered one is retried by the reconciler. */
  private async applyAndFollow(intent_id: string, status: PaymentStatus, mayCancel = true): Promise<SettleOutcome> {
    const { outcome, follow } = await this.apply(intent_id, status, mayCancel);
    try {
      if (follow.refund) {
        const r = follow.refund;
        await this.adapter.refund(r.payment_id, r.amount_ore, r.key);
        await this.store.db.query(
          'UPDATE payment_intents SET failure = $3, updated_at = $4 WHERE id = $1 AND failure = $2',
          [intent_id, r.pending, r.done, this.store.clock.now()],
        );
      }
      if (follow.cancel) {
        const after = await this.adapter.cancelPayment(follow.cancel);
        // Cancelled: marked so. Paid meanwhile (the buyer was quicker): refunded, as a late payment.
        await this.applyAndFollow(intent_id, after, false);
      }
    } catch (err) {
      if (!isProviderUnreachable(err)) this.onProblem?.(`follow-up: ${(err as Error).message}`, intent_id);
    }
    return outcome;
  }

  /**
   * Applies the provider's answer about an intent's payment (under the intent's row lock), and says
   * what is left to do at the provider after the commit (`mayCancel`: an expired checkout still
   * open is cancelled there; false once it has been asked).
   */
  private async apply(
    intent_id: string,
    status: PaymentStatus,
    mayCancel: boolean,
  ): Promise<{ outcome: SettleOutcome; follow: FollowUp }> {
    const follow: FollowUp = {};
    const outcome = await this.store.tx(async (t): Promise<SettleOutcome> => {
      const [row] = await t.sql.query<IntentRow>('SELECT * FROM payment_intents WHERE id = $1 FOR UPDATE', [intent_id]);
      if (!row) return 'unknown_payment';
      const intent = intentOf(row);
      if (intent.state === 'paid') return 'already_paid';
      if (status.payment_id !== intent.provider_payment_id) return 'unknown_payment';
      const setFailure = async (failure: string, state: IntentState = intent.state) => {
        const [done] = await t.sql.query<IntentRow>(
          `UPDATE payment_intents SET state = $2, failure = $3, updated_at = $4, next_check_at = $5 WHERE id = $1 RETURNING *`,
          [intent.id, state, failure, t.now, new Date(t.now.getTime() + this.config.check_after_s * 1000)],
        );
        // Ended now (it was still open): the purpose hears it once.
        if (done && state !== intent.state && (intent.state === 'created' || intent.state === 'pending'))
          await this.ended.get(intent.purpose)?.(t, intentOf(done), state as EndedState);
      };
      if (status.state === 'paid') {
        const refunded = refundReason(intent.failure);
        if (refunded && intent.failure === `${refunded}_refunded`) return REFUND_OUTCOME[refunded];
        const left = status.amount_ore - (status.refunded_ore ?? 0);
        const open = intent.state === 'created' || intent.state === 'pending';
        // Not credited: marked in this transaction, given back after it (all that is left, once by its key).
        const giveBack = async (reason: RefundReason, key: string, state: IntentState) => {
          await setFailure(left > 0 ? reason : `${reason}_refunded`, state);
          if (left > 0)
            follow.refund = {
              payment_id: status.payment_id,
              amount_ore: left,
              key: `${key}-${intent.id}`,
              pending: reason,
              done: `${reason}_refunded`,
            };
          return REFUND_OUTCOME[reason];
        };
        if (status.amount_ore !== intent.amount_ore) {
          // The provider took another amount than we asked: never credited, never guessed — the
          // money goes back (all of it, once by its key) and reconciliation shows the intent.
          this.onProblem?.(
            `provider says ${status.amount_ore} øre paid, the intent asked ${intent.amount_ore}; refunding it`,
            intent.id,
          );
          return giveBack('amount_mismatch', 'mismatch', open ? 'failed' : intent.state);
        }
        if (intent.state === 'expired' && REFUND_LATE.includes(intent.purpose)) {
          // Paid after central gave up on it (a page left open, the cancel too late): given back.
          this.onProblem?.('paid after the intent expired; refunding it', intent.id);
          return giveBack('paid_late', 'late', intent.state);
        }
        if (intent.failure === 'paid_blocked' || (await this.refusals.get(intent.purpose)?.(t, intent))) {
          // The purpose will not have it (a top-up to an account whose card was blocked meanwhile):
          // given back, once by its key. Once its refund is asked, never credited, though the card
          // be unblocked: the refund may have been made and its answer lost.
          return giveBack('paid_blocked', 'refused', open ? 'failed' : intent.state);
        }
        const handler = this.paid.get(intent.purpose);
        if (!handler) throw new Error(`payments: no onPaid handler for ${intent.purpose}`);
        const [done] = await t.sql.query<IntentRow>(
          `UPDATE payment_intents SET state = 'paid', paid_at = $2, updated_at = $2, failure = NULL
            WHERE id = $1 AND state <> 'paid' RETURNING *`,
          [intent.id, t.now],
        );
        if (!done) return 'already_paid';
        await handler(t, intentOf(done), status);
        return 'paid';
      }
      if (status.state === 'failed' || status.state === 'cancelled') {
        // An expired intent's checkout ended at the provider (our cancel, or the buyer's): nothing more to ask.
        if (intent.state === 'expired') {
          if (intent.failure !== 'cancelled_at_provider') await setFailure('cancelled_at_provider');
          return 'expired';
        }
        const state: EndedState = status.state;
        if (intent.state === state) return state;
        const [done] = await t.sql.query<IntentRow>(
          `UPDATE payment_intents SET state = $2, failure = $3, updated_at = $4 WHERE id = $1 RETURNING *`,
          [intent.id, state, status.failure ?? (state === 'cancelled' ? 'cancelled' : 'payment_declined'), t.now],
        );
        if (done) await this.ended.get(intent.purpose)?.(t, intentOf(done), state);
        return state;
      }
      // Still pending at the provider: expire it once it is old, and cancel its checkout there.
      if (intent.state === 'pending' && t.now >= intent.expires_at) {
        const [done] = await t.sql.query<IntentRow>(
          `UPDATE payment_intents SET state = 'expired', updated_at = $2 WHERE id = $1 RETURNING *`,
          [intent.id, t.now],
        );
        if (done) await this.ended.get(intent.purpose)?.(t, intentOf(done), 'expired');
        if (mayCancel) follow.cancel = status.payment_id;
        return 'expired';
      }
      if (intent.state === 'expired') {
        if (mayCancel) follow.cancel = status.payment_id; // the last cancel was not answered
        return 'expired';
      }
      return 'still_pending';
    });
    return { outcome, follow };
  }

  /**
   * One round of the reconciler: claims up to `limit` intents due a check (SKIP LOCKED: two
   * workers take different ones), moves each one's next check out (back-off: check_after_s × 2^n,
   * at most an hour), then asks the provider about each. Intents that never reached the provider
   * and old ones are expired and cancelled at the provider; expired ones whose cancel was not
   * answered are still asked about for a week (a top-up paid late is refunded), as are payments
   * of another amount whose refund was not answered. Returns how many it looked at.
   */
  async reconcile(limit = 20): Promise<number> {
    const claimed = await this.store.tx(async (t) => {
      const rows = await t.sql.query<IntentRow>(
        `SELECT * FROM payment_intents
          WHERE (state IN ('created', 'pending')
                 OR (state = 'expired' AND provider_payment_id IS NOT NULL AND expires_at > $3
                     AND failure IS DISTINCT FROM 'cancelled_at_provider'
                     AND failure IS DISTINCT FROM 'paid_late_refunded')
                 OR (state = 'failed' AND failure IN (${REFUND_PENDING_SQL})))
            AND next_check_at <= $1
          ORDER BY next_check_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [t.now, limit, new Date(t.now.getTime() - LATE_PAYMENT_DAYS * 86_400_000)],
      );
      for (const r of rows) {
        const wait = Math.min(this.config.check_after_s * 2 ** Math.min(r.checks + 1, 20), MAX_BACKOFF_S);
        await t.sql.query('UPDATE payment_intents SET next_check_at = $2, checks = checks + 1 WHERE id = $1', [
          r.id,
          new Date(t.now.getTime() + wait * 1000),
        ]);
      }
      return rows.map(intentOf);
    });
    for (const intent of claimed) {
      if (intent.provider_payment_id === null) {
        // Still asking the provider (a slow answer) is not "never sent": wait out its timeout first.
        const asking = intent.created_at.getTime() + this.config.request_timeout_ms + 5_000;
        if (this.store.clock.now().getTime() >= asking) await this.expireUnsent(intent.id);
        continue;
      }
      try {
        const status = await this.adapter.getPayment(intent.provider_payment_id);
        await this.applyAndFollow(intent.id, status);
      } catch (err) {
        if (isProviderUnreachable(err)) continue; // asked again at the next check
        this.onProblem?.(`reconciler: ${(err as Error).message}`, intent.id);
      }
    }
    return claimed.length;
  }

  /**
   * Voids at the provider the account's checkouts of `purpose` still open (the guardian cancelled
   * what they were for). An unanswered cancel is left: what the checkout does when paid decides.
   */
  async cancelOpen(account_id: string, purpose: IntentPurpose): Promise<void> {
    const open = await this.store.db.query<IntentRow>(
      `SELECT * FROM payment_intents WHERE account_id = $1 AND purpose = $2 AND state = 'pending'`,
      [account_id, purpose],
    );
    for (const i of open) {
      try {
        const status = await this.adapter.cancelPayment(i.provider_payment_id as string);
        await this.applyAndFollow(i.id, status, false);
      } catch (err) {
        if (!isProviderUnreachable(err)) this.onProblem?.(`cancel: ${(err as Error).message}`, i.id);
      }
    }
  }

  /** An intent still `created` at its first check never got a checkout (the process stopped between): expired. */
  private async expireUnsent(id: string): Promise<void> {
    await this.store.tx(async (t) => {
      const [done] = await t.sql.query<IntentRow>(
        `UPDATE payment_intents SET state = 'expired', failure = 'no_checkout', updated_at = $2
          WHERE id = $1 AND state = 'created' RETURNING *`,
        [id, t.now],
      );
      if (done) await this.ended.get(done.purpose)?.(t, intentOf(done), 'expired');
    });
  }
}

/** An intent no webhook needs to fetch again: ended at the provider, or its money given back. */
function settledForGood(i: Intent): boolean {
  if (i.failure !== null && DONE_FAILURES.includes(i.failure)) return true;
  return (i.state === 'failed' || i.state === 'cancelled') && !REFUND_PENDING.some((r) => r === i.failure);
}
