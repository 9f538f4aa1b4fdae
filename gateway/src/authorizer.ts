import type { DeclineCode } from '@kantine/protocol';

export interface CardRow {
  uid: string;
  account_id: string | null;
  state: 'stock' | 'active' | 'blocked' | 'replaced';
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
  card: CardRow | undefined;
  account: AccountRow | undefined;
  basket: BasketRow | undefined;
}

export type Verdict =
  | { outcome: 'approved'; account: AccountRow; basket: BasketRow }
  | { outcome: 'balance'; account: AccountRow }
  | { outcome: 'declined'; code: DeclineCode; account?: AccountRow; basket?: BasketRow };

/**
 * The rules of the card, in the order they are checked: the first that fails is the answer.
 * Pure: the facts are read by the ledger, in the tap's transaction, before this is called.
 */
export function authorize({ card, account, basket }: TapFacts): Verdict {
  if (!card) return { outcome: 'declined', code: 'unknown_card' };
  switch (card.state) {
    case 'stock':
      return { outcome: 'declined', code: 'card_not_active' };
    case 'replaced':
      return { outcome: 'declined', code: 'card_replaced' };
    case 'blocked':
      return { outcome: 'declined', code: 'card_blocked' };
    case 'active':
      break;
  }
  // An active card without an account is a broken row, not a child's problem: treat as unknown.
  if (!account) return { outcome: 'declined', code: 'unknown_card' };
  if (!basket) return { outcome: 'balance', account };
  if (account.balance_ore < basket.total_ore) {
    return { outcome: 'declined', code: 'insufficient_funds', account, basket };
  }
  return { outcome: 'approved', account, basket };
}
