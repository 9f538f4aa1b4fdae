import Type, { type Static } from 'typebox';
import { CARD_UID_PATTERN, CPR_PATTERN, ID_PATTERN, NTAG_UID_PATTERN, PlaceKindSchema } from './ids.ts';
import { AMOUNT_ORE_MAX, AmountOre } from './money.ts';

/**
 * The HTTP bodies IT's provisioning tool sends to central: a programmed card batch laid in stock
 * at a school office, and a school's accounts imported from the old system.
 */

const Amount = AmountOre;
const PlaceKind = PlaceKindSchema;

/** One spending limit as IT and the office set it: per kind of place and period, whole øre. */
export const SpendLimitBody = Type.Object(
  {
    place_kind: PlaceKind,
    period: Type.Union([Type.Literal('day'), Type.Literal('week'), Type.Literal('month')]),
    limit_ore: Amount,
  },
  { additionalProperties: false },
);

/** The card number printed on the back: issuer prefix (4 digits), then 8 capitals or digits. */
export const CARD_NUMBER_PATTERN = '^[0-9]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$';

export const StockRequest = Type.Object(
  {
    /** The school or club office whose drawer the cards lie in. */
    site: Type.String({ pattern: ID_PATTERN }),
    cards: Type.Array(
      Type.Object(
        {
          uid: Type.String({ pattern: NTAG_UID_PATTERN }),
          card_number: Type.String({ pattern: CARD_NUMBER_PATTERN }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 10_000 },
    ),
  },
  { additionalProperties: false },
);
export type StockRequest = Static<typeof StockRequest>;

/** One child from the old system's export, already parsed (amounts in øre). */
export const ImportRow = Type.Object(
  {
    /** The line in the file it came from, for the report. */
    line: Type.Integer({ minimum: 1 }),
    account_id: Type.String({ pattern: ID_PATTERN }),
    first_name: Type.String({ minLength: 1, maxLength: 80 }),
    last_name: Type.String({ maxLength: 80 }),
    cpr: Type.Union([Type.String({ pattern: CPR_PATTERN }), Type.Null()]),
    balance_ore: Type.Integer({ minimum: 0, maximum: AMOUNT_ORE_MAX }),
    auto_topup_ore: Type.Union([Amount, Type.Null()]),
    limits: Type.Array(SpendLimitBody, { maxItems: 6 }),
    /** The child's old card (UID only), kept working until it is replaced. */
    legacy_uid: Type.Union([Type.String({ pattern: CARD_UID_PATTERN }), Type.Null()]),
  },
  { additionalProperties: false },
);
export type ImportRow = Static<typeof ImportRow>;

export const ImportRequest = Type.Object(
  {
    /** Check everything and report what would change, changing nothing. */
    dry_run: Type.Boolean(),
    rows: Type.Array(ImportRow, { minItems: 1, maxItems: 20_000 }),
  },
  { additionalProperties: false },
);
export type ImportRequest = Static<typeof ImportRequest>;

export interface ImportReport {
  dry_run: boolean;
  site: string;
  rows: number;
  /** Accounts made, changed (the file differs from what central has) and left as they were. */
  created: number;
  updated: number;
  unchanged: number;
  /** Opening balances booked by this run (0 on a second run). */
  opening_balance_ore: number;
  /** Old cards carried over by this run. */
  cards_added: number;
}
