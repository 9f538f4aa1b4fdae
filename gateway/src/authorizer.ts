import { checkSunTap } from '@kantine/card';
import type { CardRead, DeclineCode } from '@kantine/protocol';

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
export interface AccountRow {
  id: string;
  first_name: string;
  balance_ore: number;
}
export interface BasketRow {
  till_id: string;
  basket_id: string;
  lines: string;
  total_ore: number;
  standing: 0 | 1;
}

export interface TapFacts {
  /** What the reader read. */
  read: CardRead;
  card: CardRow | undefined;
  /** The batch the card's message names (ntag424 reads only), if this site knows it. */
  batch: BatchRow | undefined;
  account: AccountRow | undefined;
  basket: BasketRow | undefined;
  settings: { allowLegacy: boolean };
}

export type Verdict = (
  | { outcome: 'approved'; account: AccountRow; basket: BasketRow }
  | { outcome: 'balance'; account: AccountRow }
  | { outcome: 'declined'; code: DeclineCode; account?: AccountRow; basket?: BasketRow }
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

/**
 * The rules of the card, in the order they are checked: the first that fails is the answer.
 * Pure: the facts are read by the ledger, in the tap's transaction, before this is called.
 */
export function authorize(f: TapFacts): Verdict {
  const { card, account, basket } = f;
  if (f.read.kind === 'ntag424' && !f.batch) return { outcome: 'declined', code: 'card_unknown_batch' };
  if (!card) return { outcome: 'declined', code: 'unknown_card' };
  const proof = genuine(f, card);
  if ('code' in proof) return { outcome: 'declined', code: proof.code };
  const sun = proof.sunCounter === undefined ? {} : { sunCounter: proof.sunCounter };
  switch (card.state) {
    case 'stock':
      return { outcome: 'declined', code: 'card_not_active', ...sun };
    case 'replaced':
      return { outcome: 'declined', code: 'card_replaced', ...sun };
    case 'blocked':
      return { outcome: 'declined', code: 'card_blocked', ...sun };
    case 'active':
      break;
  }
  // An active card without an account is a broken row, not a child's problem: treat as unknown.
  if (!account) return { outcome: 'declined', code: 'unknown_card', ...sun };
  if (!basket) return { outcome: 'balance', account, ...sun };
  if (account.balance_ore < basket.total_ore) {
    return { outcome: 'declined', code: 'insufficient_funds', account, basket, ...sun };
  }
  return { outcome: 'approved', account, basket, ...sun };
}
