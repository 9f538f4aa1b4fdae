import { type Db, nowIso } from './db.ts';

/** Integrations (Node-RED and the like) that may watch the site's events; secrets arrive hashed. */
export class Integrations {
  private readonly anyActiveStmt;

  constructor(private readonly d: Db) {
    this.anyActiveStmt = d.db
      .prepare<[], number>('SELECT EXISTS (SELECT 1 FROM integrations WHERE revoked_at IS NULL)')
      .pluck();
  }

  /**
   * Whether any integration may connect (known and not revoked). On the embedded broker only an
   * integration may subscribe to the site's events: without one, nobody can be listening.
   */
  anyActive(): boolean {
    return this.anyActiveStmt.get() === 1;
  }

  /** Adds (or re-keys, un-revoking) an integration. */
  putIntegration(i: { id: string; name: string; secret_hash: string }): void {
    this.d.db
      .prepare(
        `INSERT INTO integrations (id, name, secret_hash, created_at) VALUES (@id, @name, @secret_hash, @created_at)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, secret_hash = excluded.secret_hash, revoked_at = NULL`,
      )
      .run({ ...i, created_at: nowIso(this.d.clock) });
  }

  revokeIntegration(id: string): boolean {
    return (
      this.d.db
        .prepare('UPDATE integrations SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
        .run(nowIso(this.d.clock), id).changes > 0
    );
  }

  /** The stored secret hash of an integration that may connect, or undefined (unknown or revoked). */
  integrationSecretHash(id: string): string | undefined {
    return this.d.db
      .prepare<[string], { secret_hash: string }>(
        'SELECT secret_hash FROM integrations WHERE id = ? AND revoked_at IS NULL',
      )
      .get(id)?.secret_hash;
  }

  listIntegrations(): { id: string; name: string; created_at: string; revoked_at: string | null }[] {
    return this.d.db
      .prepare<[], { id: string; name: string; created_at: string; revoked_at: string | null }>(
        'SELECT id, name, created_at, revoked_at FROM integrations ORDER BY id',
      )
      .all();
  }
}
