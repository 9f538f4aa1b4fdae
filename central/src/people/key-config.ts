import { resolve } from 'node:path';
import type { CentralConfig } from '../config.ts';
import { CPR_KEY_ENV, CprCrypto, DEFAULT_CPR_KEY_FILE, loadCprKey } from './cpr.ts';

/**
 * The CPR key for central's config: `KANTINE_CPR_KEY` (base64), else the key file — the config's
 * `identity.cpr_key_file`, else `<PGlite's folder>-keys/cpr.key` (data/central-keys/cpr.key by
 * default) or, with Postgres, data/central-keys/cpr.key — made on first use. An in-memory
 * database keeps nothing, and gets no key (central then uses one that dies with the process).
 */
export function cprCryptoFor(
  config: CentralConfig,
  opts: { baseDir: string; dbDir: string; onNewKey?: (file: string) => void },
): CprCrypto | undefined {
  const env = process.env[CPR_KEY_ENV];
  if (!config.database.url && opts.dbDir.startsWith('memory://') && !env) return undefined;
  const configured = config.identity?.cpr_key_file;
  const file = configured
    ? resolve(opts.baseDir, configured)
    : config.database.url
      ? resolve(opts.baseDir, DEFAULT_CPR_KEY_FILE)
      : resolve(`${opts.dbDir}-keys`, 'cpr.key');
  const { key, from } = loadCprKey({ env, file });
  if (from === 'new-file') opts.onNewKey?.(file);
  return new CprCrypto(key);
}
