import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { KantineError } from '@kantine/protocol';
import { verifyRelease } from '@kantine/protocol/release';
import type { GatewayConfig } from '../config.ts';
import type { Ledger } from '../ledger/ledger.ts';

const TARGET = 'reader_release';

/**
 * The reader releases a gateway hands out (docs/operations/it-guide.md): published ones are kept
 * in a folder, checked against the municipality's public release key on the way in, and served
 * read-only under /releases/<version>/. The target — the version the site's readers should run,
 * and optionally another for single readers — is a setting in the ledger, sent to the readers in
 * their retained config.
 */
export class ReleaseStore {
  readonly dir: string;

  constructor(
    private readonly ledger: Ledger,
    private readonly config: GatewayConfig,
  ) {
    this.dir = config.releases.dir ?? join(dirname(config.database), 'releases');
  }

  private publicKey(): string {
    const file = this.config.releases.public_key_file;
    if (!file)
      throw new KantineError(
        'config_invalid',
        'releases.public_key_file is not set: the gateway cannot check releases',
      );
    return readFileSync(file, 'utf8');
  }

  /** Checks a built release and keeps it; the same release again changes nothing. */
  publish(source: string): string {
    const manifest = verifyRelease(source, this.publicKey());
    const dest = join(this.dir, manifest.version);
    if (existsSync(dest)) {
      const kept = readFileSync(join(dest, 'manifest.json'), 'utf8');
      if (kept === readFileSync(join(source, 'manifest.json'), 'utf8')) return manifest.version;
      throw new KantineError(
        'invalid_request',
        `another release ${manifest.version} is already published: give this one a new version`,
      );
    }
    mkdirSync(this.dir, { recursive: true });
    const staging = `${dest}.publishing`;
    rmSync(staging, { recursive: true, force: true });
    cpSync(source, staging, { recursive: true });
    verifyRelease(staging, this.publicKey());
    cpSync(staging, dest, { recursive: true });
    rmSync(staging, { recursive: true, force: true });
    return manifest.version;
  }

  list(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((v) => existsSync(join(this.dir, v, 'manifest.json')) && !v.endsWith('.publishing'))
      .sort();
  }

  /** The version a reader should run: its own target if IT set one, else the site's. */
  target(readerId?: string): string | undefined {
    const get = (key: string) =>
      this.ledger.db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?').get(key)?.value;
    return (readerId ? get(`${TARGET}:${readerId}`) : undefined) ?? get(TARGET);
  }

  /** Every target set, site-wide (`*`) and per reader: what the readers' configs follow. */
  targets(): Record<string, string> {
    const rows = this.ledger.db
      .prepare<[string, string], { key: string; value: string }>(
        'SELECT key, value FROM settings WHERE key = ? OR key LIKE ? ORDER BY key',
      )
      .all(TARGET, `${TARGET}:%`);
    return Object.fromEntries(rows.map((r) => [r.key === TARGET ? '*' : r.key.slice(TARGET.length + 1), r.value]));
  }

  /**
   * Sets (or with undefined clears) the version the site's readers should run, or one reader's
   * (a release tried at one till before the whole site).
   */
  setTarget(version: string | undefined, readerId?: string): void {
    const key = readerId ? `${TARGET}:${readerId}` : TARGET;
    if (readerId && !this.ledger.readers.listReaders().some((r) => r.id === readerId)) {
      throw new KantineError('unknown_reader', `no reader ${readerId}`);
    }
    if (version === undefined) {
      this.ledger.db.prepare('DELETE FROM settings WHERE key = ?').run(key);
      return;
    }
    if (!this.list().includes(version)) {
      throw new KantineError('not_found', `release ${version} is not published here (kantine-gateway release publish)`);
    }
    this.ledger.db
      .prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
      .run(key, version);
  }
}
