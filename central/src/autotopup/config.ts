import { type Static, Type } from 'typebox';

/**
 * The `autotopup` section of central's config (docs/operations/payments.md §Automatic top-up). The
 * provider itself is the `payments` section; without it no agreement can be made or charged.
 */
export const AutotopupConfig = Type.Object(
  {
    /** Declined charges in a row after which the agreement is suspended (the guardian resumes it). */
    max_failures: Type.Integer({ minimum: 1, maximum: 20, default: 3 }),
    /** Charges per account per day (Danish time), at most; a request beyond it is answered `autotopup_daily_cap`. */
    max_charges_per_day: Type.Integer({ minimum: 1, maximum: 10, default: 2 }),
    /** The amounts a guardian may choose for an agreement (whole kroner, in øre). */
    min_amount_ore: Type.Integer({ minimum: 100, maximum: 1_000_000, default: 5_000 }),
    max_amount_ore: Type.Integer({ minimum: 100, maximum: 1_000_000, default: 100_000 }),
    /** The first wait before a charge whose outcome is unknown (a timeout) is asked again; it doubles. */
    retry_ms: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 30_000 }),
    /** Warn the guardian this many days before the stored card's last month ends. */
    expiry_warn_days: Type.Integer({ minimum: 1, maximum: 90, default: 30 }),
    /**
     * A charge whose outcome is still unknown after this long is answered to the site as failed
     * (`payment_provider_unreachable`), so the site may ask again; central keeps asking the
     * provider with the same key, and at most one charge per account stays in flight.
     */
    answer_within_ms: Type.Integer({ minimum: 1_000, maximum: 86_400_000, default: 600_000 }),
  },
  { additionalProperties: false, default: {} },
);
export type AutotopupConfig = Static<typeof AutotopupConfig>;

export const AUTOTOPUP_DEFAULTS: AutotopupConfig = {
  max_failures: 3,
  max_charges_per_day: 2,
  min_amount_ore: 5_000,
  max_amount_ore: 100_000,
  retry_ms: 30_000,
  expiry_warn_days: 30,
  answer_within_ms: 600_000,
};
