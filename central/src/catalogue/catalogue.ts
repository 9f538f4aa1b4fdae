import { KantineError } from '@kantine/protocol';
import type { Store, Tx } from '../db/tx.ts';

/** One entry of a list: the id the sites' products carry, and its name in Danish and English. */
export interface CatalogueEntry {
  id: string;
  da: string;
  en: string;
}

export type CatalogueList = 'category' | 'allergen';

/** The municipality's lists, in their order. */
export interface Catalogue {
  categories: CatalogueEntry[];
  allergens: CatalogueEntry[];
}

/**
 * The municipality's product categories and allergens (issue 18). Products live at the sites,
 * each with a category and its allergens as ids; central keeps the lists those ids come from, so
 * a guardian can deny a category or mark an allergy for a child without central knowing every
 * site's products. A table rather than a config setting: the municipality's administrator keeps
 * it while central runs (`PUT /api/catalogue/categories`, audited like every change), and every
 * worker reads the same list at once — a setting would need every worker restarted with the same
 * file. Migration 16 starts it with the common categories and the EU's 14 allergens.
 */
export class CatalogueService {
  constructor(private readonly store: Store) {}

  async get(): Promise<Catalogue> {
    const rows = await this.store.db.query<{ list: CatalogueList; id: string; name_da: string; name_en: string }>(
      'SELECT list, id, name_da, name_en FROM catalogue_entries ORDER BY list, position, id',
    );
    const of = (list: CatalogueList) =>
      rows.filter((r) => r.list === list).map((r) => ({ id: r.id, da: r.name_da, en: r.name_en }));
    return { categories: of('category'), allergens: of('allergen') };
  }

  /**
   * Replaces a list as a whole, in the order given. An id that leaves the list stays on the
   * accounts that name it (a site's products may still carry it): the till keeps following it.
   */
  async put(list: CatalogueList, entries: readonly CatalogueEntry[]): Promise<void> {
    const seen = new Set<string>();
    for (const [i, e] of entries.entries()) {
      if (seen.has(e.id))
        throw new KantineError('invalid_request', `${e.id} is in the list twice`, [`/${i}/id is in the list twice`]);
      seen.add(e.id);
    }
    await this.store.tx(async (t) => {
      await t.sql.query('DELETE FROM catalogue_entries WHERE list = $1', [list]);
      for (const [i, e] of entries.entries()) {
        await t.sql.query(
          'INSERT INTO catalogue_entries (list, id, name_da, name_en, position) VALUES ($1, $2, $3, $4, $5)',
          [list, e.id, e.da, e.en, i + 1],
        );
      }
    });
  }
}

/**
 * Checks the ids a change of a child's settings names against the municipality's lists (in the
 * change's transaction): every id the account does not have yet must be on the list
 * (`catalogue_unknown`, with each unknown id's place in the body as a detail). An id the account
 * already has stays allowed even when it has left the list (`put` above: the till keeps following
 * it), so saving one's other choices never fails on the municipality's earlier list.
 */
export async function checkCatalogueIds(
  t: Tx,
  list: CatalogueList,
  ids: readonly string[],
  already: readonly string[],
): Promise<void> {
  const fresh = ids.filter((id) => !already.includes(id));
  if (fresh.length === 0) return;
  const known = new Set(
    (
      await t.sql.query<{ id: string }>('SELECT id FROM catalogue_entries WHERE list = $1 AND id = ANY($2)', [
        list,
        fresh,
      ])
    ).map((r) => r.id),
  );
  const field = list === 'category' ? 'denied_categories' : 'allergies';
  const details = ids.flatMap((id, i) =>
    fresh.includes(id) && !known.has(id) ? [`/${field}/${i} ${id} is not on the list`] : [],
  );
  if (details.length > 0)
    throw new KantineError(
      'catalogue_unknown',
      `${field === 'allergies' ? 'an allergen' : 'a category'} not on the municipality's list`,
      details,
    );
}
