/**
 * Central's `payments` section: the provider's own fields (`@kantine/payments`' `PaymentsConfig`,
 * `provider: "fake" | "nexi"`) and, beside them, central's rules for money coming in. Without the
 * section no payment can start (`payments_not_configured`); webhooks are refused the same way.
 */
import { FakePaymentsConfig, NexiPaymentsConfig } from '@kantine/payments';
import Type, { type Static } from 'typebox';

const Kroner = (description: string, dflt: number, max = 100_000) =>
  Type.Integer({ minimum: 1, maximum: max, default: dflt, description });

/** The rules of a one-off top-up, in whole kroner. */
const TopupRules = Type.Object(
  {
    min_kr: Kroner('The smallest top-up, in whole kroner.', 20),
    max_kr: Kroner('The largest top-up, in whole kroner.', 1000),
    /** Municipality-wide: no top-up may take a balance (with its pending top-ups) above this. */
    max_balance_kr: Kroner('The largest balance a top-up may lead to, in whole kroner.', 3000, 1_000_000),
  },
  { additionalProperties: false, default: {} },
);

const central = {
  /** The terms guardians accept before paying (shown on the provider's page too). */
  terms_url: Type.String({ pattern: '^https?://', maxLength: 500 }),
  /**
   * Central's address as browsers reach it, for the provider's return and cancel addresses
   * (default: `identity.public_url`).
   */
  public_url: Type.Optional(Type.String({ pattern: '^https?://[^/?#]+(/[^?#]*[^/?#])?$', maxLength: 500 })),
  topup: TopupRules,
  /** A new payment is first asked about (when no webhook came) after this many seconds; then with back-off. */
  check_after_s: Type.Integer({ minimum: 1, maximum: 3600, default: 60 }),
  /** A payment still not paid this long after it started is expired (nothing credited, unless the provider later says paid). */
  expire_after_minutes: Type.Integer({ minimum: 1, maximum: 10_080, default: 60 }),
  /** How often each worker looks for payments due a check. */
  reconcile_every_s: Type.Integer({ minimum: 1, maximum: 3600, default: 15 }),
};

export const CentralPaymentsConfig = Type.Union([
  Type.Object({ ...FakePaymentsConfig.properties, ...central }, { additionalProperties: false }),
  Type.Object({ ...NexiPaymentsConfig.properties, ...central }, { additionalProperties: false }),
]);
export type CentralPaymentsConfig = Static<typeof CentralPaymentsConfig>;
