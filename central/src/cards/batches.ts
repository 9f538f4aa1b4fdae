import { KantineError } from '@kantine/protocol';
import type { Store, Tx } from '../db/tx.ts';
import { appendDown } from '../link/down-log.ts';

/**
 * Demo batches' keys are made from public text (demo/src/demo-site.ts): whoever reads the source
 * can forge their cards. Only the demo registers one.
 */
export const isDemoBatch = (id: string): boolean => id.startsWith('DEMO-');

/**
 * Batches of kantine cards from provisioning. A batch's SDM master key never changes once
 * registered (a site that re-keyed would refuse the real cards and take forged ones), and a site
 * learns a batch only when it may meet its cards (`shareBatch`).
 */
export class BatchService {
  constructor(private readonly store: Store) {}

  /**
   * Registers a batch's SDM master key. The same key again changes nothing; another key is
   * refused (`batch_key_conflict`), as is a demo batch outside the demo (`demo_batch_refused`).
   */
  async register(id: string, sdmMaster: Uint8Array, opts: { demo?: boolean } = {}): Promise<void> {
    if (sdmMaster.length !== 16) throw new KantineError('invalid_request', 'an SDM master key is 16 bytes');
    if (isDemoBatch(id) && opts.demo !== true)
      throw new KantineError('demo_batch_refused', `batch ${id}: DEMO- batches are for the demo only`);
    await this.store.tx(async (t) => {
      const [inserted] = await t.sql.query(
        'INSERT INTO batches (id, sdm_master) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING 1',
        [id, sdmMaster],
      );
      if (inserted) return;
      const [existing] = await t.sql.query<{ sdm_master: Uint8Array }>('SELECT sdm_master FROM batches WHERE id = $1', [
        id,
      ]);
      if (!existing || !Buffer.from(existing.sdm_master).equals(Buffer.from(sdmMaster)))
        throw new KantineError('batch_key_conflict', `batch ${id} is registered with another key`);
    });
  }
}

/**
 * A site may now meet the batch's cards (they lie in its stock, or belong to an account it
 * serves): it gets the batch's key, once.
 */
export async function shareBatch(t: Tx, site: string, batchId: string): Promise<void> {
  const [sent] = await t.sql.query(
    'INSERT INTO site_batches (site_id, batch_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1',
    [site, batchId],
  );
  if (!sent) return;
  const [b] = await t.sql.query<{ id: string; sdm_master: Uint8Array }>(
    'SELECT id, sdm_master FROM batches WHERE id = $1',
    [batchId],
  );
  if (!b) throw new Error(`no batch ${batchId}`); // cards name batches by foreign key
  await appendDown(t, site, { kind: 'batch', batch: batchOf(b) });
}

/** A batch as sites see it. */
export function batchOf(b: { id: string; sdm_master: Uint8Array }): { id: string; sdm_master: string } {
  return { id: b.id, sdm_master: Buffer.from(b.sdm_master).toString('hex') };
}
