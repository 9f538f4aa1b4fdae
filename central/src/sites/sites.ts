import { KantineError, type PlaceKind } from '@kantine/protocol';
import type { Store } from '../db/tx.ts';

export interface SiteInput {
  id: string;
  name: string;
  place_kinds: PlaceKind[];
  secret_hash?: string;
}

export interface SiteRow {
  id: string;
  name: string;
  place_kinds: PlaceKind[];
  /** The last of the site's changes applied here. */
  up_cursor: number;
  /** The last change queued for the site, and the last it acknowledged. */
  down_seq: number;
  down_acked: number;
}

/** Sites: the schools and clubs whose gateways link to central. */
export class SiteService {
  constructor(private readonly store: Store) {}

  async put(s: SiteInput): Promise<void> {
    await this.store.tx(async (t) => {
      await t.sql.query(
        `INSERT INTO sites (id, name, place_kinds, secret_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, place_kinds = excluded.place_kinds,
           secret_hash = COALESCE(excluded.secret_hash, sites.secret_hash)`,
        [s.id, s.name, JSON.stringify(s.place_kinds), s.secret_hash ?? null],
      );
      // A site learns a batch of cards only when it may meet them (cards/batches.ts `shareBatch`).
    });
  }

  /** A site's gateway logs in to central's broker with a secret; only its hash is kept. */
  async setSecret(site: string, secretHash: string): Promise<void> {
    const rows = await this.store.db.query('UPDATE sites SET secret_hash = $2 WHERE id = $1 RETURNING 1', [
      site,
      secretHash,
    ]);
    if (rows.length === 0) throw new KantineError('not_found', `no site ${site}`);
  }

  async secretHash(site: string): Promise<string | undefined> {
    const [row] = await this.store.db.query<{ secret_hash: string | null }>(
      'SELECT secret_hash FROM sites WHERE id = $1',
      [site],
    );
    return row?.secret_hash ?? undefined;
  }

  /** The sites and how far each link has come (for IT's overview). */
  async list(): Promise<SiteRow[]> {
    return this.store.db.query<SiteRow>(
      'SELECT id, name, place_kinds, up_cursor, down_seq, down_acked FROM sites ORDER BY id',
    );
  }
}
