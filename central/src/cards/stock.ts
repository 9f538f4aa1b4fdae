import { KantineError, type StockRequest } from '@kantine/protocol';
import type { Store } from '../db/tx.ts';
import { shareBatch } from './batches.ts';

/** Blank cards in stock at a school (or club) office. */
export class StockService {
  constructor(private readonly store: Store) {}

  /**
   * A programmed batch laid in stock at a school (or club) office, all or nothing. Registering the
   * same cards again changes nothing; a UID or card number already registered otherwise is refused.
   */
  async add(batchId: string, req: StockRequest): Promise<{ added: number; already: number }> {
    return this.store.tx(async (t) => {
      if ((await t.sql.query('SELECT 1 FROM batches WHERE id = $1', [batchId])).length === 0)
        throw new KantineError('not_found', `no batch ${batchId}: register its key first`);
      if ((await t.sql.query('SELECT 1 FROM sites WHERE id = $1', [req.site])).length === 0)
        throw new KantineError('not_found', `no site ${req.site}`);
      let added = 0;
      let already = 0;
      for (const c of req.cards) {
        const rows = await t.sql.query<{ uid: string; batch_id: string | null; card_number: string | null }>(
          'SELECT uid, batch_id, card_number FROM cards WHERE uid = $1 OR card_number = $2 FOR UPDATE',
          [c.uid, c.card_number],
        );
        const [row] = rows;
        if (!row) {
          await t.sql.query(
            `INSERT INTO cards (uid, account_id, state, kind, batch_id, card_number, stock_site)
             VALUES ($1, NULL, 'stock', 'ntag424', $2, $3, $4)`,
            [c.uid, batchId, c.card_number, req.site],
          );
          added++;
        } else if (
          rows.length === 1 &&
          row.uid === c.uid &&
          row.batch_id === batchId &&
          row.card_number === c.card_number
        ) {
          already++;
        } else {
          throw new KantineError(
            'invalid_request',
            `card ${c.uid} (number ${c.card_number}) clashes with card ${row.uid} (batch ${row.batch_id ?? '-'}, number ${row.card_number ?? '-'}) already registered`,
          );
        }
      }
      // The office's site may meet these cards: it learns their batch.
      if (added + already > 0) await shareBatch(t, req.site, batchId);
      return { added, already };
    });
  }

  /** What lies in stock at each office, by batch. */
  async at(site: string): Promise<{ batch_id: string; cards: number }[]> {
    return this.store.db.query(
      `SELECT batch_id, COUNT(*)::int AS cards FROM cards WHERE stock_site = $1 AND state = 'stock'
       GROUP BY batch_id ORDER BY batch_id`,
      [site],
    );
  }
}
