import { type Db, nowIso } from './db.ts';

export interface ReaderRow {
  id: string;
  till_id: string | null;
  secret_hash: string;
  revoked_at: string | null;
}

/** The card readers of the site, each at a till, with its MQTT secret (hashed). */
export class Readers {
  constructor(private readonly d: Db) {}

  upsertReader(r: { id: string; till_id: string | null; secret_hash: string }): void {
    this.d.db
      .prepare(
        `INSERT INTO readers (id, till_id, secret_hash, created_at) VALUES (@id, @till_id, @secret_hash, @created_at)
         ON CONFLICT (id) DO UPDATE SET till_id = excluded.till_id, secret_hash = excluded.secret_hash, revoked_at = NULL`,
      )
      .run({ ...r, created_at: nowIso(this.d.clock) });
  }

  /** Stops a reader connecting (the row stays: taps name it). */
  revokeReader(id: string): boolean {
    return (
      this.d.db
        .prepare('UPDATE readers SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
        .run(nowIso(this.d.clock), id).changes > 0
    );
  }

  listReaders(): ReaderRow[] {
    return this.d.db
      .prepare<[], ReaderRow>('SELECT id, till_id, secret_hash, revoked_at FROM readers ORDER BY id')
      .all();
  }
}
