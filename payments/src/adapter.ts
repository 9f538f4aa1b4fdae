/**
 * The one interface central talks to a payment provider through. Amounts are integer øre, always
 * (100 kr = 10000). Every refusal is a `KantineError` with a code; a caller tells "the card was
 * declined" (`payment_declined`, `payment_card_expired`, `payment_insufficient_funds`,
 * `payment_card_blocked`: final, nothing was charged) from "we do not know"
 * (`payment_provider_unreachable`: a timeout, a refused connection or a 5xx — retry with the same
 * idempotency key, or ask `getPayment` later) with `isProviderUnreachable`.
 *
 * A webhook is a hint, never proof: `verifyWebhook` says which payment changed, and the payment
 * counts only once `getPayment` (a request we made to the provider) says it is paid.
 */
import { type Code, KantineError } from '@kantine/protocol';

export type PaymentState = 'pending' | 'paid' | 'failed' | 'cancelled';

export interface CreateCheckoutInput {
  /** Our payment intent's id, written before the provider is called; the provider echoes it. */
  intent_id: string;
  /** Integer øre. 0 only with `save_card_for_agreement` (a card check that charges nothing). */
  amount_ore: number;
  /** Where the buyer's browser goes afterwards. Never proof of payment. */
  return_url: string;
  cancel_url: string;
  terms_url: string;
  /** Ask the buyer's consent to keep the card for merchant-initiated top-ups (card on file). */
  save_card_for_agreement?: boolean;
}

export interface Checkout {
  payment_id: string;
  /** The provider's hosted payment page, for the buyer's browser. */
  checkout_url: string;
}

export interface CardAgreement {
  /** The provider's id of the stored card (Nexi: the unscheduled subscription id). */
  id: string;
  /** `YYYY-MM`, the last month the card works; warn the guardian before it passes. */
  card_expiry: string;
  /** The card number's last 4 digits, when the provider tells them (for the guardian's mails). */
  card_last4?: string;
}

export interface PaymentStatus {
  payment_id: string;
  state: PaymentState;
  amount_ore: number;
  /** Set once a checkout that asked for `save_card_for_agreement` is paid. */
  agreement?: CardAgreement;
  /** Why it failed, as one of our codes (failed payments only). */
  failure?: DeclineReason;
  /** How much of a paid payment has been given back (øre), when the provider tells it. */
  refunded_ore?: number;
}

export interface ChargeAgreementInput {
  agreement_id: string;
  amount_ore: number;
  /** The same key twice charges once (ours: the purchase that triggered the top-up). */
  idempotency_key: string;
}

export interface Charge {
  payment_id: string;
  state: 'paid';
  /** What the provider says it took: the caller compares it with what it asked. */
  amount_ore: number;
}

export interface WebhookEvent {
  /** The provider's event id: the same event delivered twice carries the same id. */
  event_id: string;
  /** The provider's event name, e.g. `payment.paid` or Nexi's `payment.charge.created.v2`. */
  type: string;
  /** Which payment changed: fetch it with `getPayment` before anything counts. */
  payment_id: string;
}

export interface Refund {
  refund_id: string;
  amount_ore: number;
}

/** Header names in lower case, as node's `IncomingMessage.headers` has them. */
export type WebhookHeaders = Record<string, string | string[] | undefined>;

export interface PspAdapter {
  /** Which provider this is: `fake` or `nexi`. */
  readonly provider: string;
  createCheckout(input: CreateCheckoutInput): Promise<Checkout>;
  getPayment(payment_id: string): Promise<PaymentStatus>;
  /** Checks a webhook against its raw body (the exact bytes received). Throws `payment_webhook_refused`. */
  verifyWebhook(headers: WebhookHeaders, rawBody: Buffer | string): WebhookEvent;
  /** A merchant-initiated charge on a stored card. Throws a decline code or `payment_provider_unreachable`. */
  chargeAgreement(input: ChargeAgreementInput): Promise<Charge>;
  revokeAgreement(agreement_id: string): Promise<void>;
  /**
   * Cancels (voids) a payment whose checkout was never finished, so that a page left open cannot
   * be paid later. Returns the payment as it is afterwards: `cancelled`, or `paid` when the buyer
   * was quicker (then it is the caller's to refund).
   */
  cancelPayment(payment_id: string): Promise<PaymentStatus>;
  /** Gives money back on a paid payment; with a key, a retry after a timeout refunds once. */
  refund(payment_id: string, amount_ore: number, idempotency_key?: string): Promise<Refund>;
}

/** The ways a card says no, as codes. */
export type DeclineReason = Extract<
  Code,
  'payment_declined' | 'payment_card_expired' | 'payment_insufficient_funds' | 'payment_card_blocked'
>;

export const declineReasons: readonly DeclineReason[] = [
  'payment_declined',
  'payment_card_expired',
  'payment_insufficient_funds',
  'payment_card_blocked',
];

/** True when the provider could not be asked: the outcome is unknown, so retry (same key) or poll. */
export function isProviderUnreachable(err: unknown): boolean {
  return err instanceof KantineError && err.code === 'payment_provider_unreachable';
}

/** True when the card was declined: final for this attempt, nothing was charged. */
export function isDeclined(err: unknown): err is KantineError & { code: DeclineReason } {
  return err instanceof KantineError && (declineReasons as readonly string[]).includes(err.code);
}

/** Programmer-facing checks of what central passes in: an amount is a safe non-negative integer. */
export function checkAmount(amount_ore: number, allowZero = false): void {
  if (!Number.isSafeInteger(amount_ore) || amount_ore < (allowZero ? 0 : 1)) {
    throw new KantineError('invalid_request', `amount_ore must be a whole number of øre (got ${amount_ore})`, [
      '/amount_ore must be a positive integer',
    ]);
  }
}

/** One header's value, whatever node made of it. */
export function headerValue(headers: WebhookHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
