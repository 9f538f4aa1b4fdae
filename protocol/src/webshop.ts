import Type, { type Static } from 'typebox';
import { SaleLine } from './decision.ts';
import { Id, PlaceKindSchema, Timestamp } from './ids.ts';
import { PRICE_ORE_MAX, Quantity } from './money.ts';

/**
 * The webshop (issue 20): a place's menu for a date, made by canteen staff at the kiosk (sent up
 * the link) or by an administrator at central, and the orders guardians place on it. One
 * definition for the link and central's API.
 */

/** A local date (Europe/Copenhagen), `YYYY-MM-DD`. */
export const LocalDate = Type.String({ pattern: '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$' });

export const MENU_ITEMS_MAX = 50;

/** One item of a menu: the site's product as it was when the menu was made, and an optional cap. */
export const MenuItem = Type.Object(
  {
    product_id: Id('product id'),
    name: Type.String({ minLength: 1, maxLength: 80 }),
    price_ore: Type.Integer({ minimum: 0, maximum: PRICE_ORE_MAX }),
    category: Id('category'),
    allergens: Type.Array(Id('allergen'), { maxItems: 30, uniqueItems: true }),
    /** At most this many over all orders; null: no cap. */
    cap: Type.Union([Type.Integer({ minimum: 1, maximum: 10_000 }), Type.Null()]),
  },
  { additionalProperties: false },
);
export type MenuItem = Static<typeof MenuItem>;

/** A menu's body (PUT at central; the link's `menu` change adds its place and date). */
export const MenuBody = Type.Object(
  {
    place_name: Type.String({ minLength: 1, maxLength: 80 }),
    place_kind: PlaceKindSchema,
    order_deadline: Timestamp,
    cancel_deadline: Timestamp,
    items: Type.Array(MenuItem, { minItems: 1, maxItems: MENU_ITEMS_MAX }),
  },
  { additionalProperties: false },
);
export type MenuBody = Static<typeof MenuBody>;

/** A menu as the link carries it (a site's kiosk made it). */
export const LinkMenu = Type.Object(
  { place_id: Id('place id'), date: LocalDate, ...MenuBody.properties },
  { additionalProperties: false },
);
export type LinkMenu = Static<typeof LinkMenu>;

/** A paid order as a site keeps it until it is handed out (the down change `preorder`). */
export const LinkPreorder = Type.Object(
  {
    id: Type.String({ pattern: '^[0-9a-f-]{36}$' }),
    account_id: Id('account id'),
    place_id: Id('place id'),
    for_date: LocalDate,
    lines: Type.Array(SaleLine, { minItems: 1, maxItems: MENU_ITEMS_MAX }),
  },
  { additionalProperties: false },
);
export type LinkPreorder = Static<typeof LinkPreorder>;

export const OrderId = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' });

/** A guardian's order. */
export const OrderBody = Type.Object(
  {
    id: Type.Optional(OrderId),
    site_id: Id('site id'),
    place_id: Id('place id'),
    date: LocalDate,
    lines: Type.Array(
      Type.Object({ product_id: Id('product id'), quantity: Quantity }, { additionalProperties: false }),
      {
        minItems: 1,
        maxItems: MENU_ITEMS_MAX,
      },
    ),
    payment: Type.Union([Type.Literal('canteen_card'), Type.Literal('bank_card')]),
    confirm_allergens: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type OrderBody = Static<typeof OrderBody>;

export const MenusQuery = Type.Object(
  { from: Type.Optional(LocalDate), to: Type.Optional(LocalDate) },
  { additionalProperties: false },
);

export const RelationWebshopBody = Type.Object({ allowed: Type.Boolean() }, { additionalProperties: false });

/** A kiosk's menu: the place's products by id, the site fills in the rest. */
export const KioskMenuBody = Type.Object(
  {
    order_deadline: Timestamp,
    cancel_deadline: Timestamp,
    items: Type.Array(
      Type.Object(
        {
          product_id: Id('product id'),
          cap: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 10_000 }), Type.Null()])),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MENU_ITEMS_MAX },
    ),
  },
  { additionalProperties: false },
);
export type KioskMenuBody = Static<typeof KioskMenuBody>;

export type OrderState = 'awaiting_payment' | 'paid' | 'handed_out' | 'cancelled' | 'refunded';
export const ORDER_STATE_DA: Record<OrderState, string> = {
  awaiting_payment: 'Afventer betaling',
  paid: 'Betalt',
  handed_out: 'Udleveret',
  cancelled: 'Annulleret',
  refunded: 'Refunderet',
};
