import { createHash, timingSafeEqual } from 'node:crypto';
import { KantineError } from '@kantine/protocol';
import { attempts } from '../attempts/attempts.ts';
import type { Store } from '../db/tx.ts';

/** What a login needs again at its callback, kept in Postgres: the callback may reach another worker. */
export interface LoginState {
  state: string;
  nonce: string;
  code_verifier: string;
  return_to: string;
}

/** A person has this long at the provider (MitID app included) before the login must start again. */
export const LOGIN_TTL_MS = 10 * 60 * 1000;

// Expired logins removed per new login: bounded work on the request path; every new login
// removes up to this many, so the table never holds many more than 10 minutes of logins.
const PRUNE_MAX = 100;

const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * Logins under way, between the redirect to the provider and its callback. Each is bound to the
 * browser that started it (the SHA-256 of a short-lived cookie's random value): a callback URL
 * sent to someone else's browser signs nobody in (login CSRF). A state is taken once.
 */
export class LoginStates {
  constructor(private readonly store: Store) {}

  /**
   * Keeps a login under way, counted against the source address that started it: past `limit`
   * starts in LOGIN_TTL_MS, `too_many_attempts` and nothing is kept (each start keeps a row that
   * long: without a bound, a script fills the table).
   */
  async put(login: LoginState, browser: string, source: string, limit: number): Promise<void> {
    const now = this.store.clock.now();
    await this.store.db.query(
      `DELETE FROM login_states WHERE state IN
         (SELECT state FROM login_states WHERE expires_at < $1 ORDER BY expires_at LIMIT ${PRUNE_MAX})`,
      [now],
    );
    await this.store.tx(async (t) => {
      const bucket = [{ key: `login:${source.slice(0, 60)}`, max: limit }];
      await attempts.guard(t, bucket, LOGIN_TTL_MS / 1000);
      await attempts.count(t, bucket);
    });
    await this.store.db.query(
      `INSERT INTO login_states (state, browser_sha256, nonce, code_verifier, return_to, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        login.state,
        sha256(browser),
        login.nonce,
        login.code_verifier,
        login.return_to,
        now,
        new Date(now.getTime() + LOGIN_TTL_MS),
      ],
    );
  }

  /**
   * The login with this state, removed as it is read (a second callback with it finds nothing),
   * if it is unexpired and this browser started it; else `login_state_unknown`. A state taken by
   * the wrong browser is gone all the same: whoever holds a leaked callback URL cannot retry it.
   */
  async take(state: string, browser: string | undefined): Promise<LoginState> {
    const [row] = await this.store.db.query<LoginState & { browser_sha256: Buffer | Uint8Array; expires_at: Date }>(
      `DELETE FROM login_states WHERE state = $1
       RETURNING state, browser_sha256, nonce, code_verifier, return_to, expires_at`,
      [state],
    );
    if (!row)
      throw new KantineError('login_state_unknown', 'no sign-in under way with this state (used, or never made)');
    if (new Date(row.expires_at).getTime() <= this.store.clock.now().getTime()) {
      throw new KantineError('login_state_unknown', 'the sign-in expired: start again');
    }
    const want = Buffer.from(row.browser_sha256);
    if (browser === undefined || !timingSafeEqual(sha256(browser), want)) {
      throw new KantineError('login_state_unknown', 'the sign-in was started in another browser');
    }
    return { state: row.state, nonce: row.nonce, code_verifier: row.code_verifier, return_to: row.return_to };
  }
}
