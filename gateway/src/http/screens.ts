import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The cookie a paired till screen carries (HttpOnly, Secure, SameSite=Strict). */
export const SCREEN_COOKIE = 'kantine_screen';
export const SCREEN_NAME_PATTERN = '^[a-z0-9][a-z0-9-]{0,39}$';
// A pairing link is for IT at the screen now, not for later: it works this long by default.
export const PAIRING_HOURS_DEFAULT = 1;
// A paired screen stays paired this long (a school year and then some); then IT pairs it again.
const PAIRED_MS = 400 * 24 * 60 * 60 * 1000;

/**
 * Till screens paired by IT. The login screen (tills, staff names) and the PIN login answer only
 * a paired screen, the gateway's own machine, or a staff session: a machine on the school network
 * can neither list the staff nor guess their PINs. Pairing needs no storage: IT's CLI makes a
 * link signed with the site's screen key (tls/screen.key, 0600, beside the ledger) that expires
 * within the hour; the screen that opens it gets a cookie signed with the same key. Rotating the
 * key (delete the file, restart) unpairs every screen.
 */
export class ScreenKeys {
  private constructor(private readonly key: Buffer) {}

  /** The site's screen key, made on first use (by the gateway or the CLI, whichever is first). */
  static open(database: string): ScreenKeys {
    const dir = join(dirname(database), 'tls');
    const file = join(dir, 'screen.key');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    return new ScreenKeys(Buffer.from(readFileSync(file, 'utf8').trim(), 'hex'));
  }

  /** A pairing code for the screen `name`, valid until `expires`. */
  pairingCode(name: string, expires: Date): string {
    const until = expires.getTime();
    return `${name}.${until}.${this.mac('pair', name, until)}`;
  }

  /** The paired screen's cookie value for a valid pairing code, or undefined. */
  redeem(code: string, now: Date): { name: string; cookie: string; expires: Date } | undefined {
    const parsed = this.check('pair', code);
    if (!parsed || parsed.time <= now.getTime()) return undefined;
    const since = now.getTime();
    return {
      name: parsed.name,
      cookie: `${parsed.name}.${since}.${this.mac('screen', parsed.name, since)}`,
      expires: new Date(since + PAIRED_MS),
    };
  }

  /** The name of the paired screen behind a cookie, or undefined. */
  screen(cookie: string | undefined, now: Date): string | undefined {
    const parsed = cookie ? this.check('screen', cookie) : undefined;
    if (!parsed || parsed.time + PAIRED_MS <= now.getTime()) return undefined;
    return parsed.name;
  }

  private check(purpose: string, value: string): { name: string; time: number } | undefined {
    const m = /^([a-z0-9][a-z0-9-]{0,39})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(value);
    if (!m) return undefined;
    const [, name = '', time = ''] = m;
    const want = Buffer.from(this.mac(purpose, name, Number(time)));
    const got = Buffer.from(m[3] ?? '');
    return want.length === got.length && timingSafeEqual(want, got) ? { name, time: Number(time) } : undefined;
  }

  private mac(purpose: string, name: string, time: number): string {
    return createHmac('sha256', this.key).update(`kantine-screen\n${purpose}\n${name}\n${time}`).digest('base64url');
  }
}
