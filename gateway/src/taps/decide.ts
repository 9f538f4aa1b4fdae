import type { Tap } from '@kantine/protocol';
import type { BudgetNeed } from '../ledger/escrow.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { EscrowTurn } from '../link/central-link.ts';
import { authorize } from './authorizer.ts';
import { commitTap, type Decided } from './commit.ts';

/**
 * What deciding a tap gave: a decision (committed with the caller's transaction), or, on a linked
 * site, a sale this site's escrow shares cannot cover — nothing written — with what it lacks, for
 * the processor to ask central before it decides the tap with central's answer.
 */
export type TapResult =
  | { kind: 'decided'; decided: Decided }
  | { kind: 'needs_shares'; account_id: string; needs: BudgetNeed[] };

/**
 * Decides one tap: the card, the account, the basket and the rules (`authorize`), then, on a
 * linked site, the escrow shares. Call inside `ledger.transaction()`; the decision may be
 * published only after that transaction has committed. A tap id seen before gets its stored
 * decision. With `turn.mayAsk` a sale beyond the shares comes back as `needs_shares`; without, it
 * is declined (`turn.refused`, or `share_exhausted_offline`). `stale`: the reader has given up on
 * this tap (processor.ts): declined `tap_stale`, unless it was decided before.
 */
export function decideTap(ledger: Ledger, tap: Tap, tillId: string, turn: EscrowTurn, stale = false): TapResult {
  const stored = ledger.taps.storedDecision(tap.tap_id);
  if (stored) return { kind: 'decided', decided: { decision: stored.decision, json: stored.json, replay: true } };
  if (stale) {
    // Past the reader's answer timeout: it has shown "no answer" and given up, so this tap must
    // never charge. Declined without a look at the card (nothing of it is used up).
    const decided = commitTap(ledger, {
      tap,
      till_id: tillId,
      card_known: false,
      account_id: undefined,
      place_kind: ledger.catalogue.placeKindOf(tillId),
      budgets: [],
      verdict: { outcome: 'declined', code: 'tap_stale' },
      decided_at: ledger.clock.now().toISOString(),
    });
    return { kind: 'decided', decided };
  }

  const decided_at = ledger.clock.now().toISOString();
  const { accounts, catalogue, escrow } = ledger;
  const read = tap.card;
  const card = accounts.getCard(read.uid);
  const batch = read.kind === 'ntag424' ? accounts.getBatch(read.batch) : undefined;
  const account = card?.account_id ? accounts.getAccount(card.account_id) : undefined;
  const basket = ledger.baskets.getBasket(tillId);
  const placeKind = catalogue.placeKindOf(tillId);
  const limits = account && basket ? accounts.limitsAt(account.id, placeKind) : [];
  let verdict = authorize({
    read,
    card,
    batch,
    account,
    basket,
    placeKind,
    limits,
    settings: { allowLegacy: ledger.allowLegacyCards },
  });
  // Escrow: a linked site sells only from its own shares of the balance and of each limit.
  let budgets: string[] = [];
  if (escrow && verdict.outcome === 'approved') {
    budgets = escrow.budgetsFor(placeKind, limits, ledger.clock.now());
    const needs = escrow.shortfall(verdict.account.id, budgets, verdict.basket.total_ore);
    if (needs.length > 0) {
      if (turn.mayAsk) return { kind: 'needs_shares', needs, account_id: verdict.account.id };
      verdict = {
        outcome: 'declined',
        code: turn.refused ?? 'share_exhausted_offline',
        account: verdict.account,
        basket: verdict.basket,
        ...(verdict.sunCounter === undefined ? {} : { sunCounter: verdict.sunCounter }),
      };
    }
  }
  const decided = commitTap(ledger, {
    tap,
    till_id: tillId,
    card_known: card !== undefined,
    account_id: account?.id,
    place_kind: placeKind,
    budgets,
    verdict,
    decided_at,
  });
  return { kind: 'decided', decided };
}
