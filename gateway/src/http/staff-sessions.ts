import { randomBytes } from 'node:crypto';
import { KantineError } from '@kantine/protocol';
import { verifySecret } from '@kantine/protocol/credentials';
import type { Clock } from '../clock.ts';
import type { Ledger } from '../ledger/ledger.ts';

export interface StaffSession {
  token: string;
  staff_id: string;
  staff_name: string;
  till_id: string;
  expires_at: number;
  /** The PIN hash the session was opened with: a new PIN (or removal) ends the session. */
  pin_hash: string;
}

// A school day at the counter; the kiosk logs in again the next morning.
const SESSION_MS = 12 * 60 * 60 * 1000;
// Four-digit PINs are guessable: after this many wrong ones from one screen (source address),
// that screen waits before it may try again.
const WRONG_PINS_FREE = 5;
// The first wait; it doubles with every further wrong PIN from that source, up to the cap.
const LOCK_MS = 60 * 1000;
const LOCK_MS_MAX = 15 * 60 * 1000;
// A source's wrong PINs are forgotten this long after its last one (a mistyped PIN last week
// does not count today).
const STRIKES_FORGET_MS = 60 * 60 * 1000;
// Bounds memory: a kiosk per till, a few tills per site; an attacker with many addresses cannot
// grow the map beyond this (the oldest source is forgotten first, never one still locked).
const SOURCES_MAX = 10_000;
// Names counted apart per source; more distinct names from one source share one count.
const NAMES_PER_SOURCE_MAX = 16;
// Bounds memory: a kiosk per till, a few tills per site.
const SESSIONS_MAX = 1_000;

/**
 * The source a login is counted under: an IPv4 address, or an IPv6 address's /64 (one machine
 * can take any number of addresses inside its /64, so counting them apart would count nothing).
 */
export function loginSource(ip: string): string {
  const v4 = /^(?:::ffff:)?(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (v4) return v4[1] as string;
  if (!ip.includes(':')) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * Wrong PINs from one source (the client's address). Kept by source, not by name: anyone can
 * type a colleague's name, so a lockout by name would let anyone lock a colleague out (issue 16,
 * finding 13); a source that guesses is slowed down, whoever it guesses.
 */
interface Strikes {
  /** Wrong PINs (and attempts still being checked) by the staff id tried. */
  by_name: Map<string, number>;
  total: number;
  locked_until: number;
  last_at: number;
}

/**
 * Staff log in to a till with their PIN. Sessions live in memory: a restarted gateway asks staff
 * for their PIN again, which costs a few seconds and keeps no login secret on disk. Every use of
 * a session checks the member of staff against the ledger: removed staff, or a new PIN (both
 * possibly from the CLI, another process), end it at the next request.
 */
export class StaffSessions {
  private readonly sessions = new Map<string, StaffSession>();
  private readonly strikes = new Map<string, Strikes>();

  constructor(
    private readonly ledger: Ledger,
    private readonly clock: Clock,
  ) {}

  /**
   * `ip`: the client's address (counted by `loginSource`). The strike is taken before the PIN is checked (the check is
   * asynchronous: parallel guesses would otherwise all pass a count read before any of them is
   * written) and given back when the PIN is right.
   */
  async login(tillId: string, staffId: string, pin: string, ip: string): Promise<StaffSession> {
    const now = this.clock.now().getTime();
    const source = loginSource(ip);
    const strikes = this.strikesOf(source, now);
    if (strikes.locked_until > now) throw new KantineError('pin_locked');
    if (!this.ledger.catalogue.getTill(tillId)) throw new KantineError('unknown_till', `no till ${tillId}`);
    const name = strikes.by_name.has(staffId) || strikes.by_name.size < NAMES_PER_SOURCE_MAX ? staffId : '*';
    strikes.by_name.set(name, (strikes.by_name.get(name) ?? 0) + 1);
    strikes.total += 1;
    strikes.last_at = now;
    if (strikes.total >= WRONG_PINS_FREE) {
      const doublings = Math.min(strikes.total - WRONG_PINS_FREE, 10);
      strikes.locked_until = now + Math.min(LOCK_MS * 2 ** doublings, LOCK_MS_MAX);
    }
    const lockedNow = strikes.total >= WRONG_PINS_FREE;
    const staff = this.ledger.staff.getStaff(staffId);
    // An unknown name and a wrong PIN answer alike, and both count.
    if (!staff || !(await verifySecret(pin, staff.pin_hash))) {
      throw new KantineError(lockedNow ? 'pin_locked' : 'wrong_pin');
    }
    // The right PIN: that name's strikes from this source were typing mistakes; strikes against
    // other names stay (knowing one's own PIN does not reset a guess at a colleague's).
    strikes.total -= strikes.by_name.get(name) ?? 0;
    strikes.by_name.delete(name);
    if (strikes.total < WRONG_PINS_FREE) strikes.locked_until = 0;
    if (strikes.total === 0) this.strikes.delete(source);
    this.expire(now);
    if (this.sessions.size >= SESSIONS_MAX) throw new KantineError('internal_error', 'too many open till sessions');
    const session: StaffSession = {
      token: randomBytes(32).toString('base64url'),
      staff_id: staff.id,
      staff_name: staff.name,
      till_id: tillId,
      expires_at: now + SESSION_MS,
      pin_hash: staff.pin_hash,
    };
    this.sessions.set(session.token, session);
    return session;
  }

  /** The session behind a token, if it is still valid and its member of staff still active with the same PIN. */
  get(token: string | undefined): StaffSession | undefined {
    if (!token) return undefined;
    const s = this.sessions.get(token);
    if (!s) return undefined;
    const staff = this.ledger.staff.getStaff(s.staff_id);
    if (s.expires_at <= this.clock.now().getTime() || staff?.pin_hash !== s.pin_hash) {
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

  /** Ends the sessions of a member of staff now (removed, or a new PIN, in this process). */
  endSessionsOf(staffId: string): void {
    for (const [token, s] of this.sessions) if (s.staff_id === staffId) this.sessions.delete(token);
  }

  private strikesOf(source: string, now: number): Strikes {
    let s = this.strikes.get(source);
    if (s && s.locked_until <= now && now - s.last_at > STRIKES_FORGET_MS) {
      this.strikes.delete(source);
      s = undefined;
    }
    if (s) return s;
    if (this.strikes.size >= SOURCES_MAX) {
      for (const [key, old] of this.strikes) {
        if (old.locked_until <= now) {
          this.strikes.delete(key);
          break;
        }
      }
      // Every known source is locked out: a flood of addresses waits with them.
      if (this.strikes.size >= SOURCES_MAX) throw new KantineError('pin_locked');
    }
    s = { by_name: new Map(), total: 0, locked_until: 0, last_at: now };
    this.strikes.set(source, s);
    return s;
  }

  private expire(now: number): void {
    for (const [token, s] of this.sessions) if (s.expires_at <= now) this.sessions.delete(token);
  }
}
