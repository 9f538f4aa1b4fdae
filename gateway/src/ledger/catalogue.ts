import type { PlaceKind } from '../taps/authorizer.ts';
import type { Db } from './db.ts';

export interface Place {
  id: string;
  name: string;
  kind: 'school' | 'club';
}
export interface Till {
  id: string;
  place_id: string;
  name: string;
}
export interface Product {
  id: string;
  /** The place that sells it; null: every place of the site. */
  place_id: string | null;
  name: string;
  category: string;
  price_ore: number;
  /** Allergen codes (e.g. `gluten`, `maelk`, `noedder`); a child's allergies use the same codes. */
  allergens?: string[];
}
export type ProductRow = Omit<Product, 'allergens'> & { active: number; allergens: string };

/** The site: its places, their tills and what they sell. */
export class Catalogue {
  private readonly stmt;
  private readonly placeKinds = new Map<string, PlaceKind>();

  constructor(private readonly d: Db) {
    const { db } = d;
    this.stmt = {
      getTill: db.prepare<[string], Till>('SELECT * FROM tills WHERE id = ?'),
      getProduct: db.prepare<[string], ProductRow>('SELECT * FROM products WHERE id = ?'),
      getTillPlaceKind: db.prepare<[string], { kind: PlaceKind }>(
        'SELECT p.kind FROM tills t JOIN places p ON p.id = t.place_id WHERE t.id = ?',
      ),
    };
  }

  upsertPlace(p: Place): void {
    this.d.db
      .prepare(
        'INSERT INTO places (id, name, kind) VALUES (@id, @name, @kind) ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind',
      )
      .run(p);
    this.placeKinds.clear();
  }

  upsertTill(t: Till): void {
    this.d.db
      .prepare(
        'INSERT INTO tills (id, place_id, name) VALUES (@id, @place_id, @name) ON CONFLICT (id) DO UPDATE SET place_id = excluded.place_id, name = excluded.name',
      )
      .run(t);
    this.placeKinds.delete(t.id);
  }

  upsertProduct(p: Product): void {
    this.d.db
      .prepare(
        `INSERT INTO products (id, place_id, name, category, price_ore, allergens)
         VALUES (@id, @place_id, @name, @category, @price_ore, @allergens)
         ON CONFLICT (id) DO UPDATE SET place_id = excluded.place_id, name = excluded.name,
           category = excluded.category, price_ore = excluded.price_ore, allergens = excluded.allergens`,
      )
      .run({ ...p, allergens: JSON.stringify(p.allergens ?? []) });
  }

  getTill(id: string): Till | undefined {
    return this.stmt.getTill.get(id);
  }

  getPlace(id: string): Place | undefined {
    return this.d.db.prepare<[string], Place>('SELECT * FROM places WHERE id = ?').get(id);
  }

  listPlaces(): Place[] {
    return this.d.db.prepare<[], Place>('SELECT * FROM places ORDER BY id').all();
  }

  listTills(): Till[] {
    return this.d.db.prepare<[], Till>('SELECT * FROM tills ORDER BY id').all();
  }

  /** A product's row as stored (inactive ones too), for pricing a basket. */
  getProduct(id: string): ProductRow | undefined {
    return this.stmt.getProduct.get(id);
  }

  /** The active catalogue; with a place, what that place sells (its own and the site-wide ones). */
  listProducts(placeId?: string): Product[] {
    return this.d.db
      .prepare<{ place: string | null }, Product & { allergens: string }>(
        `SELECT id, place_id, name, category, price_ore, allergens FROM products
         WHERE active = 1 AND (@place IS NULL OR place_id IS NULL OR place_id = @place) ORDER BY category, name`,
      )
      .all({ place: placeId ?? null })
      .map((p) => ({ ...p, allergens: JSON.parse(p.allergens) as string[] }));
  }

  /** The kind of place a till stands at; kept in memory, as tills seldom move. */
  placeKindOf(tillId: string): PlaceKind {
    let kind = this.placeKinds.get(tillId);
    if (!kind) {
      const row = this.stmt.getTillPlaceKind.get(tillId);
      if (!row) throw new Error(`till ${tillId} has no place`); // tills reference places: a broken row
      kind = row.kind;
      this.placeKinds.set(tillId, kind);
    }
    return kind;
  }
}
