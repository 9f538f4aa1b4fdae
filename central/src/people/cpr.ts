import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { KantineError } from '@kantine/protocol';

/** The environment variable that holds the CPR key (base64 of 32 bytes); it wins over the key file. */
export const CPR_KEY_ENV = 'KANTINE_CPR_KEY';
/** The key file's default place (relative to central's working directory). */
export const DEFAULT_CPR_KEY_FILE = 'data/central-keys/cpr.key';

const KEY_BYTES = 32;
const IV_BYTES = 12; // AES-GCM's standard nonce: random per sealing (2^32 sealings per key are far off)
const TAG_BYTES = 16;
// Bound to what the sealed bytes are: a sealed CPR number cannot be passed off as something else.
const AAD = Buffer.from('kantine cpr v1');

/**
 * Where the CPR key came from, and the key: 32 bytes from `KANTINE_CPR_KEY` (base64), or from the
 * key file (base64 text, mode 0600), which is made with 32 random bytes on first start when absent.
 * The key is never in the database: a copy of the database alone reveals no CPR number.
 */
export function loadCprKey(opts: { env?: string | undefined; file: string }): {
  key: Buffer;
  from: 'env' | 'file' | 'new-file';
} {
  if (opts.env !== undefined && opts.env !== '') {
    return { key: decodeKey(opts.env, `${CPR_KEY_ENV}`), from: 'env' };
  }
  if (!existsSync(opts.file)) {
    mkdirSync(dirname(opts.file), { recursive: true, mode: 0o700 });
    // wx: two workers starting at once — the second reads the first one's key below
    try {
      writeFileSync(opts.file, `${randomBytes(KEY_BYTES).toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
      chmodSync(opts.file, 0o600); // whatever the umask
      return { key: decodeKey(readFileSync(opts.file, 'utf8'), opts.file), from: 'new-file' };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const mode = statSync(opts.file).mode & 0o777;
  if (mode & 0o077) {
    throw new KantineError(
      'cpr_key_invalid',
      `the CPR key file ${opts.file} may be read by others (mode ${mode.toString(8)})`,
      [`chmod 600 ${opts.file}`],
    );
  }
  return { key: decodeKey(readFileSync(opts.file, 'utf8'), opts.file), from: 'file' };
}

function decodeKey(text: string, where: string): Buffer {
  const t = text.trim();
  const key = /^[A-Za-z0-9+/]+={0,2}$/.test(t) ? Buffer.from(t, 'base64') : Buffer.alloc(0);
  if (key.length !== KEY_BYTES) {
    throw new KantineError('cpr_key_invalid', `${where} does not hold a CPR key (base64 of 32 bytes)`, [
      'make one with: openssl rand -base64 32',
    ]);
  }
  return key;
}

/** Ten digits from a CPR number as typed (`DDMMYY-XXXX` or `DDMMYYXXXX`); the number itself never in the error. */
export function normalCpr(cpr: string): string {
  const digits = /^([0-9]{6})-?([0-9]{4})$/.exec(cpr);
  if (!digits) throw new KantineError('invalid_request', 'a CPR number is DDMMYY-XXXX (ten digits)');
  return `${digits[1]}${digits[2]}`;
}

/** `010190-xxxx`: the birth date, never the last four digits. */
export function maskCpr(cpr: string): string {
  return `${normalCpr(cpr).slice(0, 6)}-xxxx`;
}

/**
 * CPR numbers at rest: a keyed HMAC-SHA256 to find a row by its CPR number (`cpr_hmac`), and an
 * AES-256-GCM copy (`cpr_enc`: random IV ‖ ciphertext ‖ tag) for the masked display and for a
 * key change. Both subkeys come from the one CPR key through HKDF, so neither use can stand in
 * for the other; a key check value (a third derivation) tells at start whether the database was
 * sealed with this key.
 */
export class CprCrypto {
  private readonly hmacKey: Buffer;
  private readonly encKey: Buffer;
  private readonly checkKey: Buffer;

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES) throw new KantineError('cpr_key_invalid', 'a CPR key is 32 bytes');
    const derive = (info: string) => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, KEY_BYTES));
    this.hmacKey = derive('kantine cpr lookup hmac-sha256');
    this.encKey = derive('kantine cpr copy aes-256-gcm');
    this.checkKey = derive('kantine cpr key check');
  }

  /** The lookup value of a CPR number (the same with or without its dash). */
  hmac(cpr: string): Buffer {
    return createHmac('sha256', this.hmacKey).update(normalCpr(cpr)).digest();
  }

  seal(cpr: string): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.encKey, iv);
    cipher.setAAD(AAD);
    const body = Buffer.concat([cipher.update(normalCpr(cpr), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]);
  }

  /** The CPR number a `seal` made (ten digits); `cpr_key_wrong` if another key sealed it. */
  open(sealed: Uint8Array): string {
    const b = Buffer.from(sealed);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.encKey, b.subarray(0, IV_BYTES));
      decipher.setAAD(AAD);
      decipher.setAuthTag(b.subarray(b.length - TAG_BYTES));
      return Buffer.concat([decipher.update(b.subarray(IV_BYTES, b.length - TAG_BYTES)), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new KantineError('cpr_key_wrong', 'a sealed CPR number does not open with this CPR key');
    }
  }

  /** The masked form of a sealed CPR number. */
  maskSealed(sealed: Uint8Array): string {
    return maskCpr(this.open(sealed));
  }

  /** The key check value kept in the database: equal only for the same key. */
  keyCheck(): Buffer {
    return createHmac('sha256', this.checkKey).update('kantine cpr key check v1').digest();
  }
}
