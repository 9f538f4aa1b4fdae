import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import { KantineError } from '@kantine/protocol';
import type { SessionHolder } from '../auth/actor.ts';
import type { Store } from '../db/tx.ts';

export interface SessionLimits {
  /** Without a request for this long, the session ends (guardians.md: 15 minutes). */
  idle_minutes: number;
  /** However busy, the session ends this long after sign-in. */
  max_hours: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idle_minutes: 15, max_hours: 12 };

export interface NewSession {
  person_id: string;
  /** The provider's ID token, kept encrypted if given (central gives none now: it carries the CPR claim). */
  id_token?: string;
  /** The browser's address and User-Agent, for the person's list of sessions. */
  source?: string;
  user_agent?: string;
}

/** One live session, as its person sees it in their list. */
export interface SessionInfo {
  session_id: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  source: string | null;
  user_agent: string | null;
}

// last_seen_at is written at most this often: a page with many requests is one write, not many.
// So a session may end up to this much before its idle time, never after.
const TOUCH_EVERY_MS = 30_000;
// A person's live sessions: more than any one person uses (phone, laptop, the office's PC…);
// the oldest end when a new one would pass this.
export const SESSIONS_PER_PERSON_MAX = 20;
// Ended and expired sessions are kept this long (the person's list, IT's questions), then removed
// a bounded number at a time as new sessions start.
const KEEP_ENDED_MS = 30 * 24 * 3600 * 1000;
const PRUNE_MAX = 100;
const USER_AGENT_MAX = 300;
const COOKIE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * The ID token's key comes from the cookie, which only the person's browser holds: the database
 * (which keeps only the cookie's SHA-256) cannot read the token — and the token holds the CPR
 * claim. AES-256-GCM; the session id is the associated data.
 */
function idTokenKey(cookie: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(cookie, 'base64url'), 'kantine-session', 'id_token', 32));
}

function seal(cookie: string, sessionId: string, idToken: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', idTokenKey(cookie), iv);
  cipher.setAAD(Buffer.from(sessionId));
  const body = Buffer.concat([cipher.update(idToken, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

function open(cookie: string, sessionId: string, sealed: Buffer): string | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', idTokenKey(cookie), sealed.subarray(0, 12));
    decipher.setAAD(Buffer.from(sessionId));
    decipher.setAuthTag(sealed.subarray(12, 28));
    return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

interface SessionRow {
  id: string;
  person_id: string;
  created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
  csrf: string;
  id_token: Buffer | Uint8Array | null;
}

const iso = (d: Date | string): string => new Date(d).toISOString();

/**
 * People's sessions, in Postgres (every worker sees every session). The cookie is 32 random
 * bytes; central keeps only their SHA-256, so a copy of the database signs nobody in. A session
 * ends after `idle_minutes` without a request, `max_hours` after sign-in, at logout, or when its
 * person ends it from another session. Times come from the Store's clock.
 */
export class SessionService {
  constructor(
    private readonly store: Store,
    private readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
  ) {}

  private get idleMs(): number {
    return this.limits.idle_minutes * 60_000;
  }

  /** Starts a session; the cookie value goes to the browser and nowhere else. */
  async create(s: NewSession): Promise<{ cookie: string; session_id: string; csrf: string }> {
    const cookie = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    const id = randomUUID();
    const now = this.store.clock.now();
    await this.store.tx(async ({ sql }) => {
      await sql.query(
        `DELETE FROM sessions WHERE id_sha256 IN (SELECT id_sha256 FROM sessions
           WHERE expires_at < $1 OR ended_at < $1 ORDER BY expires_at LIMIT ${PRUNE_MAX})`,
        [new Date(now.getTime() - KEEP_ENDED_MS)],
      );
      await sql.query(
        `INSERT INTO sessions (id_sha256, id, person_id, created_at, last_seen_at, expires_at, csrf, id_token, source, user_agent)
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9)`,
        [
          sha256(cookie),
          id,
          s.person_id,
          now,
          new Date(now.getTime() + this.limits.max_hours * 3600_000),
          csrf,
          s.id_token === undefined ? null : seal(cookie, id, s.id_token),
          s.source?.slice(0, 100) ?? null,
          s.user_agent?.slice(0, USER_AGENT_MAX) ?? null,
        ],
      );
      // Bounded per person: the oldest beyond the limit end now.
      await sql.query(
        `UPDATE sessions SET ended_at = $2 WHERE id_sha256 IN (
           SELECT id_sha256 FROM sessions WHERE person_id = $1 AND ended_at IS NULL
           ORDER BY created_at DESC OFFSET ${SESSIONS_PER_PERSON_MAX})`,
        [s.person_id, now],
      );
    });
    return { cookie, session_id: id, csrf };
  }

  /** The live session row behind a cookie, or undefined (ending one found idle or too old). */
  private async live(cookie: string): Promise<SessionRow | undefined> {
    if (!COOKIE_PATTERN.test(cookie)) return undefined;
    const hash = sha256(cookie);
    const [row] = await this.store.db.query<SessionRow>(
      `SELECT id, person_id, created_at, last_seen_at, expires_at, csrf, id_token
       FROM sessions WHERE id_sha256 = $1 AND ended_at IS NULL`,
      [hash],
    );
    if (!row) return undefined;
    const now = this.store.clock.now();
    const idle = now.getTime() - new Date(row.last_seen_at).getTime() >= this.idleMs;
    if (idle || now.getTime() >= new Date(row.expires_at).getTime()) {
      await this.store.db.query('UPDATE sessions SET ended_at = $2 WHERE id_sha256 = $1 AND ended_at IS NULL', [
        hash,
        now,
      ]);
      return undefined;
    }
    if (now.getTime() - new Date(row.last_seen_at).getTime() >= TOUCH_EVERY_MS) {
      await this.store.db.query('UPDATE sessions SET last_seen_at = $2 WHERE id_sha256 = $1 AND last_seen_at < $2', [
        hash,
        now,
      ]);
    }
    return row;
  }

  /**
   * The holder of a live session (and a request's sign of life: it moves the idle end); a dead,
   * ended or unknown cookie is `bad_credentials`.
   */
  async verify(cookie: string): Promise<SessionHolder> {
    const row = await this.live(cookie);
    if (!row) throw new KantineError('bad_credentials', 'not signed in, or the session has ended');
    return { session_id: row.id, person_id: row.person_id, csrf: row.csrf };
  }

  /**
   * Ends the session behind a cookie (logout) and returns its ID token for the provider's logout,
   * if it was live; undefined if it was not.
   */
  async end(cookie: string): Promise<{ session_id: string; person_id: string; id_token?: string } | undefined> {
    const row = await this.live(cookie);
    if (!row) return undefined;
    await this.store.db.query('UPDATE sessions SET ended_at = $2 WHERE id_sha256 = $1 AND ended_at IS NULL', [
      sha256(cookie),
      this.store.clock.now(),
    ]);
    const idToken = row.id_token ? open(cookie, row.id, Buffer.from(row.id_token)) : undefined;
    return { session_id: row.id, person_id: row.person_id, ...(idToken === undefined ? {} : { id_token: idToken }) };
  }

  /** A person's live sessions, newest first. */
  async list(personId: string): Promise<SessionInfo[]> {
    const now = this.store.clock.now();
    const rows = await this.store.db.query<{
      id: string;
      created_at: Date;
      last_seen_at: Date;
      expires_at: Date;
      source: string | null;
      user_agent: string | null;
    }>(
      `SELECT id, created_at, last_seen_at, expires_at, source, user_agent FROM sessions
       WHERE person_id = $1 AND ended_at IS NULL AND expires_at > $2 AND last_seen_at > $3
       ORDER BY created_at DESC LIMIT ${SESSIONS_PER_PERSON_MAX}`,
      [personId, now, new Date(now.getTime() - this.idleMs)],
    );
    return rows.map((r) => ({
      session_id: r.id,
      created_at: iso(r.created_at),
      last_seen_at: iso(r.last_seen_at),
      expires_at: iso(r.expires_at),
      source: r.source,
      user_agent: r.user_agent,
    }));
  }

  /** Ends one of a person's sessions; `not_found` if they have no live session with that id. */
  async endOne(personId: string, sessionId: string): Promise<void> {
    const ended = await this.store.db.query(
      'UPDATE sessions SET ended_at = $3 WHERE id = $1 AND person_id = $2 AND ended_at IS NULL RETURNING id',
      [sessionId, personId, this.store.clock.now()],
    );
    if (ended.length === 0) throw new KantineError('not_found', `no session ${sessionId}`);
  }

  /** Ends all of a person's sessions but `keep` (the one asking); returns how many ended. */
  async endOthers(personId: string, keep: string): Promise<number> {
    const ended = await this.store.db.query(
      'UPDATE sessions SET ended_at = $3 WHERE person_id = $1 AND id <> $2 AND ended_at IS NULL RETURNING id',
      [personId, keep, this.store.clock.now()],
    );
    return ended.length;
  }
}
