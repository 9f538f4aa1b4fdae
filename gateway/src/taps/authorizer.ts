import { checkSunTap } from '@kantine/card';
import {
  basketRules,
  type CardRead,
  type DeclineCode,
  type PlaceKind,
  type RuleLimit,
  allergensFor as ruleAllergens,
  type SaleLine,
} from '@kantine/protocol';

export type { PlaceKind };

export interface CardRow {
  uid: string;
  account_id: string | null;
  state: 'stock' | 'active' | 'blocked' | 'replaced';
  kind: 'legacy' | 'ntag424';
  batch_id: string | null;
  /** The last SUN read counter accepted for this card (0 before its first tap). */
  sun_counter: number;
}
export interface BatchRow {
  id: string;
  sdm_master: Buffer;
}
/** What the rules need to know of an account: the guardians' choices, parsed. */
export interface AccountFacts {
  id: string;
  first_name: string;
  balance_ore: number;
  place_kinds: readonly PlaceKind[];
  denied_categories: readonly string[];
  allergies: readonly string[];
  auto_topup_ore: number | null;
}
/** A basket line as the till keeps it: the sale line plus what the rules look at. */
export interface BasketLine extends SaleLine {
  category: string;
  allergens: string[];
}
export interface BasketFacts {
  till_id: string;
  basket_id: string;
  lines: BasketLine[];
  total_ore: number;
  standing: boolean;
  /** The account staff confirmed this basket for despite an allergen in it. */
  allergens_confirmed_for: string | null;
}
/** One spend limit that applies at this kind of place, with what was spent in its period. */
export type LimitFacts = RuleLimit;

export interface TapFacts {
  /** What the reader read. */
  read: CardRead;
  card: CardRow | undefined;
  /** The batch the card's message names (ntag424 reads only), if this site knows it. */
  batch: BatchRow | undefined;
  account: AccountFacts | undefined;
  basket: BasketFacts | undefined;
  /** The kind of place the till stands at. */
  placeKind: PlaceKind;
  /** The account's limits at this kind of place, day before week before month. */
  limits: readonly LimitFacts[];
  settings: { allowLegacy: boolean };
}

export type Verdict = (
  | { outcome: 'approved'; account: AccountFacts; basket: BasketFacts }
  | { outcome: 'balance'; account: AccountFacts }
  | {
      outcome: 'declined';
      code: DeclineCode;
      account?: AccountFacts;
      basket?: BasketFacts;
      limit?: LimitFacts;
      /** allergen_check: the basket's allergens this child is allergic to. */
      allergens?: string[];
    }
) & {
  /** A genuine SUN read: its counter is now the card's last (whatever the outcome). */
  sunCounter?: number;
};

/**
 * Is the card that was read the card we registered? A kantine card proves it with its SUN
 * message (keys diversified for its UID, a counter that only grows); a UID-only card cannot prove
 * anything, so it passes only as `legacy`, where the site allows that.
 */
function genuine(f: TapFacts, card: CardRow): { code: DeclineCode } | { sunCounter?: number } {
  const { read } = f;
  if (read.kind === 'legacy') {
    // A UID copied from a kantine card onto a UID-only card: the copy cannot show a SUN.
    if (card.kind === 'ntag424') return { code: 'card_cloned' };
    return f.settings.allowLegacy ? {} : { code: 'legacy_card_refused' };
  }
  // A message naming another batch than the card's own did not come from this card.
  if (!f.batch || (card.batch_id !== null && card.batch_id !== read.batch)) return { code: 'card_cloned' };
  const check = checkSunTap({ sdmMaster: f.batch.sdm_master, uid: read.uid, picc: read.picc, mac: read.mac });
  switch (check.result) {
    case 'clone':
      return { code: 'card_cloned' };
    case 'tampered':
      return { code: 'card_tampered' };
    case 'genuine':
      return check.counter > card.sun_counter ? { sunCounter: check.counter } : { code: 'card_replayed' };
  }
}

type DeclineFacts = Omit<Extract<Verdict, { outcome: 'declined' }>, 'outcome' | 'code'>;

/** A decline after a genuine read: its SUN counter is used up all the same. */
function declined(code: DeclineCode, sun: { sunCounter?: number }, more: DeclineFacts = {}): Verdict {
  return { outcome: 'declined', code, ...more, ...sun };
}

/** The basket's allergens this child is allergic to (none when staff confirmed the basket). */
export function allergensFor(account: AccountFacts, basket: BasketFacts): string[] {
  return ruleAllergens(account, basket);
}

/**
 * The rules of the card, in the order they are checked; the first that fails is the answer:
 *
 *  1. unknown card (or a kantine card of a batch this site does not know)
 *  2. card not genuine: cloned, tampered, replayed, or UID-only where the site refuses those
 *  3. card replaced by a newer one
 *  4. card not yet activated (a blank from stock)
 *  5. card blocked
 *     — no basket on the till: a balance check, answered here
 *  6. this kind of place (school, club) not allowed for the account
 *  7. a product in a category the account is not permitted
 *  8. spend limit at this kind of place: day, then week, then month (Europe/Copenhagen)
 *  9. insufficient balance
 * 10. an allergen of the child's in the basket, not yet confirmed by staff (nothing is charged;
 *     staff confirm or remove the product, and the child taps again)
 *
 * Pure: the ledger reads the facts in the tap's transaction before this is called.
 */
export function authorize(f: TapFacts): Verdict {
  const { card, account, basket } = f;
  // 1
  if (f.read.kind === 'ntag424' && !f.batch) return { outcome: 'declined', code: 'card_unknown_batch' };
  if (!card) return { outcome: 'declined', code: 'unknown_card' };
  // 2
  const proof = genuine(f, card);
  if ('code' in proof) return { outcome: 'declined', code: proof.code };
  const sun = proof.sunCounter === undefined ? {} : { sunCounter: proof.sunCounter };
  // 3, 4, 5
  switch (card.state) {
    case 'replaced':
      return declined('card_replaced', sun);
    case 'stock':
      return declined('card_not_active', sun);
    case 'blocked':
      return declined('card_blocked', sun);
    case 'active':
      break;
  }
  // An active card without an account is a broken row, not a child's problem: treat as unknown.
  if (!account) return declined('unknown_card', sun);
  if (!basket) return { outcome: 'balance', account, ...sun };
  const asked = { account, basket };
  // 6–10: the child's own rules for the basket (protocol/src/basket-rules.ts, which the webshop applies too)
  const refusal = basketRules(account, basket, f.placeKind, f.limits);
  if (refusal) {
    if ('limit' in refusal) return declined(refusal.code, sun, { ...asked, limit: refusal.limit });
    if ('allergens' in refusal) return declined(refusal.code, sun, { ...asked, allergens: refusal.allergens });
    return declined(refusal.code, sun, asked);
  }
  return { outcome: 'approved', account, basket, ...sun };
}
