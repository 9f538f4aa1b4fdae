/** The `PspAdapter` for the fake provider (`kantine-fake-psp`), over its HTTP API. */
import { KantineError } from '@kantine/protocol';
import {
  type Charge,
  type ChargeAgreementInput,
  type Checkout,
  type CreateCheckoutInput,
  checkAmount,
  type DeclineReason,
  declineReasons,
  headerValue,
  type PaymentState,
  type PaymentStatus,
  type PspAdapter,
  type Refund,
  type WebhookEvent,
  type WebhookHeaders,
} from '../adapter.ts';
import type { FakePaymentsConfig } from '../config.ts';
import { field, type JsonResponse, requestJson } from '../http.ts';
import { SIGNATURE_HEADER, safeEqual, sign } from './signature.ts';

const STATES: readonly PaymentState[] = ['pending', 'paid', 'failed', 'cancelled'];
/** A webhook body is a few hundred bytes; anything much larger is not the provider's. */
const MAX_WEBHOOK_BYTES = 16 * 1024;

export class FakePspAdapter implements PspAdapter {
  readonly provider = 'fake';

  constructor(private readonly config: Omit<FakePaymentsConfig, 'provider'>) {}

  private async call(method: string, path: string, body?: unknown, idempotency_key?: string): Promise<JsonResponse> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.config.api_key}` };
    if (idempotency_key !== undefined) headers['idempotency-key'] = idempotency_key;
    const res = await requestJson(new URL(path, this.config.api_url).toString(), {
      method,
      headers,
      body,
      timeout_ms: this.config.request_timeout_ms,
    });
    if (res.status < 400) return res;
    const code = field(res.body, 'error', 'code');
    const message = String(field(res.body, 'error', 'message') ?? `HTTP ${res.status}`);
    if (res.status === 404) throw new KantineError('payment_not_found', `${method} ${path}: ${message}`);
    if (res.status === 402) {
      const reason = (declineReasons as readonly unknown[]).includes(code)
        ? (code as DeclineReason)
        : 'payment_declined';
      throw new KantineError(reason, undefined, [`payment_id ${String(field(res.body, 'payment_id') ?? '')}`]);
    }
    throw new KantineError('payment_request_refused', `${method} ${path}: HTTP ${res.status} ${message}`, [
      String(code ?? ''),
    ]);
  }

  async createCheckout(input: CreateCheckoutInput): Promise<Checkout> {
    checkAmount(input.amount_ore, input.save_card_for_agreement === true);
    // The intent id is the key: asking twice for the same intent gives the same payment.
    const res = await this.call('POST', '/v1/payments', { ...input }, `intent:${input.intent_id}`);
    const payment_id = field(res.body, 'payment_id');
    const checkout_url = field(res.body, 'checkout_url');
    if (typeof payment_id !== 'string' || typeof checkout_url !== 'string') {
      throw new KantineError('payment_request_refused', 'the provider answered without payment_id and checkout_url');
    }
    return { payment_id, checkout_url };
  }

  async getPayment(payment_id: string): Promise<PaymentStatus> {
    const res = await this.call('GET', `/v1/payments/${encodeURIComponent(payment_id)}`);
    const state = field(res.body, 'state');
    const amount_ore = field(res.body, 'amount_ore');
    if (
      field(res.body, 'payment_id') !== payment_id ||
      !STATES.includes(state as PaymentState) ||
      !Number.isSafeInteger(amount_ore)
    ) {
      throw new KantineError('payment_request_refused', 'the provider answered with a payment we cannot read');
    }
    const status: PaymentStatus = { payment_id, state: state as PaymentState, amount_ore: amount_ore as number };
    const agreementId = field(res.body, 'agreement', 'id');
    const expiry = field(res.body, 'agreement', 'card_expiry');
    const last4 = field(res.body, 'agreement', 'card_last4');
    if (typeof agreementId === 'string' && typeof expiry === 'string') {
      status.agreement = { id: agreementId, card_expiry: expiry };
      if (typeof last4 === 'string' && /^\d{4}$/.test(last4)) status.agreement.card_last4 = last4;
    }
    const failure = field(res.body, 'failure');
    if ((declineReasons as readonly unknown[]).includes(failure)) status.failure = failure as DeclineReason;
    const refunded = field(res.body, 'refunded_ore');
    if (Number.isSafeInteger(refunded) && (refunded as number) > 0) status.refunded_ore = refunded as number;
    return status;
  }

  async cancelPayment(payment_id: string): Promise<PaymentStatus> {
    await this.call('POST', `/v1/payments/${encodeURIComponent(payment_id)}/cancel`);
    return this.getPayment(payment_id);
  }

  verifyWebhook(headers: WebhookHeaders, rawBody: Buffer | string): WebhookEvent {
    const refuse = (why: string): never => {
      throw new KantineError('payment_webhook_refused', `fake provider webhook: ${why}`);
    };
    const signature = headerValue(headers, SIGNATURE_HEADER);
    if (signature === undefined) refuse(`no ${SIGNATURE_HEADER} header`);
    if (Buffer.byteLength(rawBody) > MAX_WEBHOOK_BYTES) refuse('body too large');
    if (!safeEqual(signature as string, sign(this.config.webhook_secret, rawBody)))
      refuse('signature does not match the body');
    let event: unknown;
    try {
      event = JSON.parse(rawBody.toString());
    } catch {
      return refuse('body is not JSON');
    }
    const event_id = field(event, 'id');
    const type = field(event, 'type');
    const payment_id = field(event, 'payment_id');
    if (typeof event_id !== 'string' || typeof type !== 'string' || typeof payment_id !== 'string') {
      return refuse('body lacks id, type or payment_id');
    }
    return { event_id, type, payment_id };
  }

  async chargeAgreement(input: ChargeAgreementInput): Promise<Charge> {
    checkAmount(input.amount_ore);
    if (input.idempotency_key.length === 0 || input.idempotency_key.length > 255) {
      throw new KantineError('invalid_request', 'idempotency_key must be 1 to 255 characters');
    }
    const res = await this.call(
      'POST',
      `/v1/agreements/${encodeURIComponent(input.agreement_id)}/charges`,
      { amount_ore: input.amount_ore },
      input.idempotency_key,
    );
    const payment_id = field(res.body, 'payment_id');
    const taken = field(res.body, 'amount_ore');
    if (typeof payment_id !== 'string' || field(res.body, 'state') !== 'paid' || !Number.isSafeInteger(taken)) {
      throw new KantineError('payment_request_refused', 'the provider answered a charge without a paid payment');
    }
    // What the provider says it took, not what we asked: the caller compares them.
    return { payment_id, state: 'paid', amount_ore: taken as number };
  }

  async revokeAgreement(agreement_id: string): Promise<void> {
    await this.call('POST', `/v1/agreements/${encodeURIComponent(agreement_id)}/revoke`);
  }

  async refund(payment_id: string, amount_ore: number, idempotency_key?: string): Promise<Refund> {
    checkAmount(amount_ore);
    const res = await this.call(
      'POST',
      `/v1/payments/${encodeURIComponent(payment_id)}/refunds`,
      { amount_ore },
      idempotency_key,
    );
    const refund_id = field(res.body, 'refund_id');
    if (typeof refund_id !== 'string')
      throw new KantineError('payment_request_refused', 'the provider answered a refund without refund_id');
    return { refund_id, amount_ore };
  }
}
