/**
 * Automatic top-up at central (issue 19 rule 6): a guardian's agreement (a stored card at the
 * payment provider), the sites' requests after a purchase left an account under the threshold,
 * the off-session charges, and what a failure does (reason, mail, suspension). And the low-balance
 * alert (rule 9). A site only asks: central checks every request against its own books (a lying
 * site gets nothing beyond what the agreement allows) and answers down the link.
 */
import { randomUUID } from 'node:crypto';
import { type CardAgreement, isDeclined, isProviderUnreachable, type PspAdapter } from '@kantine/payments';
import { type Code, KantineError, type UpChange } from '@kantine/protocol';
import { DateTime } from 'luxon';
import { canteenCardBlocked, linkAccount, lockAccount, sitesOf } from '../accounts/rows.ts';
import type { Store, Tx } from '../db/tx.ts';
import { appendDown } from '../link/down-log.ts';
import type { Refusal } from '../link/link.ts';
import { queueMail } from '../mail/outbox.ts';
import type { AutoTopupFailure } from '../mail/templates.ts';
import type { MoneyService } from '../money/money.ts';
import type { PaymentIntents } from '../payments/intents.ts';
import { AUTOTOPUP_DEFAULTS, type AutotopupConfig } from './config.ts';

export type AgreementState = 'active' | 'suspended' | 'cancelled';

export interface Agreement {
  id: string;
  account_id: string;
  person_id: string;
  amount_ore: number;
  threshold_ore: number;
  provider: string;
  provider_agreement_id: string;
  card_expiry: string;
  /** The stored card's last four digits, when the provider told them. */
  card_last4: string | null;
  state: AgreementState;
  failures: number;
  created_at: Date;
  updated_at: Date;
}

export interface ChargeRow {
  id: string;
  account_id: string;
  agreement_id: string | null;
  site_id: string;
  request_id: string;
  trigger_entry_id: string;
  amount_ore: number;
  state: 'pending' | 'deposited' | 'failed';
  reason: string | null;
  payment_id: string | null;
  deposit_entry_id: string | null;
  attempts: number;
  created_at: Date;
  settled_at: Date | null;
}

const ZONE = 'Europe/Copenhagen';
/** A claimed charge is left to other workers after this long (a worker that died mid-call). */
const LEASE_MS = 60_000;
const RETRY_MAX_MS = 3_600_000;
const CHARGES_PER_TICK = 20;

const AGREEMENT_COLUMNS = `id, account_id, person_id, amount_ore::int AS amount_ore, threshold_ore::int AS threshold_ore,
  provider, provider_agreement_id, card_expiry, card_last4, state, failures, created_at, updated_at`;
const CHARGE_COLUMNS = `id, account_id, agreement_id, site_id, request_id, trigger_entry_id, amount_ore::int AS amount_ore,
  state, reason, payment_id, deposit_entry_id, attempts, created_at, settled_at`;

/** The mail's words for a failure, by our code. */
function failureOf(code: string): AutoTopupFailure {
  switch (code) {
    case 'payment_card_expired':
      return 'card_expired';
    case 'payment_insufficient_funds':
      return 'insufficient_funds';
    case 'payment_card_blocked':
      return 'payment_card_blocked';
    case 'account_blocked':
      return 'canteen_card_blocked';
    default:
      return 'declined';
  }
}

type TopupChange = Extract<UpChange, { kind: 'topup' }>;

export class AutoTopupService {
  readonly config: AutotopupConfig;
  /** Set when a request queued a charge: the caller runs `work` soon (the service's timer does anyway). */
  onQueued: (() => void) | undefined;
  /** A problem a worker could not settle (logged by the service). */
  onError: ((err: Error, charge_id: string) => void) | undefined;

  /** The payment provider (the config's `payments` section); without it nothing is charged. */
  readonly psp: PspAdapter | undefined;

  constructor(
    private readonly store: Store,
    private readonly money: MoneyService,
    config: Partial<AutotopupConfig> | undefined,
    private readonly payments: PaymentIntents | undefined,
  ) {
    this.config = { ...AUTOTOPUP_DEFAULTS, ...config };
    this.psp = payments?.adapter;
    // The agreement's checkout (a card check that keeps the card) paid: the agreement is made, in
    // the transaction that marks the intent paid (once, whatever webhooks come twice).
    payments?.onPaid('agreement', async (t, intent, status) => {
      const amount = Number(intent.ref.amount_ore);
      if (!status.agreement || !intent.person_id || !Number.isSafeInteger(amount) || amount <= 0) {
        this.onError?.(new Error('a paid agreement checkout without a card agreement'), intent.id);
        return;
      }
      // The guardian cancelled the account's agreement after this checkout began: a checkout that
      // completes late must not make it again. The card it kept is revoked at the provider.
      await lockAccount(t, intent.account_id);
      const [cancelledSince] = await t.sql.query(
        `SELECT 1 FROM autotopup_agreements WHERE account_id = $1 AND state = 'cancelled' AND updated_at >= $2`,
        [intent.account_id, intent.created_at],
      );
      if (cancelledSince) {
        await queueRevocation(t, { provider: intent.provider, provider_agreement_id: status.agreement.id });
        await t.sql.query(`UPDATE payment_intents SET failure = 'agreement_cancelled' WHERE id = $1`, [intent.id]);
        this.onQueued?.();
        return;
      }
      await this.activateIn(t, {
        account_id: intent.account_id,
        person_id: intent.person_id,
        amount_ore: amount,
        provider: intent.provider,
        agreement: status.agreement,
      });
    });
  }

  /**
   * Starts the provider's hosted checkout that keeps the guardian's card for automatic top-up
   * (consent to card on file, the amount): a new agreement, or a new card for the account's
   * agreement (`amount_ore` omitted: the agreement's own). Nothing changes until it is paid.
   */
  async startCheckout(input: {
    account_id: string;
    person_id: string;
    amount_ore?: number;
  }): Promise<{ intent_id: string; checkout_url: string }> {
    if (!this.payments) throw new KantineError('payments_not_configured');
    const live = await this.agreement(input.account_id);
    const amount = input.amount_ore ?? live?.amount_ore;
    if (amount === undefined) throw new KantineError('autotopup_amount_invalid', 'an agreement needs an amount');
    this.checkAmount(amount);
    const created = await this.payments.create({
      purpose: 'agreement',
      account_id: input.account_id,
      amount_ore: 0,
      ref: { amount_ore: amount, ...(live ? { replaces: live.id } : {}) },
      person_id: input.person_id,
      save_card_for_agreement: true,
      return_path: `/konti/${input.account_id}/automatisk-optankning?betaling={intent}`,
      check: async (t) => {
        if (await canteenCardBlocked(t, input.account_id)) throw new KantineError('account_blocked');
      },
    });
    return { intent_id: created.intent_id, checkout_url: created.checkout_url };
  }

  // ── Agreements ─────────────────────────────────────────────────────────────────────────────

  /** The account's live agreement (active or suspended), if any. */
  async agreement(accountId: string): Promise<Agreement | undefined> {
    const [row] = await this.store.db.query<Agreement>(
      `SELECT ${AGREEMENT_COLUMNS} FROM autotopup_agreements WHERE account_id = $1 AND state <> 'cancelled'`,
      [accountId],
    );
    return row;
  }

  /** The account's charges, newest first. */
  async charges(accountId: string, limit = 10): Promise<ChargeRow[]> {
    return this.store.db.query<ChargeRow>(
      `SELECT ${CHARGE_COLUMNS} FROM autotopup_charges WHERE account_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
      [accountId, limit],
    );
  }

  /** Whether `amount_ore` is an amount a guardian may choose (whole kroner within the limits). */
  checkAmount(amount_ore: number): void {
    if (
      !Number.isSafeInteger(amount_ore) ||
      amount_ore % 100 !== 0 ||
      amount_ore < this.config.min_amount_ore ||
      amount_ore > this.config.max_amount_ore
    )
      throw new KantineError('autotopup_amount_invalid', undefined, [
        `${this.config.min_amount_ore / 100}–${this.config.max_amount_ore / 100} kr`,
      ]);
  }

  /**
   * A checkout with `save_card_for_agreement` was paid (verified at the provider): the card is on
   * file. Makes the account's agreement, or — the account has one — replaces its card in one step
   * (active again, failures forgotten); the old card's agreement is revoked at the provider only
   * now that the new one is verified (queued here, revoked by `work` after the commit). Runs in
   * the caller's transaction (the intent's `onPaid`); idempotent by the provider's agreement id.
   */
  async activateIn(
    t: Tx,
    input: { account_id: string; person_id: string; amount_ore: number; provider: string; agreement: CardAgreement },
  ): Promise<Agreement> {
    await lockAccount(t, input.account_id);
    const [same] = await t.sql.query<Agreement>(
      `SELECT ${AGREEMENT_COLUMNS} FROM autotopup_agreements WHERE provider = $1 AND provider_agreement_id = $2`,
      [input.provider, input.agreement.id],
    );
    if (same) return same;
    const [live] = await t.sql.query<Agreement>(
      `SELECT ${AGREEMENT_COLUMNS} FROM autotopup_agreements WHERE account_id = $1 AND state <> 'cancelled' FOR UPDATE`,
      [input.account_id],
    );
    let id: string;
    if (live) {
      id = live.id;
      await t.sql.query(
        `UPDATE autotopup_agreements SET provider = $2, provider_agreement_id = $3, card_expiry = $4, amount_ore = $5,
           person_id = $6, state = 'active', failures = 0, expiry_warned_for = NULL, updated_at = $7, card_last4 = $8
         WHERE id = $1`,
        [
          id,
          input.provider,
          input.agreement.id,
          input.agreement.card_expiry,
          input.amount_ore,
          input.person_id,
          t.now,
          last4Of(input.agreement),
        ],
      );
      await queueRevocation(t, live);
    } else {
      id = randomUUID();
      await t.sql.query(
        `INSERT INTO autotopup_agreements (id, account_id, person_id, amount_ore, provider, provider_agreement_id,
           card_expiry, state, created_at, updated_at, card_last4)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $8, $9)`,
        [
          id,
          input.account_id,
          input.person_id,
          input.amount_ore,
          input.provider,
          input.agreement.id,
          input.agreement.card_expiry,
          t.now,
          last4Of(input.agreement),
        ],
      );
    }
    await setAccountTopup(t, input.account_id, input.amount_ore);
    const [row] = await t.sql.query<Agreement>(`SELECT ${AGREEMENT_COLUMNS} FROM autotopup_agreements WHERE id = $1`, [
      id,
    ]);
    this.onQueued?.(); // the old card's revocation
    return row as Agreement;
  }

  /** `activateIn` in a transaction of its own. */
  async activate(input: Parameters<AutoTopupService['activateIn']>[1]): Promise<Agreement> {
    return this.store.tx((t) => this.activateIn(t, input));
  }

  /** The guardian cancels: nothing is charged from now on; the card's agreement is revoked at the provider. */
  async cancel(accountId: string): Promise<Agreement> {
    const cancelled = await this.store.tx(async (t) => {
      await lockAccount(t, accountId);
      const [row] = await t.sql.query<Agreement>(
        `UPDATE autotopup_agreements SET state = 'cancelled', updated_at = $2
         WHERE account_id = $1 AND state <> 'cancelled' RETURNING ${AGREEMENT_COLUMNS}`,
        [accountId, t.now],
      );
      if (!row) throw new KantineError('autotopup_no_agreement');
      await setAccountTopup(t, accountId, null);
      await queueRevocation(t, row);
      return row;
    });
    this.onQueued?.();
    // A checkout still open for this account (a new card, say) is voided at the provider; one that
    // completes anyway is refused by the agreement's onPaid (the cancel came after it began).
    await this.payments?.cancelOpen(accountId, 'agreement');
    return cancelled;
  }

  /**
   * Revokes at the provider the cards central no longer charges (a cancelled agreement, a
   * replaced card). Our side charges them no more either way; one the provider does not answer
   * is tried again at the next tick.
   */
  async revokeDue(): Promise<number> {
    if (!this.psp) return 0;
    const { db, clock } = this.store;
    const due = await db.query<{ provider: string; provider_agreement_id: string }>(
      `UPDATE autotopup_revocations r SET next_try_at = $2, attempts = attempts + 1
       FROM (SELECT provider, provider_agreement_id FROM autotopup_revocations
             WHERE done_at IS NULL AND next_try_at <= $1 AND provider = $3 LIMIT 20 FOR UPDATE SKIP LOCKED) d
       WHERE r.provider = d.provider AND r.provider_agreement_id = d.provider_agreement_id
       RETURNING r.provider, r.provider_agreement_id`,
      [clock.now(), new Date(clock.now().getTime() + this.config.retry_ms), this.psp.provider],
    );
    let done = 0;
    for (const r of due) {
      try {
        await this.psp.revokeAgreement(r.provider_agreement_id);
      } catch (err) {
        if (!(err instanceof KantineError && err.code === 'payment_not_found')) {
          this.onError?.(err as Error, `revoke ${r.provider_agreement_id}`);
          continue;
        }
      }
      await db.query(
        'UPDATE autotopup_revocations SET done_at = $3 WHERE provider = $1 AND provider_agreement_id = $2',
        [r.provider, r.provider_agreement_id, clock.now()],
      );
      done++;
    }
    return done;
  }

  // ── A site's request (inside the link's transaction) ─────────────────────────────────────

  /**
   * A site asks for the account's automatic top-up after its purchase `c.entry_id`. Checked
   * against central's books: the site serves the account, the purchase is the site's own and
   * booked here (it came earlier in the same log), the balance at central is under the
   * agreement's threshold, the agreement is active, no charge is in flight, the day's cap is not
   * reached, the canteen card is not blocked. Every request gets an answer down; a lie is also a
   * refusal (kept in refused_up and alarmed).
   */
  async request(t: Tx, site: string, c: TopupChange): Promise<Refusal | undefined> {
    const answer = async (code: Code, lie: boolean, message: string = code): Promise<Refusal | undefined> => {
      await appendDown(t, site, { kind: 'topup_result', request_id: c.request_id, outcome: 'failed', code });
      return lie ? { site, seq: c.seq, code, account_id: c.account_id, entry_id: c.entry_id, message } : undefined;
    };
    let account: Awaited<ReturnType<typeof lockAccount>>;
    try {
      account = await lockAccount(t, c.account_id);
    } catch {
      return answer('link_account_not_served', true, `no account ${c.account_id}`);
    }
    if (!(await sitesOf(t, c.account_id)).some((s) => s.id === site))
      return answer('link_account_not_served', true, `site ${site} does not serve ${c.account_id}`);
    const [purchase] = await t.sql.query(
      `SELECT 1 FROM entries WHERE id = $1 AND account_id = $2 AND origin = $3 AND kind = 'purchase'`,
      [c.entry_id, c.account_id, site],
    );
    if (!purchase)
      return answer('autotopup_unknown_purchase', true, `no purchase ${c.entry_id} of ${c.account_id} from ${site}`);
    const [seen] = await t.sql.query('SELECT 1 FROM autotopup_charges WHERE trigger_entry_id = $1', [c.entry_id]);
    if (seen) return answer('autotopup_unknown_purchase', true, `purchase ${c.entry_id} asked for a top-up before`);
    const [agreement] = await t.sql.query<Agreement>(
      `SELECT ${AGREEMENT_COLUMNS} FROM autotopup_agreements WHERE account_id = $1 AND state = 'active' FOR UPDATE`,
      [c.account_id],
    );
    if (!agreement || !this.psp || this.psp.provider !== agreement.provider)
      return answer('autotopup_no_agreement', false);
    if (account.balance_ore >= agreement.threshold_ore) return answer('autotopup_not_needed', false);
    const [inFlight] = await t.sql.query(
      `SELECT 1 FROM autotopup_charges WHERE account_id = $1 AND state = 'pending'`,
      [c.account_id],
    );
    if (inFlight) return answer('autotopup_in_flight', false);
    const dayStart = DateTime.fromJSDate(t.now).setZone(ZONE).startOf('day').toJSDate();
    const [{ n } = { n: 0 }] = await t.sql.query<{ n: number }>(
      `SELECT COUNT(*)::int AS n FROM autotopup_charges WHERE account_id = $1 AND created_at >= $2
         AND (state <> 'failed' OR reason = 'payment_provider_unreachable')`,
      [c.account_id, dayStart],
    );
    if (n >= this.config.max_charges_per_day) return answer('autotopup_daily_cap', false);
    const id = randomUUID();
    const blocked = await canteenCardBlocked(t, c.account_id);
    await t.sql.query(
      `INSERT INTO autotopup_charges (id, account_id, agreement_id, site_id, request_id, trigger_entry_id, amount_ore,
         state, next_try_at, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8)`,
      [id, c.account_id, agreement.id, site, c.request_id, c.entry_id, agreement.amount_ore, t.now],
    );
    if (blocked) {
      // Nothing is charged for a card that cannot be used; the guardian hears why.
      await this.fail(t, { id, account_id: c.account_id, site_id: site, request_id: c.request_id }, 'account_blocked');
      return undefined;
    }
    this.onQueued?.();
    return undefined;
  }

  // ── Charging ────────────────────────────────────────────────────────────────────────────

  /**
   * Charges what is due: each pending charge is claimed by one worker (a lease), charged at the
   * provider with the purchase as the idempotency key, and settled. A timeout leaves it pending
   * for a retry with the same key (never a second charge). Returns how many were settled.
   */
  async work(): Promise<number> {
    if (!this.psp) return 0;
    await this.revokeDue();
    await this.answerOverdue();
    const { db, clock } = this.store;
    const now = clock.now();
    const claimed = await db.query<
      ChargeRow & { provider_agreement_id: string | null; asked_card: string | null; agreement_state: string }
    >(
      `UPDATE autotopup_charges c SET next_try_at = $2, attempts = attempts + 1
       FROM (SELECT id FROM autotopup_charges WHERE state = 'pending' AND next_try_at <= $1
             ORDER BY next_try_at LIMIT $3 FOR UPDATE SKIP LOCKED) due
       WHERE c.id = due.id
       RETURNING c.id, c.account_id, c.agreement_id, c.site_id, c.request_id, c.trigger_entry_id,
         c.amount_ore::int AS amount_ore, c.state, c.attempts, c.provider_agreement_id AS asked_card,
         (SELECT provider_agreement_id FROM autotopup_agreements a WHERE a.id = c.agreement_id) AS provider_agreement_id,
         (SELECT state FROM autotopup_agreements a WHERE a.id = c.agreement_id) AS agreement_state`,
      [now, new Date(now.getTime() + LEASE_MS), CHARGES_PER_TICK],
    );
    let settled = 0;
    for (const charge of claimed) {
      try {
        if (await this.chargeOne(charge)) settled++;
      } catch (err) {
        this.onError?.(err as Error, charge.id);
      }
    }
    return settled;
  }

  /**
   * A site keeps one request per account open until central answers it. A charge whose outcome is
   * still unknown after `answer_within_ms` (the provider unreachable all along) is answered as
   * failed (`payment_provider_unreachable`), once, so the site may ask again after a later
   * purchase (central answers `autotopup_in_flight` while this charge is unresolved). Central keeps
   * asking the provider with the same key; its final answer goes down too (the site ignores a
   * second answer, and a deposit reaches it as any deposit does). Returns how many were answered.
   */
  async answerOverdue(): Promise<number> {
    return this.store.tx(async (t) => {
      const overdue = await t.sql.query<{ site_id: string; request_id: string }>(
        `UPDATE autotopup_charges SET site_answered_at = $1
         WHERE state = 'pending' AND site_answered_at IS NULL AND created_at <= $2
         RETURNING site_id, request_id`,
        [t.now, new Date(t.now.getTime() - this.config.answer_within_ms)],
      );
      for (const o of overdue)
        await appendDown(t, o.site_id, {
          kind: 'topup_result',
          request_id: o.request_id,
          outcome: 'failed',
          code: 'payment_provider_unreachable',
        });
      return overdue.length;
    });
  }

  private async chargeOne(
    charge: ChargeRow & { provider_agreement_id: string | null; asked_card: string | null; agreement_state: string },
  ): Promise<boolean> {
    const psp = this.psp as PspAdapter;
    // Cancelled or suspended before the first try: nothing was asked of the provider, so nothing is.
    // After a try whose outcome is unknown, the same key is asked again whatever happened since.
    if (charge.attempts === 1 && (charge.agreement_state !== 'active' || !charge.provider_agreement_id)) {
      await this.store.tx((t) => this.fail(t, charge, 'autotopup_no_agreement'));
      return true;
    }
    // The card asked first is asked on every retry: the agreement may have a new card by then, and
    // the same key on another card would be a second charge.
    const card = charge.asked_card ?? (charge.provider_agreement_id as string);
    if (charge.asked_card === null)
      await this.store.db.query('UPDATE autotopup_charges SET provider_agreement_id = $2 WHERE id = $1', [
        charge.id,
        card,
      ]);
    let payment_id: string;
    let taken: number;
    try {
      const paid = await psp.chargeAgreement({
        agreement_id: card,
        amount_ore: charge.amount_ore,
        idempotency_key: `autotopup:${charge.trigger_entry_id}`,
      });
      payment_id = paid.payment_id;
      taken = paid.amount_ore;
    } catch (err) {
      if (isProviderUnreachable(err)) {
        await this.later(charge);
        return false;
      }
      const code: Code = isDeclined(err) ? err.code : 'payment_declined';
      await this.store.tx((t) => this.fail(t, charge, code));
      return true;
    }
    if (taken !== charge.amount_ore) {
      // The provider took another amount than the agreement's: never credited, never guessed —
      // given back (all of it, once by its key), the charge failed with the reason; a refund not
      // answered is asked again at the next try (the charge's key replays the same payment).
      this.onError?.(new Error(`the provider took ${taken} øre, the charge asked ${charge.amount_ore}`), charge.id);
      await this.store.db.query(`UPDATE autotopup_charges SET payment_id = $2 WHERE id = $1 AND state = 'pending'`, [
        charge.id,
        payment_id,
      ]);
      try {
        await psp.refund(payment_id, taken, `autotopup-mismatch:${charge.id}`);
      } catch (err) {
        await this.later(charge);
        throw err;
      }
      await this.store.tx((t) => this.fail(t, charge, 'payment_amount_mismatch'));
      return true;
    }
    const depositId = `autotopup-${charge.id}`;
    // The deposit, the charge marked, the site's answer and the receipt: one transaction.
    const outcome = await this.store.tx(async (t): Promise<'deposited' | 'blocked' | 'settled'> => {
      const account = await lockAccount(t, charge.account_id);
      const [row] = await t.sql.query<{ state: string; reason: string | null }>(
        'SELECT state, reason FROM autotopup_charges WHERE id = $1 FOR UPDATE',
        [charge.id],
      );
      if (row?.state !== 'pending') return 'settled';
      // Once its refund is asked for, a charge is never deposited: the provider may have made the
      // refund though its answer was lost, so an unblock meanwhile changes nothing (same key again).
      if (row.reason === 'account_blocked' || (await canteenCardBlocked(t, charge.account_id))) {
        await t.sql.query(`UPDATE autotopup_charges SET reason = 'account_blocked', payment_id = $2 WHERE id = $1`, [
          charge.id,
          payment_id,
        ]);
        return 'blocked';
      }
      const balance = await this.money.depositIn(t, {
        id: depositId,
        account_id: charge.account_id,
        amount_ore: charge.amount_ore,
      });
      await t.sql.query(
        `UPDATE autotopup_charges SET state = 'deposited', payment_id = $2, deposit_entry_id = $3, settled_at = $4
         WHERE id = $1`,
        [charge.id, payment_id, depositId, t.now],
      );
      if (charge.agreement_id)
        await t.sql.query('UPDATE autotopup_agreements SET failures = 0, updated_at = $2 WHERE id = $1', [
          charge.agreement_id,
          t.now,
        ]);
      await appendDown(t, charge.site_id, {
        kind: 'topup_result',
        request_id: charge.request_id,
        outcome: 'deposited',
        entry_id: depositId,
      });
      const to = await this.guardianEmail(t, charge.agreement_id);
      if (to)
        await queueMail(
          t.sql,
          t.now,
          to,
          {
            type: 'topup_receipt',
            child_name: account.first_name,
            amount_ore: charge.amount_ore,
            balance_ore: balance,
            paid_at: t.now,
            payment_ref: payment_id,
            automatic: true,
          },
          { key: `autotopup:${charge.id}` },
        );
      return 'deposited';
    });
    if (outcome !== 'blocked') return true;
    // Blocked while the charge was under way: the money goes back to the card (the same key: once).
    try {
      await psp.refund(payment_id, charge.amount_ore, `autotopup-refund:${charge.id}`);
    } catch (err) {
      await this.later(charge);
      throw err;
    }
    await this.store.tx((t) => this.fail(t, charge, 'account_blocked'));
    return true;
  }

  /** The outcome is unknown: ask again (same key) after a doubling wait. */
  private async later(charge: ChargeRow): Promise<void> {
    const wait = Math.min(this.config.retry_ms * 2 ** Math.max(0, charge.attempts - 1), RETRY_MAX_MS);
    await this.store.db.query(`UPDATE autotopup_charges SET next_try_at = $2 WHERE id = $1 AND state = 'pending'`, [
      charge.id,
      new Date(this.store.clock.now().getTime() + wait),
    ]);
  }

  /**
   * A charge failed for `code`: recorded with its reason, the guardian mailed, the site answered;
   * a declined card counts towards suspending the agreement (`max_failures` in a row).
   */
  private async fail(
    t: Tx,
    charge: Pick<ChargeRow, 'id' | 'account_id' | 'site_id' | 'request_id'>,
    code: Code,
  ): Promise<void> {
    const [row] = await t.sql.query<{ agreement_id: string | null; amount_ore: number }>(
      `UPDATE autotopup_charges SET state = 'failed', reason = $2, settled_at = $3
       WHERE id = $1 AND state = 'pending' RETURNING agreement_id, amount_ore::int AS amount_ore`,
      [charge.id, code, t.now],
    );
    if (!row) return;
    const account = await lockAccount(t, charge.account_id);
    let suspended = false;
    const cardsFault = isDeclined(new KantineError(code));
    if (row.agreement_id && cardsFault) {
      const [a] = await t.sql.query<{ failures: number; state: AgreementState }>(
        `UPDATE autotopup_agreements SET failures = failures + 1, updated_at = $2 WHERE id = $1 AND state = 'active'
         RETURNING failures, state`,
        [row.agreement_id, t.now],
      );
      if (a && a.failures >= this.config.max_failures) {
        await t.sql.query(`UPDATE autotopup_agreements SET state = 'suspended' WHERE id = $1`, [row.agreement_id]);
        await setAccountTopup(t, charge.account_id, null);
        suspended = true;
      }
    }
    await appendDown(t, charge.site_id, {
      kind: 'topup_result',
      request_id: charge.request_id,
      outcome: 'failed',
      code,
    });
    if (!cardsFault && code !== 'account_blocked') return; // our own reasons (no agreement) mail nobody
    const to = await this.guardianEmail(t, row.agreement_id);
    if (to)
      await queueMail(
        t.sql,
        t.now,
        to,
        {
          type: 'auto_topup_failed',
          child_name: account.first_name,
          amount_ore: row.amount_ore,
          reason: failureOf(code),
          suspended,
        },
        { key: `autotopup:${charge.id}` },
      );
  }

  private async guardianEmail(t: Tx, agreementId: string | null): Promise<string | undefined> {
    if (!agreementId) return undefined;
    const [p] = await t.sql.query<{ email: string | null }>(
      'SELECT p.email FROM autotopup_agreements a JOIN people p ON p.id = a.person_id WHERE a.id = $1',
      [agreementId],
    );
    return p?.email ?? undefined;
  }

  /** A suspended agreement taken up again by the guardian (the same card): active, failures forgotten. */
  async resume(accountId: string): Promise<Agreement> {
    return this.store.tx(async (t) => {
      await lockAccount(t, accountId);
      const [row] = await t.sql.query<Agreement>(
        `UPDATE autotopup_agreements SET state = 'active', failures = 0, updated_at = $2
         WHERE account_id = $1 AND state = 'suspended' RETURNING ${AGREEMENT_COLUMNS}`,
        [accountId, t.now],
      );
      if (!row) throw new KantineError('autotopup_no_agreement');
      await setAccountTopup(t, accountId, row.amount_ore);
      return row;
    });
  }

  // ── Daily: cards about to expire; low-balance alerts ───────────────────────────────────

  /**
   * Mails the guardian of each live agreement whose stored card's last month ends within
   * `expiry_warn_days`: once per card (a new card is warned about again). Returns how many.
   */
  async warnExpiring(): Promise<number> {
    const now = DateTime.fromJSDate(this.store.clock.now()).setZone(ZONE);
    const horizon = now.plus({ days: this.config.expiry_warn_days }).toFormat('yyyy-MM');
    const rows = await this.store.db.query<{ id: string }>(
      `SELECT id FROM autotopup_agreements WHERE state = 'active' AND card_expiry <= $1
         AND expiry_warned_for IS DISTINCT FROM card_expiry`,
      [horizon],
    );
    let warned = 0;
    for (const r of rows) {
      const done = await this.store.tx(async (t) => {
        const [a] = await t.sql.query<{
          card_expiry: string;
          card_last4: string | null;
          first_name: string;
          email: string | null;
        }>(
          `UPDATE autotopup_agreements g SET expiry_warned_for = g.card_expiry
           FROM accounts a, people p
           WHERE g.id = $1 AND a.id = g.account_id AND p.id = g.person_id
             AND g.expiry_warned_for IS DISTINCT FROM g.card_expiry
           RETURNING g.card_expiry, g.card_last4, a.first_name, p.email`,
          [r.id],
        );
        if (!a) return false;
        const [year, month] = a.card_expiry.split('-').map(Number) as [number, number];
        if (a.email)
          await queueMail(
            t.sql,
            t.now,
            a.email,
            {
              type: 'card_expiring',
              child_name: a.first_name,
              expires_month: month,
              expires_year: year,
              ...(a.card_last4 ? { card_last4: a.card_last4 } : {}),
            },
            { key: `${r.id}:${a.card_expiry}` },
          );
        return true;
      });
      if (done) warned++;
    }
    return warned;
  }

  /** The guardian's low-balance alert for an account: a threshold, or null to stop it. */
  async setLowBalanceAlert(accountId: string, personId: string, threshold_ore: number | null): Promise<void> {
    if (threshold_ore === null) {
      await this.store.db.query('DELETE FROM low_balance_alerts WHERE account_id = $1 AND person_id = $2', [
        accountId,
        personId,
      ]);
      return;
    }
    if (
      !Number.isSafeInteger(threshold_ore) ||
      threshold_ore % 100 !== 0 ||
      threshold_ore < 100 ||
      threshold_ore > 100_000
    )
      throw new KantineError('low_balance_threshold_invalid');
    await this.store.db.query(
      `INSERT INTO low_balance_alerts (account_id, person_id, threshold_ore) VALUES ($1, $2, $3)
       ON CONFLICT (account_id, person_id) DO UPDATE SET threshold_ore = excluded.threshold_ore, below = false`,
      [accountId, personId, threshold_ore],
    );
  }

  async lowBalanceAlert(accountId: string, personId: string): Promise<number | null> {
    const [row] = await this.store.db.query<{ threshold_ore: number }>(
      'SELECT threshold_ore::int AS threshold_ore FROM low_balance_alerts WHERE account_id = $1 AND person_id = $2',
      [accountId, personId],
    );
    return row?.threshold_ore ?? null;
  }

  /**
   * Mails each guardian whose chosen threshold the balance at central fell under: once as it
   * falls (again only after it rose to the threshold), and at most one mail a day per account.
   * Returns how many were mailed.
   */
  async alertLowBalances(): Promise<number> {
    const { db, clock } = this.store;
    await db.query(
      `UPDATE low_balance_alerts l SET below = false FROM accounts a
       WHERE a.id = l.account_id AND l.below AND a.balance_ore >= l.threshold_ore`,
    );
    const today = DateTime.fromJSDate(clock.now()).setZone(ZONE).toISODate() as string;
    const due = await db.query<{ account_id: string; person_id: string }>(
      `SELECT l.account_id, l.person_id FROM low_balance_alerts l JOIN accounts a ON a.id = l.account_id
       WHERE NOT l.below AND a.balance_ore < l.threshold_ore`,
    );
    let sent = 0;
    for (const d of due) {
      const mailed = await this.store.tx(async (t) => {
        const [row] = await t.sql.query<{
          first_name: string;
          balance_ore: number;
          threshold_ore: number;
          email: string | null;
        }>(
          `UPDATE low_balance_alerts l SET below = true FROM accounts a, people p
           WHERE l.account_id = $1 AND l.person_id = $2 AND a.id = l.account_id AND p.id = l.person_id
             AND NOT l.below AND a.balance_ore < l.threshold_ore
           RETURNING a.first_name, a.balance_ore::int AS balance_ore, l.threshold_ore::int AS threshold_ore, p.email`,
          [d.account_id, d.person_id],
        );
        if (!row?.email) return false;
        // At most one a day per account (rule 9), whoever of its guardians set the alert: the key is account and date.
        const q = await queueMail(
          t.sql,
          t.now,
          row.email,
          {
            type: 'low_balance',
            child_name: row.first_name,
            balance_ore: row.balance_ore,
            threshold_ore: row.threshold_ore,
          },
          { key: `${d.account_id}:${today}` },
        );
        return q.state === 'queued';
      });
      if (mailed) sent++;
    }
    return sent;
  }
}

/** The account's `auto_topup_ore` (what its sites read) follows the agreement; sent to its sites. */
async function setAccountTopup(t: Tx, accountId: string, amount: number | null): Promise<void> {
  await t.sql.query('UPDATE accounts SET auto_topup_ore = $2 WHERE id = $1', [accountId, amount]);
  const account = await linkAccount(t, accountId);
  for (const s of await sitesOf(t, accountId)) await appendDown(t, s.id, { kind: 'account', account });
}

/** A card central no longer charges, for `revokeDue` to revoke at the provider after the commit. */
async function queueRevocation(t: Tx, a: Pick<Agreement, 'provider' | 'provider_agreement_id'>): Promise<void> {
  await t.sql.query(
    `INSERT INTO autotopup_revocations (provider, provider_agreement_id, queued_at, next_try_at)
     VALUES ($1, $2, $3, $3) ON CONFLICT DO NOTHING`,
    [a.provider, a.provider_agreement_id, t.now],
  );
}

/** The stored card's last four digits as the provider told them, or null. */
function last4Of(a: CardAgreement): string | null {
  return a.card_last4 !== undefined && /^[0-9]{4}$/.test(a.card_last4) ? a.card_last4 : null;
}
