import { type Db, nowIso } from './db.ts';

/** The staff who log in at the tills; their PINs arrive already hashed (`hashSecret`). */
export class Staff {
  constructor(private readonly d: Db) {}

  /** Adds or updates a member of staff. */
  putStaff(s: { id: string; name: string; pin_hash: string }): void {
    this.d.db
      .prepare(
        `INSERT INTO staff (id, name, pin_hash, created_at) VALUES (@id, @name, @pin_hash, @created_at)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, pin_hash = excluded.pin_hash, active = 1`,
      )
      .run({ ...s, created_at: nowIso(this.d.clock) });
  }

  /** Stops a member of staff logging in (the row stays: voids and hand-outs name them). */
  removeStaff(id: string): boolean {
    return this.d.db.prepare('UPDATE staff SET active = 0 WHERE id = ?').run(id).changes > 0;
  }

  listStaff(): { id: string; name: string }[] {
    return this.d.db
      .prepare<[], { id: string; name: string }>('SELECT id, name FROM staff WHERE active = 1 ORDER BY name')
      .all();
  }

  getStaff(id: string): { id: string; name: string; pin_hash: string } | undefined {
    return this.d.db
      .prepare<[string], { id: string; name: string; pin_hash: string }>(
        'SELECT id, name, pin_hash FROM staff WHERE id = ? AND active = 1',
      )
      .get(id);
  }
}
