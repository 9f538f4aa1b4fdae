/** The bounds on logins a broker checks (each secret check is one scrypt, ~50 ms of a core and 16 MiB). */
export interface LoginThrottleLimits {
  /** Secret checks running at once; the rest wait (scrypt runs on libuv's four threads). */
  verifications_concurrent_max: number;
  /** Logins waiting for a check; one more is refused at once (a known address and name: see `slot`). */
  verifications_waiting_max: number;
  /**
   * A login that waits longer than this for a check is refused (under a reader's 5 s connect
   * timeout; it retries within seconds).
   */
  verification_wait_ms_max: number;
  /** Failed or unfinished logins from one address within a window before its logins are refused unchecked. */
  failures_per_source_max: number;
  /**
   * Failed or unfinished logins as one user name within a window before its logins are refused
   * unchecked, except from an address it has logged in from: ids are public, so a guesser must
   * not lock a reader out from where it stands.
   */
  failures_per_identity_max: number;
  /** The window the failures are counted in. */
  failure_window_ms: number;
}

export const DEFAULT_LOGIN_THROTTLE_LIMITS: Readonly<LoginThrottleLimits> = Object.freeze({
  verifications_concurrent_max: 2,
  verifications_waiting_max: 32,
  verification_wait_ms_max: 3_000,
  failures_per_source_max: 10,
  failures_per_identity_max: 20,
  failure_window_ms: 60_000,
});

/** Why a login was refused before its secret was checked. */
export type ThrottleRefusal = 'throttled_source' | 'throttled_identity' | 'busy';

// Addresses and user names remembered at most (the oldest go first): an attacker naming a
// million users cannot grow the broker's memory.
const REMEMBERED_MAX = 10_000;

interface Tally {
  window_started_ms: number;
  failures: number;
  // Logins admitted and not yet decided: counted as failures until they succeed, so a burst
  // of parallel attempts is bounded before any of them has failed.
  pending: number;
}

/**
 * Who may try to log in, and when: failures are counted per source address and per user name
 * in fixed windows, and secret checks go through a small semaphore with a bounded queue. A
 * flood of wrong logins therefore costs the broker at most `failures_per_source_max` checks per
 * address a window. A login as a name from an address it has logged in from before goes ahead
 * of the others in the queue: a reader coming back is checked next, whatever the flood.
 */
export class LoginThrottle {
  private readonly limits: LoginThrottleLimits;
  private readonly sources = new Map<string, Tally>();
  private readonly identities = new Map<string, Tally>();
  // `source \n identity` pairs that have logged in: exempt from the identity's bound.
  private readonly known = new Set<string>();
  private running = 0;
  // Logins waiting for a check: those from a known address and name first.
  private readonly waiting: { known: (() => void)[]; other: (() => void)[] } = { known: [], other: [] };

  constructor(
    limits: Partial<LoginThrottleLimits> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.limits = { ...DEFAULT_LOGIN_THROTTLE_LIMITS, ...limits };
  }

  /**
   * Decides a login: `check` runs the secret check (under the semaphore) and says whether it
   * passed. Returns the check's answer, or why the login was refused without one.
   */
  async login<T>(
    source: string,
    identity: string,
    check: () => Promise<T | undefined>,
  ): Promise<{ ok: true; who: T } | { ok: false; why: ThrottleRefusal | 'credentials' }> {
    const l = this.limits;
    const bySource = this.tally(this.sources, source);
    if (bySource.failures + bySource.pending >= l.failures_per_source_max)
      return { ok: false, why: 'throttled_source' };
    const byIdentity = this.tally(this.identities, identity);
    const pair = `${source}\n${identity}`;
    if (byIdentity.failures + byIdentity.pending >= l.failures_per_identity_max && !this.known.has(pair)) {
      return { ok: false, why: 'throttled_identity' };
    }
    bySource.pending += 1;
    byIdentity.pending += 1;
    let who: T | undefined;
    let why: ThrottleRefusal | 'credentials' = 'credentials';
    try {
      if (await this.slot(this.known.has(pair))) {
        try {
          who = await check();
        } finally {
          this.release();
        }
      } else {
        why = 'busy';
      }
    } finally {
      bySource.pending -= 1;
      byIdentity.pending -= 1;
    }
    if (who !== undefined) {
      remember(this.known, pair, true);
      return { ok: true, who };
    }
    // A login refused as busy was never checked, and may be a reader's caught in someone else's
    // flood: it does not count against its address or name. While it waited it did count (as
    // pending), so no address can hold more than its bound of places in the queue.
    if (why === 'credentials') {
      bySource.failures += 1;
      byIdentity.failures += 1;
    }
    return { ok: false, why };
  }

  private tally(map: Map<string, Tally>, key: string): Tally {
    const now = this.now();
    let t = map.get(key);
    if (!t || (now - t.window_started_ms >= this.limits.failure_window_ms && t.pending === 0)) {
      t = { window_started_ms: now, failures: 0, pending: 0 };
      remember(map, key, t);
    } else if (now - t.window_started_ms >= this.limits.failure_window_ms) {
      // A new window; the logins still being checked stay counted.
      t.window_started_ms = now;
      t.failures = 0;
    }
    return t;
  }

  /** Waits for a check slot; false when the queue is full or the wait too long. */
  private slot(known: boolean): Promise<boolean> {
    const l = this.limits;
    if (this.running < l.verifications_concurrent_max) {
      this.running += 1;
      return Promise.resolve(true);
    }
    // A known login is refused only when known ones alone fill the queue: a flood of strangers
    // cannot crowd it out.
    const { waiting } = this;
    const queued = known ? waiting.known.length : waiting.known.length + waiting.other.length;
    if (queued >= l.verifications_waiting_max) return Promise.resolve(false);
    const queue = known ? waiting.known : waiting.other;
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.running += 1;
        resolve(true);
      };
      const timer = setTimeout(() => {
        const i = queue.indexOf(wake);
        if (i >= 0) queue.splice(i, 1);
        resolve(false);
      }, l.verification_wait_ms_max);
      queue.push(wake);
    });
  }

  private release(): void {
    this.running -= 1;
    (this.waiting.known.shift() ?? this.waiting.other.shift())?.();
  }
}

function remember<K, V>(map: Map<K, V> | Set<K>, key: K, value: V): void {
  // Re-inserting moves the key to the end: the oldest is first, and goes first.
  map.delete(key);
  if (map instanceof Map) map.set(key, value);
  else map.add(key);
  if (map.size > REMEMBERED_MAX) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
}
