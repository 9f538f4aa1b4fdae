/**
 * The payment provider inside the deterministic simulation (tests/helpers/sim.ts): a provider on
 * the simulation's clock and PRNG, behind the same `PspAdapter` central uses, whose faults are the
 * real world's — webhooks lost, sent twice, late and out of order, a provider that times out or
 * answers 5xx (its answer unknown), and now and then a forged webhook. Its webhooks are signed as
 * the fake provider's are (HMAC-SHA256 over the raw body), and central verifies them with the
 * fake provider's own check. The ground truth of what was paid is here, not at central.
 */
import {
  type Charge,
  type Checkout,
  type CreateCheckoutInput,
  FakePspAdapter,
  type PaymentStatus,
  type PspAdapter,
  type Refund,
  SIGNATURE_HEADER,
  signWebhook,
  type WebhookEvent,
  type WebhookHeaders,
} from '@kantine/payments';
import { KantineError } from '@kantine/protocol';

export const SIM_WEBHOOK_SECRET = 'sim-webhook-secret-0123456789';

export interface SimPayment {
  id: string;
  intent_id: string;
  amount_ore: number;
  /** `cancelled`: central voided the checkout (its intent expired); `refunded`: paid and given back. */
  state: 'pending' | 'paid' | 'failed' | 'cancelled' | 'refunded';
}

export interface SimPspFaults {
  /** A request to the provider times out or answers 5xx (not acted on). */
  unreachable: number;
  /** A webhook is never sent. */
  lose: number;
  /** A webhook is sent twice. */
  duplicate: number;
  /** The longest a webhook is delayed (ms): delays reorder them; a long one is late. */
  max_delay_ms: number;
}

export class SimPsp implements PspAdapter {
  readonly provider = 'fake';
  readonly payments = new Map<string, SimPayment>();
  private readonly verifier = new FakePspAdapter({
    api_url: 'http://127.0.0.1:9',
    api_key: 'sim-api-key-0123456789',
    webhook_secret: SIM_WEBHOOK_SECRET,
    request_timeout_ms: 1000,
  });
  private n = 0;
  faults: SimPspFaults = { unreachable: 0, lose: 0, duplicate: 0, max_delay_ms: 0 };
  /** Webhooks sent, lost, refused by central (forged), and re-sent after a 5xx. */
  readonly counts = { sent: 0, lost: 0, duplicated: 0, forged: 0, resent: 0 };

  constructor(
    private readonly rand: () => number,
    /** Schedules `fn` on the simulation's clock after `ms`. */
    private readonly at: (ms: number, fn: () => unknown) => void,
    /** Delivers a webhook to central now (the central running at that moment); throws what central answered. */
    private readonly deliver: (headers: WebhookHeaders, raw: string) => Promise<void>,
  ) {}

  private reachable(): void {
    if (this.rand() < this.faults.unreachable)
      throw new KantineError('payment_provider_unreachable', 'simulated timeout or 5xx');
  }

  async createCheckout(input: CreateCheckoutInput): Promise<Checkout> {
    this.reachable();
    const existing = [...this.payments.values()].find((p) => p.intent_id === input.intent_id);
    if (existing) return { payment_id: existing.id, checkout_url: `sim://pay/${existing.id}` };
    const id = `pay-${++this.n}`;
    this.payments.set(id, { id, intent_id: input.intent_id, amount_ore: input.amount_ore, state: 'pending' });
    return { payment_id: id, checkout_url: `sim://pay/${id}` };
  }

  async getPayment(payment_id: string): Promise<PaymentStatus> {
    this.reachable();
    const p = this.payments.get(payment_id);
    if (!p) throw new KantineError('payment_not_found');
    return {
      payment_id: p.id,
      state: p.state === 'refunded' ? 'paid' : p.state,
      amount_ore: p.amount_ore,
      ...(p.state === 'failed' ? { failure: 'payment_declined' as const } : {}),
      ...(p.state === 'refunded' ? { refunded_ore: p.amount_ore } : {}),
    };
  }

  async cancelPayment(payment_id: string): Promise<PaymentStatus> {
    this.reachable();
    const p = this.payments.get(payment_id);
    if (p?.state === 'pending') p.state = 'cancelled';
    return this.getPayment(payment_id);
  }

  verifyWebhook(headers: WebhookHeaders, rawBody: Buffer | string): WebhookEvent {
    return this.verifier.verifyWebhook(headers, rawBody);
  }

  async chargeAgreement(): Promise<Charge> {
    throw new Error('the simulation makes no card-on-file charges');
  }

  async revokeAgreement(): Promise<void> {
    throw new Error('the simulation makes no card-on-file agreements');
  }

  /** Central gives back a payment it will not credit (one paid after its intent expired): all of it, once. */
  async refund(payment_id: string, amount_ore: number): Promise<Refund> {
    this.reachable();
    const p = this.payments.get(payment_id);
    if (!p || (p.state !== 'paid' && p.state !== 'refunded') || amount_ore !== p.amount_ore)
      throw new Error(`the simulation refunds whole paid payments only (${payment_id})`);
    p.state = 'refunded';
    return { refund_id: `refund-${payment_id}`, amount_ore };
  }

  /** The guardian pays (or the card is declined) on the hosted page: the provider's truth changes, a webhook goes out. */
  pay(payment_id: string, approved: boolean): void {
    const p = this.payments.get(payment_id);
    if (!p || p.state !== 'pending') return;
    p.state = approved ? 'paid' : 'failed';
    this.emit(p, approved ? 'payment.paid' : 'payment.failed');
  }

  private emit(p: SimPayment, type: string): void {
    const raw = JSON.stringify({ id: `evt-${++this.n}`, type, payment_id: p.id, intent_id: p.intent_id });
    if (this.rand() < this.faults.lose) {
      this.counts.lost++;
      return;
    }
    const copies = this.rand() < this.faults.duplicate ? 2 : 1;
    if (copies === 2) this.counts.duplicated++;
    for (let i = 0; i < copies; i++) this.send(raw, Math.floor(this.rand() * (this.faults.max_delay_ms + 1)), 0);
  }

  /** A delivery; a provider re-sends what was not answered 2xx, a few times with growing pauses. */
  private send(raw: string, delay: number, attempt: number): void {
    this.at(delay, async () => {
      this.counts.sent++;
      try {
        await this.deliver({ [SIGNATURE_HEADER]: signWebhook(SIM_WEBHOOK_SECRET, raw) }, raw);
      } catch (err) {
        if (!(err instanceof KantineError) || err.code !== 'payment_provider_unreachable') throw err;
        if (attempt < 4) {
          this.counts.resent++;
          this.send(raw, 1_000 * 2 ** attempt, attempt + 1);
        }
      }
    });
  }

  /** A webhook someone forged (no secret): central must refuse it. */
  forge(payment_id: string): void {
    const raw = JSON.stringify({ id: `evt-forged-${++this.n}`, type: 'payment.paid', payment_id });
    this.counts.forged++;
    this.at(1, async () => {
      try {
        await this.deliver({ [SIGNATURE_HEADER]: signWebhook('not-the-secret-0123456789', raw) }, raw);
      } catch (err) {
        if (err instanceof KantineError && err.code === 'payment_webhook_refused') return;
        throw err;
      }
      throw new Error(`a forged webhook for ${payment_id} was accepted`);
    });
  }
}
