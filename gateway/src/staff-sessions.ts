import { randomBytes } from 'node:crypto';
import { KantineError } from '@kantine/protocol';
import { verifySecret } from '@kantine/protocol/credentials';
import type { Clock } from './clock.ts';
import type { Ledger } from './ledger.ts';

export interface StaffSession {
  token: string;
  staff_id: string;
  staff_name: string;
  till_id: string;
  expires_at: number;
}

// A school day at the counter; the kiosk logs in again the next morning.
const SESSION_MS = 12 * 60 * 60 * 1000;
// Four-digit PINs are guessable: after this many wrong ones in a row a member of staff waits.
const WRONG_PINS_MAX = 5;
const LOCK_MS = 60 * 1000;
// Bounds memory: a kiosk per till, a few tills per site.
const SESSIONS_MAX = 1_000;

/**
 * Staff log in to a till with their PIN. Sessions live in memory: a restarted gateway asks staff
 * for their PIN again, which costs a few seconds and keeps no login secret on disk.
 */
export class StaffSessions {
  private readonly sessions = new Map<string, StaffSession>();
  private readonly wrong = new Map<string, { count: number; locked_until: number }>();

  constructor(
    private readonly ledger: Ledger,
    private readonly clock: Clock,
  ) {}

  async login(tillId: string, staffId: string, pin: string): Promise<StaffSession> {
    const now = this.clock.now().getTime();
    const strikes = this.wrong.get(staffId);
    if (strikes && strikes.locked_until > now) throw new KantineError('pin_locked');
    if (!this.ledger.getTill(tillId)) throw new KantineError('unknown_till', `no till ${tillId}`);
    const staff = this.ledger.getStaff(staffId);
    // An unknown name and a wrong PIN answer alike. Strikes are counted for real names only, so
    // made-up names cannot grow this map.
    if (!staff) throw new KantineError('wrong_pin'); // no strikes kept for names that do not exist
    if (!(await verifySecret(pin, staff.pin_hash))) {
      const count = (strikes?.count ?? 0) + 1;
      this.wrong.set(staffId, { count, locked_until: count >= WRONG_PINS_MAX ? now + LOCK_MS : 0 });
      throw new KantineError(count >= WRONG_PINS_MAX ? 'pin_locked' : 'wrong_pin');
    }
    this.wrong.delete(staffId);
    this.expire(now);
    if (this.sessions.size >= SESSIONS_MAX) throw new KantineError('internal_error', 'too many open till sessions');
    const session: StaffSession = {
      token: randomBytes(32).toString('base64url'),
      staff_id: staff.id,
      staff_name: staff.name,
      till_id: tillId,
      expires_at: now + SESSION_MS,
    };
    this.sessions.set(session.token, session);
    return session;
  }

  /** The session behind a token, if it is still valid. */
  get(token: string | undefined): StaffSession | undefined {
    if (!token) return undefined;
    const s = this.sessions.get(token);
    if (!s) return undefined;
    if (s.expires_at <= this.clock.now().getTime()) {
      this.sessions.delete(token);
      return undefined;
    }
    return s;
  }

  /** The session for this till, or a coded refusal. */
  require(token: string | undefined, tillId: string): StaffSession {
    const s = this.get(token);
    if (!s || s.till_id !== tillId) throw new KantineError('not_logged_in');
    return s;
  }

  logout(token: string | undefined): void {
    if (token) this.sessions.delete(token);
  }

  private expire(now: number): void {
    for (const [token, s] of this.sessions) if (s.expires_at <= now) this.sessions.delete(token);
  }
}
