import { randomBytes } from 'node:crypto';
import { KantineError } from '@kantine/protocol';
import {
  type EnrolRequest,
  type EnrolResponse,
  enrolRequestMac,
  enrolResponseMac,
  macMatches,
  newEnrolToken,
} from '@kantine/protocol/enrolment';
import type { Clock } from '../clock.ts';
import type { Ledger } from '../ledger/ledger.ts';

/** A token lives this long unless IT says otherwise. */
export const DEFAULT_TOKEN_HOURS = 24;

export interface EnrolmentRow {
  id: string;
  till_id: string;
  reader_id: string | null;
  created_at: string;
  expires_at: string;
  used_at: string | null;
  used_by: string | null;
}

/**
 * One-time enrolment tokens, kept in the ledger (docs/operations/it-guide.md). A token names the
 * till its reader will serve, and may fix the reader's id; it works once, before it expires.
 */
export class Enrolments {
  constructor(
    private readonly ledger: Ledger,
    private readonly clock: Clock,
  ) {}

  create(opts: { till_id: string; reader_id?: string; hours?: number }): { token: string; row: EnrolmentRow } {
    if (!this.ledger.catalogue.getTill(opts.till_id)) throw new KantineError('unknown_till', `no till ${opts.till_id}`);
    const hours = opts.hours ?? DEFAULT_TOKEN_HOURS;
    if (!Number.isFinite(hours) || hours <= 0 || hours > 24 * 30) {
      throw new KantineError('invalid_request', 'a token lives from a minute to 30 days (--hours)');
    }
    const { id, key, token } = newEnrolToken();
    const now = this.clock.now();
    const row: EnrolmentRow = {
      id,
      till_id: opts.till_id,
      reader_id: opts.reader_id ?? null,
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + hours * 3_600_000).toISOString(),
      used_at: null,
      used_by: null,
    };
    this.ledger.db
      .prepare(
        `INSERT INTO enrolments (id, key, till_id, reader_id, created_at, expires_at)
         VALUES (@id, @key, @till_id, @reader_id, @created_at, @expires_at)`,
      )
      .run({ ...row, key });
    return { token, row };
  }

  list(): EnrolmentRow[] {
    return this.ledger.db
      .prepare<[], EnrolmentRow>(
        'SELECT id, till_id, reader_id, created_at, expires_at, used_at, used_by FROM enrolments ORDER BY created_at',
      )
      .all();
  }

  /**
   * Checks a reader's request (its secret hash has the one allowed format: the schema) and, if
   * the token is good, spends it and makes the reader, in one transaction: returns who the
   * reader is and the key to sign the answer with. Every refusal
   * is the same `enrolment_refused`, so a guesser learns nothing about which tokens exist.
   */
  redeem(req: EnrolRequest): { readerId: string; tillId: string; key: string } {
    const refuse = (why: string) => new KantineError('enrolment_refused', why);
    return this.ledger.db.transaction(() => {
      const row = this.ledger.db
        .prepare<[string], EnrolmentRow & { key: string | null }>('SELECT * FROM enrolments WHERE id = ?')
        .get(req.token_id);
      if (!row?.key) throw refuse('unknown or used token');
      if (!macMatches(req.mac, enrolRequestMac(row.key, req)))
        throw refuse('the request is not signed with this token');
      const now = this.clock.now().toISOString();
      if (row.expires_at <= now) throw refuse(`the token expired at ${row.expires_at}`);
      const readerId = row.reader_id ?? req.reader_id ?? `reader-${randomBytes(4).toString('hex')}`;
      const existing = this.ledger.readers.listReaders().find((r) => r.id === readerId);
      if (existing && !existing.revoked_at)
        throw refuse(`reader ${readerId} is already enrolled: revoke it first to replace it`);
      this.ledger.readers.upsertReader({ id: readerId, till_id: row.till_id, secret_hash: req.secret_hash });
      this.ledger.db
        .prepare('UPDATE enrolments SET key = NULL, used_at = ?, used_by = ? WHERE id = ?')
        .run(now, readerId, row.id);
      return { readerId, tillId: row.till_id, key: row.key };
    })();
  }

  /** The answer to a redeemed request, signed with the token's key. */
  static answer(key: string, tokenId: string, body: Omit<EnrolResponse, 'mac' | 'v'>): EnrolResponse {
    return { v: 1, ...body, mac: enrolResponseMac(key, tokenId, body) };
  }

  /** Forgets the keys of expired tokens (their rows stay as a record). */
  expire(): number {
    return this.ledger.db
      .prepare('UPDATE enrolments SET key = NULL WHERE key IS NOT NULL AND expires_at <= ?')
      .run(this.clock.now().toISOString()).changes;
  }
}
