import type { Decision, SaleLine, Tap, TapCancel } from '@kantine/protocol';
import type { Ledger } from '../ledger/ledger.ts';
import type { BasketLine, PlaceKind, Verdict } from './authorizer.ts';

/** A tap's decision, as committed: `replay` when it is a stored decision for a repeated tap id. */
export interface Decided {
  decision: Decision;
  /** The decision as stored, serialised once: the reader is sent exactly this text. */
  json: string;
  replay: boolean;
  /** The account the card belongs to (a fresh decision with a known card only): for the kiosk. */
  account_id?: string;
  /** allergen_check: the child's allergens found in the basket. */
  allergens?: string[];
}

/** What `decideTap` settled on, for the commit to write. */
export interface TapPlan {
  tap: Tap;
  till_id: string;
  card_known: boolean;
  /** The account of the card, when the card is known and has one. */
  account_id: string | undefined;
  place_kind: PlaceKind;
  /** The escrow budgets an approved sale draws on (a linked site only). */
  budgets: string[];
  verdict: Verdict;
  decided_at: string;
}

/** The sale line as the receipt and the decision show it (without the rules' extras). */
function saleLine(l: BasketLine): SaleLine {
  return { product_id: l.product_id, name: l.name, quantity: l.quantity, unit_price_ore: l.unit_price_ore };
}

/**
 * Writes a decided tap: the card's SUN counter, an approved sale's entry (with its shares, the
 * basket's end and any automatic top-up request) and the tap's stored decision. Call inside the
 * tap's transaction.
 */
export function commitTap(ledger: Ledger, p: TapPlan): Decided {
  const { tap, verdict, decided_at } = p;
  // A genuine SUN message is used up whatever the outcome: the same message never passes twice.
  if (verdict.sunCounter !== undefined) ledger.accounts.setSunCounter(tap.card.uid, verdict.sunCounter);
  // Each decision is this object with its outcome's fields assigned onto it, never
  // `{ ...base, outcome, … }`: V8 (Node 20) spreads a fresh object and then adds each further
  // property through a slow path, about 1 µs a property — 9 µs for a sale's decision.
  const base = {
    v: 1 as const,
    tap_id: tap.tap_id,
    reader_id: tap.reader_id,
    till_id: p.till_id,
    ...(p.card_known ? { card_kind: tap.card.kind } : {}),
    decided_at,
  };

  let decision: Decision;
  switch (verdict.outcome) {
    case 'declined':
      decision = Object.assign(base, {
        outcome: 'declined' as const,
        code: verdict.code,
        ...(verdict.basket ? { amount_ore: verdict.basket.total_ore } : {}),
        ...(verdict.account
          ? { first_name: verdict.account.first_name, balance_ore: verdict.account.balance_ore }
          : {}),
        ...(verdict.limit ? { limit_ore: verdict.limit.limit_ore, spent_ore: verdict.limit.spent_ore } : {}),
      });
      break;
    case 'balance':
      decision = Object.assign(base, {
        outcome: 'balance' as const,
        first_name: verdict.account.first_name,
        balance_ore: verdict.account.balance_ore,
      });
      break;
    case 'approved': {
      const { account: acc, basket } = verdict;
      const lines = basket.lines.map(saleLine);
      const sale = ledger.entries.purchase({
        account_id: acc.id,
        balance_ore: acc.balance_ore,
        total_ore: basket.total_ore,
        tap_id: tap.tap_id,
        till_id: p.till_id,
        place_kind: p.place_kind,
        lines,
        budgets: p.budgets,
        created_at: decided_at,
        ...(verdict.sunCounter !== undefined ? { card: { uid: tap.card.uid, sun_counter: verdict.sunCounter } } : {}),
      });
      if (!basket.standing) ledger.baskets.clearBasket(p.till_id);
      // Automatic top-up: asked of central, never waited for.
      ledger.topups.afterPurchase({
        account_id: acc.id,
        auto_topup_ore: acc.auto_topup_ore,
        entry_id: sale.entry_id,
        balance_ore: sale.balance_ore,
        at: decided_at,
      });
      decision = Object.assign(base, {
        outcome: 'approved' as const,
        amount_ore: basket.total_ore,
        balance_ore: sale.balance_ore,
        first_name: acc.first_name,
        lines,
        entry_id: sale.entry_id,
      });
      break;
    }
  }
  const json = ledger.taps.record({
    tap_id: tap.tap_id,
    reader_id: tap.reader_id,
    till_id: p.till_id,
    card_uid: tap.card.uid,
    decision,
  });
  return {
    decision,
    json,
    replay: false,
    ...(p.account_id ? { account_id: p.account_id } : {}),
    ...(verdict.outcome === 'declined' && verdict.allergens ? { allergens: verdict.allergens } : {}),
  };
}

/**
 * A reader gave up on a tap. Undecided, it is stored as declined (`tap_cancelled`) so a late copy
 * can never be charged; decided, the stored decision stands. Call inside `ledger.transaction()`.
 */
export function cancelTap(ledger: Ledger, cancel: TapCancel, tillId: string | null): Decided {
  const stored = ledger.taps.storedDecision(cancel.tap_id);
  if (stored) return { decision: stored.decision, json: stored.json, replay: true };
  const decision: Decision = {
    v: 1,
    tap_id: cancel.tap_id,
    reader_id: cancel.reader_id,
    ...(tillId ? { till_id: tillId } : {}),
    outcome: 'declined',
    code: 'tap_cancelled',
    decided_at: ledger.clock.now().toISOString(),
  };
  const json = ledger.taps.record({
    tap_id: cancel.tap_id,
    reader_id: cancel.reader_id,
    till_id: tillId,
    card_uid: null,
    decision,
  });
  return { decision, json, replay: false };
}
