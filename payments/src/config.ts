/**
 * The `payments` section of central's config: which provider, and how to reach it. Central
 * validates it at start-up with the other sections; `createPspAdapter` turns it into an adapter.
 */
import { type Static, Type } from 'typebox';

const TimeoutMs = Type.Integer({
  minimum: 100,
  maximum: 60_000,
  default: 10_000,
  description: 'How long one request to the provider may take before it counts as unreachable.',
});

export const FakePaymentsConfig = Type.Object(
  {
    provider: Type.Literal('fake'),
    /** Where `kantine-fake-psp` listens, e.g. http://127.0.0.1:8097. */
    api_url: Type.String({ pattern: '^https?://' }),
    /** Sent as `Authorization: Bearer …`; the same value as the fake provider's --api-key. */
    api_key: Type.String({ minLength: 16 }),
    /** The HMAC-SHA256 key of the fake provider's webhooks (its --webhook-secret). */
    webhook_secret: Type.String({ minLength: 16 }),
    request_timeout_ms: TimeoutMs,
  },
  { additionalProperties: false },
);

export const NexiPaymentsConfig = Type.Object(
  {
    provider: Type.Literal('nexi'),
    /** https://test.api.dibspayment.eu for the test environment, https://api.dibspayment.eu live. */
    api_url: Type.String({ pattern: '^https://', default: 'https://test.api.dibspayment.eu' }),
    /** The secret API key from Nexi's portal (Company → Integration), sent in `Authorization`. */
    secret_key: Type.String({ minLength: 16 }),
    /** Our public address that receives Nexi's webhooks, e.g. https://kantine.example.dk/payments/webhook. */
    webhook_url: Type.String({ pattern: '^https://' }),
    /** The secret we choose; Nexi sends it back in each webhook's Authorization header (8–64 letters and digits). */
    webhook_authorization: Type.String({ pattern: '^[A-Za-z0-9]{8,64}$' }),
    /** The language of the hosted page. */
    checkout_language: Type.Union([Type.Literal('da-DK'), Type.Literal('en-GB')], { default: 'da-DK' }),
    request_timeout_ms: TimeoutMs,
  },
  { additionalProperties: false },
);

export const PaymentsConfig = Type.Union([FakePaymentsConfig, NexiPaymentsConfig]);

export type FakePaymentsConfig = Static<typeof FakePaymentsConfig>;
export type NexiPaymentsConfig = Static<typeof NexiPaymentsConfig>;
export type PaymentsConfig = Static<typeof PaymentsConfig>;
