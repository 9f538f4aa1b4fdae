import type { Period, PlaceKind } from './budgets.ts';
import type { DeclineCode } from './codes.ts';

/**
 * The child's own rules for a basket (steps 6–10 of the till's rules, gateway/src/taps/authorizer.ts),
 * in one place for both who apply them: the till at a tap, and central when a guardian orders in
 * the webshop. The same facts give the same first refusal, with the same code.
 */
export interface RuleAccount {
  id: string;
  balance_ore: number;
  place_kinds: readonly PlaceKind[];
  denied_categories: readonly string[];
  allergies: readonly string[];
}
export interface RuleLine {
  category: string;
  allergens: readonly string[];
}
export interface RuleBasket {
  lines: readonly RuleLine[];
  total_ore: number;
  /** The account staff (or a guardian) confirmed this basket for despite an allergen in it. */
  allergens_confirmed_for: string | null;
}
/** One spend limit that applies at this kind of place, with what was spent in its period. */
export interface RuleLimit {
  period: Period;
  limit_ore: number;
  spent_ore: number;
}

export type BasketRefusal =
  | { code: 'place_not_allowed' | 'category_not_allowed' | 'insufficient_funds' }
  | { code: 'limit_exceeded_day' | 'limit_exceeded_week' | 'limit_exceeded_month'; limit: RuleLimit }
  | { code: 'allergen_check'; allergens: string[] };

const limitCode: Record<Period, Extract<DeclineCode, `limit_exceeded_${string}`>> = {
  day: 'limit_exceeded_day',
  week: 'limit_exceeded_week',
  month: 'limit_exceeded_month',
};

/** The basket's allergens this child is allergic to (none when the basket was confirmed for them). */
export function allergensFor(account: RuleAccount, basket: RuleBasket): string[] {
  if (account.allergies.length === 0 || basket.allergens_confirmed_for === account.id) return [];
  const found = new Set<string>();
  for (const line of basket.lines) for (const a of line.allergens) if (account.allergies.includes(a)) found.add(a);
  return [...found].sort();
}

/**
 * The first of the child's rules the basket breaks, or null:
 *  6. this kind of place (school, club) not allowed for the account
 *  7. a product in a category the account is not permitted
 *  8. spend limit at this kind of place: day, then week, then month (`limits` in that order)
 *  9. insufficient balance (skipped with `balance: false`: paid otherwise than from the balance)
 * 10. an allergen of the child's in the basket, not yet confirmed
 */
export function basketRules(
  account: RuleAccount,
  basket: RuleBasket,
  placeKind: PlaceKind,
  limits: readonly RuleLimit[],
  opts: { balance?: boolean } = {},
): BasketRefusal | null {
  if (!account.place_kinds.includes(placeKind)) return { code: 'place_not_allowed' };
  if (basket.lines.some((l) => account.denied_categories.includes(l.category))) return { code: 'category_not_allowed' };
  for (const limit of limits) {
    if (limit.spent_ore + basket.total_ore > limit.limit_ore) return { code: limitCode[limit.period], limit };
  }
  if (opts.balance !== false && account.balance_ore < basket.total_ore) return { code: 'insufficient_funds' };
  const allergens = allergensFor(account, basket);
  if (allergens.length > 0) return { code: 'allergen_check', allergens };
  return null;
}
