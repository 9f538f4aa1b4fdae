import type { Actor } from '../auth/actor.ts';
import type { Store } from '../db/tx.ts';

/** One change, as the audit log keeps it. */
export interface AuditEntry {
  actor: Actor;
  /** The route (`POST /api/accounts/:account/deposits`) or the command (`token add`). */
  action: string;
  /** Which site, account, card, batch or token: ids only, never a CPR number. */
  target: Record<string, string>;
  /** The HTTP status it was answered with (none for a command). */
  status?: number;
  request_id?: string;
  /** The caller's address, or the operator's user for a command. */
  source?: string;
}

export interface AuditRow {
  seq: number;
  at: Date | string;
  token_id: string | null;
  /** The token's name, or the person's name. */
  token_name: string;
  /** The token's scope, or the role a person acted in. */
  scope: string;
  person_id: string | null;
  action: string;
  target: Record<string, string>;
  status: number | null;
  request_id: string | null;
  source: string | null;
}

// A listing reads at most this many rows: the log only grows.
const LIST_MAX = 10_000;

/** The audit log: append-only (a trigger refuses UPDATE and DELETE), read by admins. */
export class AuditService {
  constructor(private readonly store: Store) {}

  async write(e: AuditEntry): Promise<void> {
    await this.store.db.query(
      `INSERT INTO audit_log (at, token_id, token_name, scope, person_id, action, target, status, request_id, source)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        this.store.clock.now(),
        e.actor.kind === 'service' ? e.actor.token_id : null,
        e.actor.kind === 'service' ? e.actor.token_name : e.actor.name,
        e.actor.kind === 'service' ? e.actor.scope : e.actor.role,
        e.actor.kind === 'person' ? e.actor.person_id : null,
        e.action,
        JSON.stringify(e.target),
        e.status ?? null,
        e.request_id ?? null,
        e.source ?? null,
      ],
    );
  }

  /** The newest `limit` entries (at most 10,000), oldest first; from `since` if given. */
  async list(opts: { limit?: number; since?: Date } = {}): Promise<AuditRow[]> {
    const limit = Math.min(Math.max(1, opts.limit ?? 1000), LIST_MAX);
    const rows = await this.store.db.query<AuditRow>(
      `SELECT seq, at, token_id, token_name, scope, person_id, action, target, status, request_id, source FROM audit_log
       WHERE at >= $1 ORDER BY seq DESC LIMIT $2`,
      [opts.since ?? new Date(0), limit],
    );
    return rows.reverse();
  }

  /** The lines about one account (what a guardian may read of their child's), oldest first. */
  async forAccount(accountId: string, limit = 1000): Promise<AuditRow[]> {
    const rows = await this.store.db.query<AuditRow>(
      `SELECT seq, at, token_id, token_name, scope, person_id, action, target, status, request_id, source
       FROM audit_log WHERE target ->> 'account' = $1 ORDER BY seq DESC LIMIT $2`,
      [accountId, Math.min(Math.max(1, limit), LIST_MAX)],
    );
    return rows.reverse();
  }
}
