import Type, { type Static } from 'typebox';
import type { Decision, SaleLine } from '../decision.ts';
import { DATE_PATTERN, ID_PATTERN } from '../ids.ts';
import { Quantity } from '../money.ts';

/**
 * The till API's bodies (the gateway's HTTP API that the kiosk calls, docs/protocol.md) and the
 * events of its live WebSocket (`/api/tills/:till/live`).
 */

/** A basket holds at most this many lines: a bound on one sale's transaction. */
export const MAX_BASKET_LINES = 50;

export const TillParams = Type.Object({ till: Type.String({ pattern: ID_PATTERN }) });

export const BasketRequest = Type.Object(
  {
    lines: Type.Array(
      Type.Object(
        { product_id: Type.String({ pattern: ID_PATTERN }), quantity: Quantity },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_BASKET_LINES },
    ),
    standing: Type.Optional(Type.Boolean({ description: 'keep the basket after each sale (self-service)' })),
  },
  { additionalProperties: false },
);
export type BasketRequest = Static<typeof BasketRequest>;

export const LoginRequest = Type.Object(
  {
    till_id: Type.String({ pattern: ID_PATTERN }),
    staff_id: Type.String({ pattern: ID_PATTERN }),
    pin: Type.String({ pattern: '^[0-9]{4,8}$' }),
  },
  { additionalProperties: false },
);
export type LoginRequest = Static<typeof LoginRequest>;

export const ConfirmAllergens = Type.Object(
  { basket_id: Type.String({ minLength: 1, maxLength: 64 }), account_id: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);
export type ConfirmAllergens = Static<typeof ConfirmAllergens>;

export const VoidRequest = Type.Object(
  {
    entry_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'default: the last sale' })),
    reason: Type.String({ minLength: 3, maxLength: 200 }),
  },
  { additionalProperties: false },
);
export type VoidRequest = Static<typeof VoidRequest>;

export const ReportQuery = Type.Object(
  { date: Type.Optional(Type.String({ pattern: DATE_PATTERN })) },
  { additionalProperties: false },
);
export const PreorderParams = Type.Object({
  till: Type.String({ pattern: ID_PATTERN }),
  id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
});
export const DecisionsQuery = Type.Object({ limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,3}$' })) });

/** A child's paid pre-order, shown at a tap with an empty basket and handed out by staff. */
export interface Preorder {
  id: string;
  account_id: string;
  place_id: string;
  lines: SaleLine[];
  total_ore: number;
  for_date: string;
  state: 'paid' | 'handed_out';
  handed_out_at: string | null;
  handed_out_by: string | null;
}

/** What the kiosk learns of a tap at its till, beyond what the reader is told. */
export interface TillTapEvent {
  type: 'tap';
  decision: Decision;
  /** The child, when the card is known: for the result screen. */
  child?: { account_id: string; first_name: string; last_name: string; photo: string | null; balance_ore: number };
  /** allergen_check: the child's allergens in the basket, and the basket staff are asked about. */
  allergens?: string[];
  basket_id?: string;
  /** A balance check (empty basket): the child's paid orders to hand out here. */
  preorders?: Preorder[];
}

export interface ReaderState {
  reader_id: string | null;
  state: 'online' | 'offline' | 'none';
}

export interface CentralState {
  /** `not_configured` on a site not linked to central; sales go on in every state. */
  state: 'online' | 'offline' | 'not_configured';
  /** Changes from central this site could not apply and set aside (an alarm for IT); 0 when none. */
  set_aside?: number;
}

/** Every message the live WebSocket sends. */
export type TillEvent =
  | TillTapEvent
  | { type: 'hello'; till_id: string; staff_name: string; reader: ReaderState; central: CentralState }
  | { type: 'reader'; reader: ReaderState }
  | { type: 'central'; central: CentralState };
