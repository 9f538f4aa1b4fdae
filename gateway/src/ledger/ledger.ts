import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { KantineError } from '@kantine/protocol';
import Database from 'better-sqlite3';
import type { Clock } from '../clock.ts';
import { Accounts } from './accounts.ts';
import { Baskets } from './baskets.ts';
import { Catalogue } from './catalogue.ts';
import { type Db, writeTransaction } from './db.ts';
import { Entries } from './entries.ts';
import { Escrow } from './escrow.ts';
import { Integrations } from './integrations.ts';
import { Preorders } from './preorders.ts';
import { Readers } from './readers.ts';
import { Reports } from './reports.ts';
import { migrations } from './schema.ts';
import { Staff } from './staff.ts';
import { TapLog } from './tap-log.ts';
import { Topups } from './topups.ts';

export type { AccountCard, AccountInput, SpendLimit } from './accounts.ts';
export { type Basket, type BasketRequestLine, MAX_BASKET_LINES } from './baskets.ts';
export type { Place, Product, Till } from './catalogue.ts';
export type { Preorder } from './preorders.ts';
export type { ReaderRow } from './readers.ts';
export { AUTO_TOPUP_BELOW_ORE, type TopupRequest } from './topups.ts';

/**
 * The gateway's ledger on SQLite: one database, one store per concept. Durable before answered:
 * WAL with `synchronous=FULL`, so a committed transaction survives a power cut; callers group
 * many taps into one transaction.
 */
export class Ledger implements Db {
  readonly db: Database.Database;
  /** The site setting for UID-only cards (gateway config `cards.allow_legacy`). */
  allowLegacyCards = true;
  readonly catalogue: Catalogue;
  readonly accounts: Accounts;
  readonly baskets: Baskets;
  readonly entries: Entries;
  readonly taps: TapLog;
  readonly preorders: Preorders;
  readonly topups: Topups;
  readonly staff: Staff;
  readonly integrations: Integrations;
  readonly readers: Readers;
  readonly reports: Reports;

  constructor(
    path: string,
    readonly clock: Clock,
  ) {
    if (path !== ':memory:') privateFile(path);
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    if (path !== ':memory:') for (const f of [`${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.catalogue = new Catalogue(this);
    this.accounts = new Accounts(this);
    this.baskets = new Baskets(this, this.catalogue);
    this.entries = new Entries(this);
    this.taps = new TapLog(this);
    this.preorders = new Preorders(this, this.catalogue, () => this.escrow);
    this.topups = new Topups(this, this.entries);
    this.staff = new Staff(this);
    this.integrations = new Integrations(this);
    this.readers = new Readers(this);
    this.reports = new Reports(this);
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > migrations.length) {
      throw new KantineError(
        'config_invalid',
        `the ledger is at schema ${version}, newer than this gateway knows (${migrations.length}); run a newer gateway`,
      );
    }
    if (version === migrations.length) return;
    // SQLite's way to rebuild a table: foreign keys off (only possible outside a transaction),
    // each migration in its own transaction, and a foreign-key check before it commits.
    this.db.pragma('foreign_keys = OFF');
    try {
      for (let v = version; v < migrations.length; v++) {
        this.db.transaction(() => {
          this.db.exec(migrations[v] as string);
          const broken = this.db.pragma('foreign_key_check') as unknown[];
          if (broken.length > 0) throw new Error(`migration ${v + 1} breaks ${broken.length} foreign keys`);
          this.db.pragma(`user_version = ${v + 1}`);
        })();
      }
    } finally {
      this.db.pragma('foreign_keys = ON');
    }
  }

  close(): void {
    this.db.close();
  }

  /** Runs `fn` in one write transaction (BEGIN IMMEDIATE): one commit, one fsync. */
  transaction<T>(fn: () => T): T {
    return writeTransaction(this.db, fn);
  }

  /** This site's escrow shares and outbox: set by `enableEscrow` on a site linked to central. */
  get escrow(): Escrow | undefined {
    return this.entries.escrow;
  }

  /**
   * From now on this site sells only within its escrow shares, and writes every sale and void
   * to the outbox for central (docs/replication.md). Called once when a linked site is wired.
   */
  enableEscrow(): Escrow {
    this.entries.escrow ??= new Escrow(this.db);
    return this.entries.escrow;
  }
}

/**
 * The ledger holds the batches' SDM master keys and staff PIN hashes: only the gateway's user may
 * read it. Made 0600 before SQLite opens it (SQLite gives its -wal and -shm files the database's
 * mode); a folder it makes is 0700.
 */
function privateFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, 'a', 0o600));
  chmodSync(path, 0o600);
}
