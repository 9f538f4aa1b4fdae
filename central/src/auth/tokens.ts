import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { KantineError } from '@kantine/protocol';
import type { Store } from '../db/tx.ts';
import type { ServiceActor } from './actor.ts';

/**
 * What a machine credential may do: only what a route declares for its scope (http/route.ts);
 * `admin` is listed on the routes an administrator's tool may use. People have roles instead.
 */
export const SCOPES = ['admin', 'it', 'finance', 'monitoring'] as const;
export type Scope = (typeof SCOPES)[number];

export interface TokenRow {
  id: string;
  name: string;
  scope: Scope;
  created_at: Date | string;
  last_used_at: Date | string | null;
  revoked_at: Date | string | null;
}

const PREFIX = 'kc';
// `kc_<id>_<secret>`: the id finds the row, the secret (256 random bits) is the credential.
const TOKEN = /^kc_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
// last_used_at is a hint for the operator, not a log: written at most once a minute per token,
// so a busy integration does not write a row per request.
const LAST_USED_EVERY_S = 60;

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/**
 * The API's tokens: random, stored as a SHA-256 only (they are 256-bit random, so a slow hash
 * adds nothing), compared in constant time, listed with their use, revoked by id.
 */
export class TokenService {
  constructor(private readonly store: Store) {}

  /** A new token; the only time its secret is seen. */
  async add(scope: Scope, name: string): Promise<{ id: string; token: string }> {
    if (!SCOPES.includes(scope)) {
      throw new KantineError('invalid_request', `scope ${scope} is not one of ${SCOPES.join(', ')}`);
    }
    if (!/^[\p{L}\p{N} ._@-]{1,80}$/u.test(name)) {
      throw new KantineError('invalid_request', 'a name is 1 to 80 letters, digits, spaces and . _ @ -');
    }
    const id = randomBytes(8).toString('hex');
    const token = `${PREFIX}_${id}_${randomBytes(32).toString('base64url')}`;
    await this.store.db.query(
      'INSERT INTO api_tokens (id, name, scope, token_sha256, created_at) VALUES ($1, $2, $3, $4, $5)',
      [id, name, scope, digest(token), this.store.clock.now()],
    );
    return { id, token };
  }

  async list(): Promise<TokenRow[]> {
    return this.store.db.query<TokenRow>(
      'SELECT id, name, scope, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY created_at, id',
    );
  }

  /** Revokes a token at once, on every worker (each request looks its token up). */
  async revoke(id: string): Promise<TokenRow> {
    const [row] = await this.store.db.query<TokenRow>(
      `UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL
       RETURNING id, name, scope, created_at, last_used_at, revoked_at`,
      [id, this.store.clock.now()],
    );
    if (!row) throw new KantineError('not_found', `no active token ${id}`);
    return row;
  }

  /** The token's holder, or `bad_credentials` (unknown, malformed, revoked: all the same answer). */
  async verify(token: string): Promise<ServiceActor> {
    const m = TOKEN.exec(token);
    const [row] = m
      ? await this.store.db.query<{ id: string; name: string; scope: Scope; token_sha256: Uint8Array }>(
          'SELECT id, name, scope, token_sha256 FROM api_tokens WHERE id = $1 AND revoked_at IS NULL',
          [m[1]],
        )
      : [];
    // Compare even when there is no row, so the answer takes as long either way.
    const want = row ? Buffer.from(row.token_sha256) : Buffer.alloc(32);
    const ok = timingSafeEqual(digest(token), want) && row !== undefined;
    if (!ok || !row) throw new KantineError('bad_credentials', 'a valid API token is required');
    const now = this.store.clock.now();
    await this.store.db.query(
      `UPDATE api_tokens SET last_used_at = $2 WHERE id = $1
         AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - make_interval(secs => $3))`,
      [row.id, now, LAST_USED_EVERY_S],
    );
    return { kind: 'service', token_id: row.id, token_name: row.name, scope: row.scope };
  }
}
