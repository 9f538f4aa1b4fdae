import Type, { type Static } from 'typebox';
import { declineCodes } from './codes.ts';
import { Id, Ore, TapId, Timestamp } from './ids.ts';
import { PRICE_ORE_MAX, Quantity } from './money.ts';

export const SaleLine = Type.Object(
  {
    product_id: Id('product id'),
    name: Type.String({ minLength: 1, maxLength: 80 }),
    quantity: Quantity,
    unit_price_ore: Type.Integer({ minimum: 0, maximum: PRICE_ORE_MAX }),
  },
  { additionalProperties: false },
);
export type SaleLine = Static<typeof SaleLine>;

export const DeclineCodeSchema = Type.Enum(declineCodes, { description: 'why the tap was declined' });

/**
 * The gateway's answer to a tap, published only after the ledger commit. A repeated tap id gets
 * the same stored decision. `outcome`:
 * - `approved`: the basket was paid; `amount_ore`, `lines`, `entry_id` and the new balance are set.
 * - `declined`: nothing was paid; `code` says why.
 * - `balance`: the till had no basket; nothing was paid and the balance is shown.
 */
export const Decision = Type.Object(
  {
    v: Type.Literal(1),
    tap_id: TapId,
    reader_id: Id('the reader that sent the tap'),
    outcome: Type.Union([Type.Literal('approved'), Type.Literal('declined'), Type.Literal('balance')]),
    code: Type.Optional(DeclineCodeSchema),
    till_id: Type.Optional(Id('the till the reader belongs to')),
    amount_ore: Type.Optional(Ore('amount charged (approved) or asked (declined), in øre')),
    balance_ore: Type.Optional(Ore('the account balance after this decision, in øre')),
    first_name: Type.Optional(Type.String({ maxLength: 80 })),
    card_kind: Type.Optional(
      Type.Union([Type.Literal('legacy'), Type.Literal('ntag424')], {
        description: 'the kind of card that was read; `legacy` (UID-only) cards are weaker and should be replaced',
      }),
    ),
    limit_ore: Type.Optional(Ore('limit_exceeded_*: the spend limit of that period at this kind of place, in øre')),
    spent_ore: Type.Optional(Ore('limit_exceeded_*: what was already spent in that period, in øre')),
    lines: Type.Optional(Type.Array(SaleLine, { maxItems: 50 })),
    entry_id: Type.Optional(Type.String({ description: 'the ledger entry of an approved sale' })),
    decided_at: Timestamp,
  },
  { additionalProperties: false, $id: 'Decision', title: 'Decision' },
);
export type Decision = Static<typeof Decision>;
