import { KantineError } from '@kantine/protocol';
import { v7 as uuidv7 } from 'uuid';
import type { BasketFacts, BasketLine } from '../taps/authorizer.ts';
import type { Catalogue } from './catalogue.ts';
import { type Db, nowIso } from './db.ts';

export interface Basket extends BasketFacts {
  created_at: string;
}
export interface BasketRequestLine {
  product_id: string;
  quantity: number;
}

type BasketRawRow = [string, string, string, number, 0 | 1, string | null, string];

/**
 * A basket's lines are JSON text read on every tap at its till; a standing basket is the same
 * text tap after tap, so each text is parsed once (the parsed lines are shared and never
 * changed). Bounded: at most this many texts are kept.
 */
const parsedLines = new Map<string, BasketLine[]>();
const PARSED_LINES_MAX = 1024;
function linesOf(text: string): BasketLine[] {
  let lines = parsedLines.get(text);
  if (lines === undefined) {
    if (parsedLines.size >= PARSED_LINES_MAX) parsedLines.clear();
    lines = JSON.parse(text) as BasketLine[];
    for (const l of lines) Object.freeze(Object.freeze(l).allergens);
    Object.freeze(lines);
    parsedLines.set(text, lines);
  }
  return lines;
}

function basketOf(r: BasketRawRow): Basket {
  return {
    till_id: r[0],
    basket_id: r[1],
    lines: linesOf(r[2]),
    total_ore: r[3],
    standing: r[4] === 1,
    allergens_confirmed_for: r[5],
    created_at: r[6],
  };
}

// A basket is what one child buys at a counter; more lines than this is a mistake at the till.
export const MAX_BASKET_LINES = 50;

/** What each till is about to sell: one basket per till, priced from the catalogue. */
export class Baskets {
  private readonly stmt;

  constructor(
    private readonly d: Db,
    private readonly catalogue: Catalogue,
  ) {
    const { db } = d;
    this.stmt = {
      getBasket: db
        .prepare<[string], BasketRawRow>(
          `SELECT till_id, basket_id, lines, total_ore, standing, allergens_confirmed_for, created_at
           FROM baskets WHERE till_id = ?`,
        )
        .raw(),
      deleteBasket: db.prepare<[string]>('DELETE FROM baskets WHERE till_id = ?'),
      upsertBasket: db.prepare(
        `INSERT INTO baskets (till_id, basket_id, lines, total_ore, standing, allergens_confirmed_for, created_at)
         VALUES (@till_id, @basket_id, @lines, @total_ore, @standing, NULL, @created_at)
         ON CONFLICT (till_id) DO UPDATE SET basket_id = excluded.basket_id, lines = excluded.lines,
           total_ore = excluded.total_ore, standing = excluded.standing,
           allergens_confirmed_for = NULL, created_at = excluded.created_at`,
      ),
    };
  }

  /** Puts a basket on a till, replacing any basket there. Prices come from the catalogue. */
  setBasket(tillId: string, request: readonly BasketRequestLine[], standing = false): Basket {
    const till = this.catalogue.getTill(tillId);
    if (!till) throw new KantineError('unknown_till', `no till ${tillId}`);
    if (request.length === 0) throw new KantineError('basket_empty');
    if (request.length > MAX_BASKET_LINES) {
      throw new KantineError('basket_too_large', `a basket holds at most ${MAX_BASKET_LINES} lines`);
    }
    const lines: BasketLine[] = request.map((l) => {
      if (!Number.isInteger(l.quantity) || l.quantity < 1 || l.quantity > 99) {
        throw new KantineError('invalid_request', `a quantity is a whole number from 1 to 99 (${l.product_id})`);
      }
      const p = this.catalogue.getProduct(l.product_id);
      // A product of another place is not on this till's menu.
      if (p?.active !== 1 || (p.place_id !== null && p.place_id !== till.place_id)) {
        throw new KantineError('unknown_product', `no product ${l.product_id} at this till`);
      }
      return {
        product_id: p.id,
        name: p.name,
        quantity: l.quantity,
        unit_price_ore: p.price_ore,
        category: p.category,
        allergens: JSON.parse(p.allergens) as string[],
      };
    });
    const total = lines.reduce((sum, l) => sum + l.quantity * l.unit_price_ore, 0);
    if (total <= 0) throw new KantineError('basket_empty', 'the basket costs nothing');
    const basket: Basket = {
      till_id: tillId,
      basket_id: uuidv7(),
      lines,
      total_ore: total,
      standing,
      allergens_confirmed_for: null,
      created_at: nowIso(this.d.clock),
    };
    this.stmt.upsertBasket.run({ ...basket, lines: JSON.stringify(lines), standing: standing ? 1 : 0 });
    return basket;
  }

  getBasket(tillId: string): Basket | undefined {
    const row = this.stmt.getBasket.get(tillId);
    return row ? basketOf(row) : undefined;
  }

  /**
   * Staff saw that the basket holds an allergen of this child's and confirmed it anyway: the
   * child's next tap pays. Only for the basket shown (`basketId`); a changed basket asks again.
   */
  confirmAllergens(tillId: string, basketId: string, accountId: string): boolean {
    return (
      this.d.db
        .prepare('UPDATE baskets SET allergens_confirmed_for = ? WHERE till_id = ? AND basket_id = ?')
        .run(accountId, tillId, basketId).changes > 0
    );
  }

  clearBasket(tillId: string): boolean {
    return this.stmt.deleteBasket.run(tillId).changes > 0;
  }
}
