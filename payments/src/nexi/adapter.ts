/**
 * The `PspAdapter` for Nexi Checkout (Nets Easy), payment API v1: a thin client over fetch.
 *
 * - A checkout is `POST /v1/payments` with a hosted payment page (`integrationType:
 *   HostedPaymentPage`), `termsUrl`, immediate charge, and `notifications.webHooks[]` whose
 *   `authorization` is our secret; with `unscheduledSubscription.create` the card is kept for
 *   merchant-initiated top-ups (Nexi's "unscheduled subscriptions", UCoF).
 * - A webhook carries no signature, only that secret in its `Authorization` header, so it is a hint:
 *   `getPayment` (`GET /v1/payments/{id}`) decides whether the payment counts.
 * - A top-up on a stored card is `POST /v1/unscheduledsubscriptions/{id}/charges` with an
 *   `Idempotency-Key`.
 * Amounts are in the currency's minor unit in Nexi's API too: øre, as ours.
 */
import { KantineError } from '@kantine/protocol';
import {
  type Charge,
  type ChargeAgreementInput,
  type Checkout,
  type CreateCheckoutInput,
  checkAmount,
  type DeclineReason,
  headerValue,
  type PaymentStatus,
  type PspAdapter,
  type Refund,
  type WebhookEvent,
  type WebhookHeaders,
} from '../adapter.ts';
import type { NexiPaymentsConfig } from '../config.ts';
import { safeEqual } from '../fake/signature.ts';
import { field, type JsonResponse, requestJson } from '../http.ts';

/** The events we ask Nexi for. Each only says "look at payment X again". */
export const NEXI_WEBHOOK_EVENTS = [
  'payment.checkout.completed',
  'payment.charge.created.v2',
  'payment.charge.failed',
  'payment.cancel.created',
  'payment.refund.completed',
] as const;

const MAX_WEBHOOK_BYTES = 64 * 1024;

/** The one order line of a top-up. Prepaid canteen credit is not a sale of goods: no VAT here. */
function orderOf(amount_ore: number, reference: string) {
  return {
    items: [
      {
        reference: 'topup',
        name: 'Optankning af kantinekort / Canteen card top-up',
        quantity: 1,
        unit: 'stk',
        unitPrice: amount_ore,
        taxRate: 0,
        taxAmount: 0,
        grossTotalAmount: amount_ore,
        netTotalAmount: amount_ore,
      },
    ],
    amount: amount_ore,
    currency: 'DKK',
    reference,
  };
}

const num = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) ? v : 0);

/** Nexi's `MMYY` → our `YYYY-MM`. */
function expiryOf(mmyy: unknown): string | undefined {
  if (typeof mmyy !== 'string' || !/^(0[1-9]|1[0-2])\d{2}$/.test(mmyy)) return undefined;
  return `20${mmyy.slice(2)}-${mmyy.slice(0, 2)}`;
}

/** Nexi's words for why a card said no, as our codes (the message text is all Nexi gives). */
function declineOf(body: unknown): DeclineReason {
  const text = JSON.stringify(body ?? '').toLowerCase();
  if (text.includes('expired')) return 'payment_card_expired';
  if (text.includes('insufficient')) return 'payment_insufficient_funds';
  if (text.includes('blocked') || text.includes('terminated') || text.includes('stolen') || text.includes('lost')) {
    return 'payment_card_blocked';
  }
  return 'payment_declined';
}

export class NexiAdapter implements PspAdapter {
  readonly provider = 'nexi';

  constructor(private readonly config: Omit<NexiPaymentsConfig, 'provider'>) {}

  private async call(method: string, path: string, body?: unknown, idempotency_key?: string): Promise<JsonResponse> {
    // Nexi takes the secret key as the whole Authorization header, without a scheme.
    const headers: Record<string, string> = { authorization: this.config.secret_key, accept: 'application/json' };
    if (idempotency_key !== undefined) headers['idempotency-key'] = idempotency_key;
    const res = await requestJson(`${this.config.api_url.replace(/\/+$/, '')}${path}`, {
      method,
      headers,
      body,
      timeout_ms: this.config.request_timeout_ms,
    });
    if (res.status < 400) return res;
    if (res.status === 404) throw new KantineError('payment_not_found', `${method} ${path}: HTTP 404`);
    throw new KantineError('payment_request_refused', `${method} ${path}: HTTP ${res.status}`, [
      JSON.stringify(res.body ?? null).slice(0, 500),
    ]);
  }

  async createCheckout(input: CreateCheckoutInput): Promise<Checkout> {
    const save = input.save_card_for_agreement === true;
    // 0 kr only to keep a card: Nexi's compliant card check for unscheduled subscriptions.
    checkAmount(input.amount_ore, save);
    const body: Record<string, unknown> = {
      order: orderOf(input.amount_ore, input.intent_id),
      checkout: {
        integrationType: 'HostedPaymentPage',
        returnUrl: input.return_url,
        cancelUrl: input.cancel_url,
        termsUrl: input.terms_url,
        // Charge at once: top-up credit is delivered the moment it is paid, so nothing waits to ship.
        charge: true,
        merchantHandlesConsumerData: false,
      },
      notifications: {
        webHooks: NEXI_WEBHOOK_EVENTS.map((eventName) => ({
          eventName,
          url: this.config.webhook_url,
          authorization: this.config.webhook_authorization,
        })),
      },
    };
    if (save) body.unscheduledSubscription = { create: true };
    const res = await this.call('POST', '/v1/payments', body, `intent-${input.intent_id}`);
    const payment_id = field(res.body, 'paymentId');
    const page = field(res.body, 'hostedPaymentPageUrl');
    if (typeof payment_id !== 'string' || typeof page !== 'string' || !URL.canParse(page)) {
      throw new KantineError('payment_request_refused', 'Nexi answered without paymentId and hostedPaymentPageUrl');
    }
    const checkout_url = new URL(page);
    checkout_url.searchParams.set('language', this.config.checkout_language);
    return { payment_id, checkout_url: checkout_url.toString() };
  }

  async getPayment(payment_id: string): Promise<PaymentStatus> {
    const res = await this.call('GET', `/v1/payments/${encodeURIComponent(payment_id)}`);
    const p = field(res.body, 'payment');
    if (field(p, 'paymentId') !== payment_id) {
      throw new KantineError('payment_request_refused', 'Nexi answered with another payment than we asked for');
    }
    // We ask in DKK only: an amount in another currency is not øre.
    const currency = field(p, 'orderDetails', 'currency');
    if (currency !== undefined && currency !== 'DKK')
      throw new KantineError('payment_request_refused', `Nexi answered a payment in ${String(currency)}, not DKK`);
    const amount_ore = num(field(p, 'orderDetails', 'amount'));
    const charged = num(field(p, 'summary', 'chargedAmount'));
    const cancelled = num(field(p, 'summary', 'cancelledAmount'));
    const subscriptionId = field(p, 'unscheduledSubscription', 'unscheduledSubscriptionId');
    const cardChecked =
      amount_ore === 0 && typeof subscriptionId === 'string' && field(p, 'paymentDetails', 'paymentType') !== undefined;
    let state: PaymentStatus['state'] = 'pending';
    if (cancelled > 0 || field(p, 'terminated') !== undefined) state = 'cancelled';
    else if ((amount_ore > 0 && charged >= amount_ore) || cardChecked) state = 'paid';
    // A paid payment is what was charged (the amount the provider took), not the order's amount.
    const status: PaymentStatus = {
      payment_id,
      state,
      amount_ore: state === 'paid' && charged > 0 ? charged : amount_ore,
    };
    const refunded = num(field(p, 'summary', 'refundedAmount'));
    if (refunded > 0) status.refunded_ore = refunded;
    if (state === 'paid' && typeof subscriptionId === 'string') {
      // The expiry lives on the subscription; the payment's card details may be from another card.
      const sub = await this.call('GET', `/v1/unscheduledsubscriptions/${encodeURIComponent(subscriptionId)}`);
      const card_expiry = expiryOf(field(sub.body, 'paymentDetails', 'cardDetails', 'expiryDate'));
      if (card_expiry) {
        status.agreement = { id: subscriptionId, card_expiry };
        const pan = field(sub.body, 'paymentDetails', 'cardDetails', 'maskedPan');
        const last4 = typeof pan === 'string' ? /(\d{4})$/.exec(pan)?.[1] : undefined;
        if (last4) status.agreement.card_last4 = last4;
      }
    }
    return status;
  }

  verifyWebhook(headers: WebhookHeaders, rawBody: Buffer | string): WebhookEvent {
    const refuse = (why: string): never => {
      throw new KantineError('payment_webhook_refused', `Nexi webhook: ${why}`);
    };
    const authorization = headerValue(headers, 'authorization');
    if (authorization === undefined) refuse('no Authorization header');
    if (!safeEqual(authorization as string, this.config.webhook_authorization)) refuse('Authorization does not match');
    if (Buffer.byteLength(rawBody) > MAX_WEBHOOK_BYTES) refuse('body too large');
    let body: unknown;
    try {
      body = JSON.parse(rawBody.toString());
    } catch {
      return refuse('body is not JSON');
    }
    const event_id = field(body, 'id');
    const type = field(body, 'event');
    const payment_id = field(body, 'data', 'paymentId');
    if (typeof event_id !== 'string' || typeof type !== 'string' || typeof payment_id !== 'string') {
      return refuse('body lacks id, event or data.paymentId');
    }
    return { event_id, type, payment_id };
  }

  async chargeAgreement(input: ChargeAgreementInput): Promise<Charge> {
    checkAmount(input.amount_ore);
    if (input.idempotency_key.length === 0 || input.idempotency_key.length > 64) {
      throw new KantineError('invalid_request', 'idempotency_key must be 1 to 64 characters');
    }
    const path = `/v1/unscheduledsubscriptions/${encodeURIComponent(input.agreement_id)}/charges`;
    let res: JsonResponse;
    try {
      res = await this.call(
        'POST',
        path,
        {
          order: orderOf(input.amount_ore, input.idempotency_key),
          charge: true,
          notifications: {
            webHooks: NEXI_WEBHOOK_EVENTS.map((eventName) => ({
              eventName,
              url: this.config.webhook_url,
              authorization: this.config.webhook_authorization,
            })),
          },
        },
        input.idempotency_key,
      );
    } catch (err) {
      // A 4xx on a charge is the card (or the subscription) saying no: nothing was charged.
      if (err instanceof KantineError && err.code === 'payment_request_refused' && /HTTP 40[02]\b/.test(err.message)) {
        throw new KantineError(declineOf(err.details), `Nexi declined the charge: ${err.message}`, err.details);
      }
      // 409: a request with this key is still being handled — the outcome is not known yet.
      if (err instanceof KantineError && err.code === 'payment_request_refused' && /HTTP 409\b/.test(err.message)) {
        throw new KantineError('payment_provider_unreachable', `Nexi is still handling this charge: ${err.message}`);
      }
      if (err instanceof KantineError && err.code === 'payment_not_found') {
        throw new KantineError('payment_card_blocked', 'Nexi does not know this unscheduled subscription');
      }
      throw err;
    }
    const payment_id = field(res.body, 'paymentId');
    const chargeId = field(res.body, 'chargeId');
    if (typeof payment_id !== 'string')
      throw new KantineError('payment_request_refused', 'Nexi answered a charge without paymentId');
    if (typeof chargeId !== 'string') {
      // No charge id: the outcome is not known yet. Ask about the payment; until then it is unknown.
      const status = await this.getPayment(payment_id);
      if (status.state !== 'paid') {
        throw new KantineError('payment_provider_unreachable', `Nexi has not charged payment ${payment_id} yet`);
      }
      return { payment_id, state: 'paid', amount_ore: status.amount_ore };
    }
    // A charge with a charge id is of the whole order we sent (Nexi charges an unscheduled
    // subscription's order in full); when it says what it charged, that is the amount taken.
    const said = field(res.body, 'amount');
    return { payment_id, state: 'paid', amount_ore: Number.isSafeInteger(said) ? (said as number) : input.amount_ore };
  }

  /**
   * Terminates a checkout that was never completed (Nexi: `PUT /v1/payments/{id}/terminate`,
   * only before the buyer finished); a payment already completed refuses it, and the fetch that
   * follows says what it is.
   */
  async cancelPayment(payment_id: string): Promise<PaymentStatus> {
    try {
      await this.call('PUT', `/v1/payments/${encodeURIComponent(payment_id)}/terminate`);
    } catch (err) {
      if (!(err instanceof KantineError && err.code === 'payment_request_refused')) throw err;
    }
    return this.getPayment(payment_id);
  }

  async revokeAgreement(agreement_id: string): Promise<void> {
    await this.call('PUT', `/v1/unscheduledsubscriptions/${encodeURIComponent(agreement_id)}/terminate`);
  }

  async refund(payment_id: string, amount_ore: number, idempotency_key?: string): Promise<Refund> {
    checkAmount(amount_ore);
    // Nexi refunds a charge, not a payment: the top-up has exactly one.
    const res = await this.call('GET', `/v1/payments/${encodeURIComponent(payment_id)}`);
    const charges = field(res.body, 'payment', 'charges');
    const chargeId = Array.isArray(charges) ? field(charges[0], 'chargeId') : undefined;
    if (typeof chargeId !== 'string')
      throw new KantineError('payment_request_refused', 'this payment has no charge to refund');
    const refunded = await this.call(
      'POST',
      `/v1/charges/${encodeURIComponent(chargeId)}/refunds`,
      { amount: amount_ore, orderItems: orderOf(amount_ore, payment_id).items },
      idempotency_key,
    );
    const refund_id = field(refunded.body, 'refundId');
    if (typeof refund_id !== 'string')
      throw new KantineError('payment_request_refused', 'Nexi answered a refund without refundId');
    return { refund_id, amount_ore };
  }
}
