import Type from 'typebox';

/**
 * The bounds on amounts of money, in øre (1 kr = 100 øre). They are far above what a canteen moves,
 * and far below where an integer stops being exact, so a typo or a forged message is refused at the
 * boundary instead of reaching a balance.
 */

/** One deposit, withdrawal, fee, limit or opening balance through central's API or an import: 1,000,000 kr. */
export const AMOUNT_ORE_MAX = 1_000_000_00;
/** One entry or share movement on the link between central and a site: 10,000,000 kr. */
export const LINK_AMOUNT_ORE_MAX = 10_000_000_00;
/** One product's price: 100,000 kr. */
export const PRICE_ORE_MAX = 100_000_00;
/** One line's quantity in a basket or a sale. */
export const QUANTITY_MAX = 99;

/** A positive amount through central's API or an import. */
export const AmountOre = Type.Integer({ minimum: 1, maximum: AMOUNT_ORE_MAX });
/** A positive amount on the link. */
export const LinkAmountOre = Type.Integer({ minimum: 1, maximum: LINK_AMOUNT_ORE_MAX });
/** A signed amount on the link (a sale is negative, a void positive). */
export const SignedLinkAmountOre = Type.Integer({ minimum: -LINK_AMOUNT_ORE_MAX, maximum: LINK_AMOUNT_ORE_MAX });
export const Quantity = Type.Integer({ minimum: 1, maximum: QUANTITY_MAX });
