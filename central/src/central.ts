import {
  BALANCE_BUDGET,
  type CentralEntry,
  codes,
  type DownChange,
  type ImportReport,
  type ImportRequest,
  type ImportRow,
  KantineError,
  type LinkAccount,
  type LinkCard,
  type LinkDown,
  type LinkUp,
  MAX_CHANGES_PER_MESSAGE,
  type Period,
  type PlaceKind,
  type SiteEntry,
  type StockRequest,
  type UnsequencedDown,
  type UpChange,
  upcomingWindows,
} from '@kantine/protocol';
import { v7 as uuidv7 } from 'uuid';
import type { Db, Sql } from './db.ts';
import { freeOf, HORIZON, limitOf, outstanding, type ShareRow, split } from './escrow.ts';
import { migrate } from './schema.ts';

export interface Clock {
  now(): Date;
}

/** Sends one message to one site's down topic (the link transport: MQTT, or the simulation's net). */
export type Publish = (site: string, message: LinkDown) => void;

export interface SiteInput {
  id: string;
  name: string;
  place_kinds: PlaceKind[];
  secret_hash?: string;
}

export interface AccountInput {
  id: string;
  first_name: string;
  last_name?: string;
  cpr?: string | null;
  place_kinds?: PlaceKind[];
  denied_categories?: string[];
  allergies?: string[];
  photo?: string | null;
  auto_topup_ore?: number | null;
  /** The sites where the child's card works (its school, its club). */
  sites: string[];
  limits?: { place_kind: PlaceKind; period: Period; limit_ore: number }[];
}

interface AccountRow {
  id: string;
  first_name: string;
  last_name: string;
  place_kinds: PlaceKind[];
  denied_categories: string[];
  allergies: string[];
  photo: string | null;
  auto_topup_ore: number | null;
  balance_ore: number;
}

/** One transaction's work: its SQL and what it queued for each site, sent after the commit. */
interface Tx {
  sql: Sql;
  now: Date;
  out: Map<string, DownChange[]>;
}

// Unacknowledged changes are re-sent after this long (a lost message or a reconnect).
const RETRANSMIT_MS = 1_000;
// A site that was away gets at most this many changes per re-send; the rest after its ack.
const MAX_RESEND_CHANGES = 2_000;

/**
 * Central: the master of accounts, cards, policies and money, and the other end of every site's
 * link. All state is in the database; any number of these may run against one Postgres (each
 * transaction locks the rows it changes), sharing the sites' messages.
 */
export class Central {
  constructor(
    readonly db: Db,
    private readonly clock: Clock,
    private readonly publish: Publish,
  ) {}

  async migrate(): Promise<void> {
    await migrate(this.db);
  }

  /** Runs `fn` in a transaction, then sends what it queued. */
  private async tx<T>(fn: (t: Tx) => Promise<T>): Promise<T> {
    let out = new Map<string, DownChange[]>();
    const result = await this.db.transaction(async (sql) => {
      out = new Map(); // a retried transaction starts again from nothing
      return fn({ sql, now: this.clock.now(), out });
    });
    for (const [site, changes] of out) this.sendChanges(site, changes);
    return result;
  }

  private sendChanges(site: string, changes: readonly DownChange[]): void {
    for (let i = 0; i < changes.length; i += MAX_CHANGES_PER_MESSAGE) {
      this.publish(site, { v: 1, t: 'changes', changes: changes.slice(i, i + MAX_CHANGES_PER_MESSAGE) });
    }
  }

  /** Appends a change to a site's down log (in the caller's transaction). */
  private async appendDown(t: Tx, site: string, change: UnsequencedDown): Promise<number> {
    const [row] = await t.sql.query<{ down_seq: number }>(
      'UPDATE sites SET down_seq = down_seq + 1, down_sent_at = $2 WHERE id = $1 RETURNING down_seq',
      [site, t.now],
    );
    if (!row) throw new Error(`no site ${site}`); // callers pass sites from the database
    const full = { ...change, seq: row.down_seq } as DownChange;
    await t.sql.query('INSERT INTO down_log (site_id, seq, change) VALUES ($1, $2, $3)', [site, row.down_seq, full]);
    const list = t.out.get(site) ?? [];
    list.push(full);
    t.out.set(site, list);
    return row.down_seq;
  }

  // ── Sites ────────────────────────────────────────────────────────────────────────────────────

  async putSite(s: SiteInput): Promise<void> {
    await this.tx(async (t) => {
      const [existing] = await t.sql.query('SELECT 1 FROM sites WHERE id = $1', [s.id]);
      await t.sql.query(
        `INSERT INTO sites (id, name, place_kinds, secret_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, place_kinds = excluded.place_kinds,
           secret_hash = COALESCE(excluded.secret_hash, sites.secret_hash)`,
        [s.id, s.name, JSON.stringify(s.place_kinds), s.secret_hash ?? null],
      );
      // A new site learns every batch of cards, so any card activated for it can be verified.
      if (!existing) {
        const batches = await t.sql.query<{ id: string; sdm_master: Uint8Array }>('SELECT id, sdm_master FROM batches');
        for (const b of batches) await this.appendDown(t, s.id, { kind: 'batch', batch: batchOf(b) });
      }
    });
  }

  /** A site's gateway logs in to central's broker with a secret; only its hash is kept. */
  async setSiteSecret(site: string, secretHash: string): Promise<void> {
    const rows = await this.db.query('UPDATE sites SET secret_hash = $2 WHERE id = $1 RETURNING 1', [site, secretHash]);
    if (rows.length === 0) throw new KantineError('not_found', `no site ${site}`);
  }

  async siteSecretHash(site: string): Promise<string | undefined> {
    const [row] = await this.db.query<{ secret_hash: string | null }>('SELECT secret_hash FROM sites WHERE id = $1', [
      site,
    ]);
    return row?.secret_hash ?? undefined;
  }

  /** The sites and how far each link has come (for IT's overview). */
  async sites(): Promise<SiteRow[]> {
    return this.db.query<SiteRow>(
      'SELECT id, name, place_kinds, up_cursor, down_seq, down_acked FROM sites ORDER BY id',
    );
  }

  // ── Accounts and policies ────────────────────────────────────────────────────────────────────

  /**
   * Creates an account or changes the guardians' choices; its sites get the change at once (and a
   * new site the account's cards and history). Then the account's money is shared out again.
   */
  async putAccount(a: AccountInput): Promise<void> {
    await this.tx((t) => this.putAccountIn(t, a));
  }

  private async putAccountIn(t: Tx, a: AccountInput): Promise<void> {
    const sites = await t.sql.query<{ id: string }>('SELECT id FROM sites WHERE id = ANY($1)', [a.sites]);
    if (sites.length !== new Set(a.sites).size)
      throw new KantineError('not_found', `unknown site in ${a.sites.join(', ')}`);
    await t.sql.query(
      `INSERT INTO accounts (id, first_name, last_name, cpr, place_kinds, denied_categories, allergies, photo, auto_topup_ore, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name, last_name = excluded.last_name,
         cpr = COALESCE(excluded.cpr, accounts.cpr), place_kinds = excluded.place_kinds,
         denied_categories = excluded.denied_categories, allergies = excluded.allergies,
         photo = excluded.photo, auto_topup_ore = excluded.auto_topup_ore`,
      [
        a.id,
        a.first_name,
        a.last_name ?? '',
        a.cpr ?? null,
        JSON.stringify(a.place_kinds ?? ['school', 'club']),
        JSON.stringify(a.denied_categories ?? []),
        JSON.stringify(a.allergies ?? []),
        a.photo ?? null,
        a.auto_topup_ore ?? null,
        t.now,
      ],
    );
    await this.lockAccount(t, a.id);
    if (a.limits) {
      await t.sql.query('DELETE FROM spend_limits WHERE account_id = $1', [a.id]);
      for (const l of a.limits) {
        await t.sql.query(
          'INSERT INTO spend_limits (account_id, place_kind, period, limit_ore) VALUES ($1, $2, $3, $4)',
          [a.id, l.place_kind, l.period, l.limit_ore],
        );
      }
    }
    const before = (
      await t.sql.query<{ site_id: string }>('SELECT site_id FROM account_sites WHERE account_id = $1', [a.id])
    ).map((r) => r.site_id);
    for (const s of a.sites) {
      await t.sql.query('INSERT INTO account_sites (account_id, site_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
        a.id,
        s,
      ]);
    }
    // A site the account leaves keeps what it knows but gets no new shares; what it holds is
    // recalled.
    for (const gone of before.filter((s) => !a.sites.includes(s))) {
      await t.sql.query('DELETE FROM account_sites WHERE account_id = $1 AND site_id = $2', [a.id, gone]);
      for (const s of await this.sharesOfSite(t, a.id, gone)) {
        if (outstanding(s) > 0) await this.appendDown(t, gone, { kind: 'recall', account_id: a.id, budget: s.budget });
      }
    }
    const account = await this.linkAccount(t, a.id);
    for (const s of a.sites) {
      if (!before.includes(s)) await this.sendHistory(t, a.id, s);
      else await this.appendDown(t, s, { kind: 'account', account });
    }
    await this.rebalance(t, a.id);
  }

  private async lockAccount(t: Tx, id: string): Promise<AccountRow> {
    const [row] = await t.sql.query<AccountRow>(
      `SELECT id, first_name, last_name, place_kinds, denied_categories, allergies, photo, auto_topup_ore, balance_ore
       FROM accounts WHERE id = $1 FOR UPDATE`,
      [id],
    );
    if (!row) throw new KantineError('not_found', `no account ${id}`);
    return row;
  }

  private async limitsOf(t: Tx, id: string): Promise<LinkAccount['limits']> {
    return t.sql.query(
      'SELECT place_kind, period, limit_ore FROM spend_limits WHERE account_id = $1 ORDER BY place_kind, period',
      [id],
    );
  }

  /** The account as sites see it: no CPR number, no balance (that moves by entries). */
  private async linkAccount(t: Tx, id: string): Promise<LinkAccount> {
    const a = await this.lockAccount(t, id);
    return {
      id: a.id,
      first_name: a.first_name,
      last_name: a.last_name,
      place_kinds: a.place_kinds,
      denied_categories: a.denied_categories,
      allergies: a.allergies,
      photo: a.photo,
      auto_topup_ore: a.auto_topup_ore,
      limits: await this.limitsOf(t, id),
    };
  }

  /** A site new to an account gets it whole: the account, its cards (and their batches) and every entry. */
  private async sendHistory(t: Tx, accountId: string, site: string): Promise<void> {
    await this.appendDown(t, site, { kind: 'account', account: await this.linkAccount(t, accountId) });
    for (const c of await t.sql.query<LinkCard>(
      'SELECT uid, account_id, state, kind, batch_id FROM cards WHERE account_id = $1 ORDER BY uid',
      [accountId],
    )) {
      await this.appendDown(t, site, { kind: 'card', card: c });
    }
    for (const e of await t.sql.query<EntryRow>('SELECT * FROM entries WHERE account_id = $1 ORDER BY seq', [
      accountId,
    ])) {
      if (e.origin !== site) await this.appendDown(t, site, { kind: 'entry', entry: centralEntry(e) });
    }
  }

  private async sitesOf(t: Tx, accountId: string): Promise<{ id: string; place_kinds: PlaceKind[] }[]> {
    return t.sql.query(
      `SELECT s.id, s.place_kinds FROM account_sites x JOIN sites s ON s.id = x.site_id
       WHERE x.account_id = $1 ORDER BY s.id`,
      [accountId],
    );
  }

  // ── Guardians and relations ──────────────────────────────────────────────────────────────────

  /** A parent (or another adult) who logs in to the portal; the CPR number stays here. */
  async putGuardian(g: { id: string; name: string; cpr?: string | null; email?: string | null }): Promise<void> {
    await this.db.query(
      `INSERT INTO guardians (id, name, cpr, email) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, cpr = COALESCE(excluded.cpr, guardians.cpr),
         email = excluded.email`,
      [g.id, g.name, g.cpr ?? null, g.email ?? null],
    );
  }

  /**
   * Ties an adult to a child's account: a `guardian` may do everything, a `relation` (a
   * grandparent, say) may top up and read the statement. `null` unties them.
   */
  async setGuardianRole(accountId: string, guardianId: string, role: 'guardian' | 'relation' | null): Promise<void> {
    await this.tx(async (t) => {
      await this.lockAccount(t, accountId);
      const [g] = await t.sql.query('SELECT 1 FROM guardians WHERE id = $1', [guardianId]);
      if (!g) throw new KantineError('not_found', `no guardian ${guardianId}`);
      if (role === null) {
        await t.sql.query('DELETE FROM account_guardians WHERE account_id = $1 AND guardian_id = $2', [
          accountId,
          guardianId,
        ]);
        return;
      }
      await t.sql.query(
        `INSERT INTO account_guardians (account_id, guardian_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (account_id, guardian_id) DO UPDATE SET role = excluded.role`,
        [accountId, guardianId, role],
      );
    });
  }

  /** A guardian and the children they may act for (no CPR numbers). */
  async guardian(
    id: string,
  ): Promise<
    { id: string; name: string; email: string | null; accounts: { account_id: string; role: string }[] } | undefined
  > {
    const [g] = await this.db.query<{ id: string; name: string; email: string | null }>(
      'SELECT id, name, email FROM guardians WHERE id = $1',
      [id],
    );
    if (!g) return undefined;
    const accounts = await this.db.query<{ account_id: string; role: string }>(
      'SELECT account_id, role FROM account_guardians WHERE guardian_id = $1 ORDER BY account_id',
      [id],
    );
    return { ...g, accounts };
  }

  // ── Cards ────────────────────────────────────────────────────────────────────────────────────

  /** A batch of kantine cards: every site learns its SDM master key to verify the cards' taps. */
  async registerBatch(id: string, sdmMaster: Uint8Array): Promise<void> {
    if (sdmMaster.length !== 16) throw new KantineError('invalid_request', 'an SDM master key is 16 bytes');
    await this.tx(async (t) => {
      await t.sql.query('INSERT INTO batches (id, sdm_master) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [
        id,
        sdmMaster,
      ]);
      for (const s of await t.sql.query<{ id: string }>('SELECT id FROM sites ORDER BY id')) {
        await this.appendDown(t, s.id, {
          kind: 'batch',
          batch: { id, sdm_master: Buffer.from(sdmMaster).toString('hex') },
        });
      }
    });
  }

  /** A blank card in stock (a school office's pile), or a card carried over from the old system. */
  async putCard(c: {
    uid: string;
    kind: 'legacy' | 'ntag424';
    batch_id?: string | null;
    card_number?: string | null;
  }): Promise<void> {
    if ((c.kind === 'ntag424') !== Boolean(c.batch_id))
      throw new KantineError('invalid_request', 'a kantine card (ntag424) names its batch; a legacy card none');
    if (c.batch_id && (await this.db.query('SELECT 1 FROM batches WHERE id = $1', [c.batch_id])).length === 0)
      throw new KantineError('not_found', `no batch ${c.batch_id}`);
    await this.db.query(
      `INSERT INTO cards (uid, account_id, state, kind, batch_id, card_number) VALUES ($1, NULL, 'stock', $2, $3, $4)
       ON CONFLICT (uid) DO NOTHING`,
      [c.uid, c.kind, c.batch_id ?? null, c.card_number ?? null],
    );
  }

  /**
   * A programmed batch laid in stock at a school (or club) office, all or nothing. Registering the
   * same cards again changes nothing; a UID or card number already registered otherwise is refused.
   */
  async addStock(batchId: string, req: StockRequest): Promise<{ added: number; already: number }> {
    return this.tx(async (t) => {
      if ((await t.sql.query('SELECT 1 FROM batches WHERE id = $1', [batchId])).length === 0)
        throw new KantineError('not_found', `no batch ${batchId}: register its key first`);
      if ((await t.sql.query('SELECT 1 FROM sites WHERE id = $1', [req.site])).length === 0)
        throw new KantineError('not_found', `no site ${req.site}`);
      let added = 0;
      let already = 0;
      for (const c of req.cards) {
        const rows = await t.sql.query<{ uid: string; batch_id: string | null; card_number: string | null }>(
          'SELECT uid, batch_id, card_number FROM cards WHERE uid = $1 OR card_number = $2 FOR UPDATE',
          [c.uid, c.card_number],
        );
        const [row] = rows;
        if (!row) {
          await t.sql.query(
            `INSERT INTO cards (uid, account_id, state, kind, batch_id, card_number, stock_site)
             VALUES ($1, NULL, 'stock', 'ntag424', $2, $3, $4)`,
            [c.uid, batchId, c.card_number, req.site],
          );
          added++;
        } else if (
          rows.length === 1 &&
          row.uid === c.uid &&
          row.batch_id === batchId &&
          row.card_number === c.card_number
        ) {
          already++;
        } else {
          throw new KantineError(
            'invalid_request',
            `card ${c.uid} (number ${c.card_number}) clashes with card ${row.uid} (batch ${row.batch_id ?? '-'}, number ${row.card_number ?? '-'}) already registered`,
          );
        }
      }
      return { added, already };
    });
  }

  /** What lies in stock at each office, by batch. */
  async stock(site: string): Promise<{ batch_id: string; cards: number }[]> {
    return this.db.query(
      `SELECT batch_id, COUNT(*)::int AS cards FROM cards WHERE stock_site = $1 AND state = 'stock'
       GROUP BY batch_id ORDER BY batch_id`,
      [site],
    );
  }

  /**
   * A school's accounts from the old system: account, opening balance, automatic top-up, limits
   * and the child's old card, all rows in one transaction. Any bad row refuses the whole import
   * (`import_invalid`, one detail per line); a dry run reports what would change and changes
   * nothing. Importing the same file again changes nothing: the opening balance's entry id is
   * fixed per site and account, and an account the file does not change is left alone.
   */
  async importAccounts(site: string, req: ImportRequest): Promise<ImportReport> {
    const report: ImportReport = {
      dry_run: req.dry_run,
      site,
      rows: req.rows.length,
      created: 0,
      updated: 0,
      unchanged: 0,
      opening_balance_ore: 0,
      cards_added: 0,
    };
    const problems: string[] = [];
    const seen = new Map<string, number>();
    for (const r of req.rows) {
      for (const key of [
        `account ${r.account_id}`,
        r.cpr && `CPR ${r.cpr.replace('-', '')}`,
        r.legacy_uid && `card ${r.legacy_uid}`,
      ]) {
        if (!key) continue;
        const first = seen.get(key);
        if (first !== undefined) problems.push(`line ${r.line}: ${key} is also on line ${first}`);
        else seen.set(key, r.line);
      }
    }
    if (problems.length) throw new KantineError('import_invalid', codes.import_invalid.en, problems);
    try {
      return await this.tx(async (t) => {
        const [place] = await t.sql.query<{ place_kinds: PlaceKind[] }>('SELECT place_kinds FROM sites WHERE id = $1', [
          site,
        ]);
        if (!place) throw new KantineError('not_found', `no site ${site}`);
        for (const r of req.rows) {
          const problem = await this.importRow(t, site, r, report);
          if (problem) problems.push(`line ${r.line}: ${problem}`);
        }
        if (problems.length) throw new KantineError('import_invalid', codes.import_invalid.en, problems);
        if (req.dry_run) throw new DryRun(report);
        return report;
      });
    } catch (err) {
      if (err instanceof DryRun) return err.report;
      throw err;
    }
  }

  /** One row of an import, in the import's transaction: what is wrong with it, or nothing. */
  private async importRow(t: Tx, site: string, r: ImportRow, report: ImportReport): Promise<string | undefined> {
    if (r.cpr) {
      const [other] = await t.sql.query<{ id: string }>(
        "SELECT id FROM accounts WHERE replace(cpr, '-', '') = $1 AND id <> $2",
        [r.cpr.replace('-', ''), r.account_id],
      );
      if (other) return `CPR number already belongs to account ${other.id}`;
    }
    const [existing] = await t.sql.query<{
      first_name: string;
      last_name: string;
      cpr: string | null;
      auto_topup_ore: number | null;
    }>('SELECT first_name, last_name, cpr, auto_topup_ore FROM accounts WHERE id = $1 FOR UPDATE', [r.account_id]);
    const sites = existing
      ? (
          await t.sql.query<{ site_id: string }>('SELECT site_id FROM account_sites WHERE account_id = $1', [
            r.account_id,
          ])
        ).map((x) => x.site_id)
      : [];
    const limits = existing ? await this.limitsOf(t, r.account_id) : [];
    const sameLimits =
      limits.length === r.limits.length &&
      r.limits.every((l) =>
        limits.some((x) => x.place_kind === l.place_kind && x.period === l.period && x.limit_ore === l.limit_ore),
      );
    if (
      existing &&
      existing.first_name === r.first_name &&
      existing.last_name === r.last_name &&
      existing.auto_topup_ore === r.auto_topup_ore &&
      // a file without a CPR number leaves the one central has
      (!r.cpr || existing.cpr?.replace('-', '') === r.cpr.replace('-', '')) &&
      sites.includes(site) &&
      sameLimits
    ) {
      report.unchanged++;
    } else {
      await this.putAccountIn(t, {
        id: r.account_id,
        first_name: r.first_name,
        last_name: r.last_name,
        cpr: r.cpr,
        auto_topup_ore: r.auto_topup_ore,
        sites: [...new Set([...sites, site])],
        limits: r.limits,
      });
      if (existing) report.updated++;
      else report.created++;
    }
    if (r.balance_ore > 0) {
      const id = `import-${site}-${r.account_id}`;
      const [opening] = await t.sql.query<{ amount_ore: number }>('SELECT amount_ore FROM entries WHERE id = $1', [id]);
      if (opening && Number(opening.amount_ore) !== r.balance_ore)
        return `the opening balance was imported before as ${Number(opening.amount_ore)} øre, not ${r.balance_ore}; correct it by a deposit or withdrawal`;
      if (!opening) {
        await this.lockAccount(t, r.account_id);
        await this.centralEntry(t, {
          id,
          account_id: r.account_id,
          kind: 'deposit',
          amount_ore: r.balance_ore,
          reason: 'overført fra det gamle system',
        });
        await this.rebalance(t, r.account_id);
        report.opening_balance_ore += r.balance_ore;
      }
    }
    if (r.legacy_uid) {
      const [card] = await t.sql.query<{ account_id: string | null; state: string; kind: string }>(
        'SELECT account_id, state, kind FROM cards WHERE uid = $1',
        [r.legacy_uid],
      );
      if (!card) {
        await t.sql.query(
          `INSERT INTO cards (uid, account_id, state, kind, batch_id, card_number) VALUES ($1, NULL, 'stock', 'legacy', NULL, NULL)`,
          [r.legacy_uid],
        );
        await this.activateCardIn(t, r.legacy_uid, r.account_id);
        report.cards_added++;
      } else if (card.account_id !== r.account_id || card.kind !== 'legacy') {
        return `card ${r.legacy_uid} is already ${card.state}${card.account_id ? ` on account ${card.account_id}` : ''}`;
      }
    }
    return undefined;
  }

  /** A guardian activates a blank card: it becomes the account's card, and the old one stops working. */
  async activateCard(uid: string, accountId: string): Promise<void> {
    await this.tx((t) => this.activateCardIn(t, uid, accountId));
  }

  private async activateCardIn(t: Tx, uid: string, accountId: string): Promise<void> {
    await this.lockAccount(t, accountId);
    const card = await this.lockCard(t, uid);
    if (card.state !== 'stock')
      throw new KantineError('invalid_request', `card ${uid} is ${card.state}, not a blank card`);
    const changed: LinkCard[] = [];
    for (const old of await t.sql.query<LinkCard>(
      "UPDATE cards SET state = 'replaced' WHERE account_id = $1 AND state IN ('active', 'blocked') RETURNING uid, account_id, state, kind, batch_id",
      [accountId],
    )) {
      changed.push(old);
    }
    const [now] = await t.sql.query<LinkCard>(
      "UPDATE cards SET state = 'active', account_id = $2 WHERE uid = $1 RETURNING uid, account_id, state, kind, batch_id",
      [uid, accountId],
    );
    changed.push(now as LinkCard);
    for (const s of await this.sitesOf(t, accountId)) {
      for (const c of changed) await this.appendDown(t, s.id, { kind: 'card', card: c });
    }
  }

  /** Block (lost card) or re-open (found). Every online site refuses the card within moments. */
  async setCardBlocked(uid: string, blocked: boolean): Promise<void> {
    await this.tx(async (t) => {
      const card = await this.lockCard(t, uid);
      const from = blocked ? 'active' : 'blocked';
      if (card.state !== from || !card.account_id) {
        throw new KantineError(
          'invalid_request',
          `card ${uid} is ${card.state}; only an ${from} card can be ${blocked ? 'blocked' : 're-opened'}`,
        );
      }
      const [row] = await t.sql.query<LinkCard>(
        'UPDATE cards SET state = $2 WHERE uid = $1 RETURNING uid, account_id, state, kind, batch_id',
        [uid, blocked ? 'blocked' : 'active'],
      );
      for (const s of await this.sitesOf(t, card.account_id))
        await this.appendDown(t, s.id, { kind: 'card', card: row as LinkCard });
    });
  }

  private async lockCard(t: Tx, uid: string): Promise<LinkCard> {
    const [card] = await t.sql.query<LinkCard>(
      'SELECT uid, account_id, state, kind, batch_id FROM cards WHERE uid = $1 FOR UPDATE',
      [uid],
    );
    if (!card) throw new KantineError('not_found', `no card ${uid}`);
    return card;
  }

  // ── Money made at central: deposits, withdrawals, fees ───────────────────────────────────────

  /** A top-up (idempotent by `id`): the money is shared out to the account's sites at once. */
  async deposit(d: { id?: string; account_id: string; amount_ore: number }): Promise<string> {
    positive(d.amount_ore);
    const id = d.id ?? uuidv7();
    await this.tx(async (t) => {
      await this.lockAccount(t, d.account_id);
      if (await this.entryExists(t, id)) return;
      const [blocked] = await t.sql.query(
        `SELECT 1 FROM cards WHERE account_id = $1 AND state = 'blocked'
           AND NOT EXISTS (SELECT 1 FROM cards WHERE account_id = $1 AND state = 'active')`,
        [d.account_id],
      );
      if (blocked) throw new KantineError('account_blocked');
      await this.centralEntry(t, { id, account_id: d.account_id, kind: 'deposit', amount_ore: d.amount_ore });
      await this.rebalance(t, d.account_id);
    });
    return id;
  }

  /**
   * A withdrawal (udbetaling) or a fee (a replacement card): only from the free part of the
   * balance. If sites hold the rest, their shares are recalled and the caller may try again in a
   * moment (`funds_held_offline`); an account without the money gets `insufficient_balance`.
   */
  async withdraw(w: {
    id?: string;
    account_id: string;
    amount_ore: number;
    kind?: 'withdrawal' | 'fee';
    reason?: string;
  }): Promise<string> {
    positive(w.amount_ore);
    const id = w.id ?? uuidv7();
    const result = await this.tx(async (t): Promise<'done' | 'recalled' | 'short'> => {
      const account = await this.lockAccount(t, w.account_id);
      if (await this.entryExists(t, id)) return 'done';
      const shares = await this.shares(t, w.account_id, BALANCE_BUDGET);
      const free = freeOf(BALANCE_BUDGET, account.balance_ore, shares);
      if (free >= w.amount_ore) {
        await this.centralEntry(t, {
          id,
          account_id: w.account_id,
          kind: w.kind ?? 'withdrawal',
          amount_ore: -w.amount_ore,
          ...(w.reason ? { reason: w.reason } : {}),
        });
        await this.rebalance(t, w.account_id); // what was recalled and not paid out goes back out
        return 'done';
      }
      if (account.balance_ore < w.amount_ore) return 'short';
      for (const s of shares) {
        if (outstanding(s) > 0)
          await this.appendDown(t, s.site_id, { kind: 'recall', account_id: w.account_id, budget: BALANCE_BUDGET });
      }
      return 'recalled';
    });
    if (result === 'short') throw new KantineError('insufficient_balance');
    if (result === 'recalled') throw new KantineError('funds_held_offline');
    return id;
  }

  private async entryExists(t: Tx, id: string): Promise<boolean> {
    return (await t.sql.query('SELECT 1 FROM entries WHERE id = $1', [id])).length > 0;
  }

  /** Books an entry made at central and sends it to every site of the account. */
  private async centralEntry(
    t: Tx,
    e: { id: string; account_id: string; kind: 'deposit' | 'withdrawal' | 'fee'; amount_ore: number; reason?: string },
  ): Promise<void> {
    const row = await this.book(t, { ...e, origin: 'central', created_at: t.now.toISOString() });
    for (const s of await this.sitesOf(t, e.account_id))
      await this.appendDown(t, s.id, { kind: 'entry', entry: centralEntry(row) });
  }

  /** Inserts an entry and moves the balance (the account row is locked by the caller). */
  private async book(
    t: Tx,
    e: {
      id: string;
      account_id: string;
      kind: CentralEntry['kind'];
      amount_ore: number;
      origin: string;
      created_at: string;
      place_kind?: PlaceKind;
      voids_entry_id?: string;
      reason?: string;
      lines?: unknown;
      tap_id?: string;
      budgets?: string[];
    },
  ): Promise<EntryRow> {
    const [acc] = await t.sql.query<{ balance_ore: number }>(
      'UPDATE accounts SET balance_ore = balance_ore + $2 WHERE id = $1 RETURNING balance_ore',
      [e.account_id, e.amount_ore],
    );
    const [row] = await t.sql.query<EntryRow>(
      `INSERT INTO entries (id, account_id, kind, amount_ore, balance_after_ore, origin, place_kind, voids_entry_id, reason,
                            lines, tap_id, budgets, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *`,
      [
        e.id,
        e.account_id,
        e.kind,
        e.amount_ore,
        acc?.balance_ore,
        e.origin,
        e.place_kind ?? null,
        e.voids_entry_id ?? null,
        e.reason ?? null,
        e.lines === undefined ? null : JSON.stringify(e.lines),
        e.tap_id ?? null,
        e.budgets === undefined ? null : JSON.stringify(e.budgets),
        e.created_at,
      ],
    );
    return row as EntryRow;
  }

  // ── Escrow ───────────────────────────────────────────────────────────────────────────────────

  private async shares(t: Tx, accountId: string, budget: string): Promise<ShareRow[]> {
    return t.sql.query<ShareRow>(
      'SELECT site_id, granted_ore, consumed_ore, returned_ore FROM shares WHERE account_id = $1 AND budget = $2 ORDER BY site_id',
      [accountId, budget],
    );
  }

  private async sharesOfSite(t: Tx, accountId: string, site: string): Promise<(ShareRow & { budget: string })[]> {
    return t.sql.query(
      'SELECT budget, site_id, granted_ore, consumed_ore, returned_ore FROM shares WHERE account_id = $1 AND site_id = $2',
      [accountId, site],
    );
  }

  private async grant(t: Tx, accountId: string, budget: string, site: string, amount_ore: number): Promise<void> {
    await t.sql.query(
      `INSERT INTO shares (account_id, budget, site_id, granted_ore) VALUES ($1, $2, $3, $4)
       ON CONFLICT (account_id, budget, site_id) DO UPDATE SET granted_ore = shares.granted_ore + excluded.granted_ore`,
      [accountId, budget, site, amount_ore],
    );
    await this.appendDown(t, site, { kind: 'grant', account_id: accountId, budget, amount_ore });
  }

  /** The capacity of a budget: the balance, or the limit of the window (undefined: no such limit). */
  private async capacity(t: Tx, account: AccountRow, budget: string): Promise<number | undefined> {
    if (budget === BALANCE_BUDGET) return account.balance_ore;
    return limitOf(budget, await this.limitsOf(t, account.id));
  }

  /**
   * Shares out what is free of an account's balance, and of each limit's windows from now to the
   * horizon, evenly among the account's sites (for a limit: the sites of that kind of place). A
   * limit lowered below what is already out recalls the shares. Never takes a share back to
   * re-split it: a site that needs more asks.
   */
  private async rebalance(t: Tx, accountId: string): Promise<void> {
    const account = await this.lockAccount(t, accountId);
    const sites = (await this.sitesOf(t, accountId)).filter((s) =>
      s.place_kinds.some((k) => account.place_kinds.includes(k)),
    );
    if (sites.length === 0) return;
    const free = freeOf(BALANCE_BUDGET, account.balance_ore, await this.shares(t, accountId, BALANCE_BUDGET));
    for (const [site, amount] of split(
      free,
      sites.map((s) => s.id),
    ))
      await this.grant(t, accountId, BALANCE_BUDGET, site, amount);

    for (const limit of await this.limitsOf(t, accountId)) {
      const kindSites = sites.filter((s) => s.place_kinds.includes(limit.place_kind)).map((s) => s.id);
      if (kindSites.length === 0) continue;
      for (const start of upcomingWindows(limit.period, t.now, HORIZON[limit.period])) {
        const budget = `${limit.place_kind}:${limit.period}:${start}`;
        const shares = await this.shares(t, accountId, budget);
        const freeLimit = freeOf(budget, limit.limit_ore, shares);
        if (freeLimit > 0) {
          for (const [site, amount] of split(freeLimit, kindSites))
            await this.grant(t, accountId, budget, site, amount);
        } else if (freeLimit < 0) {
          for (const s of shares) {
            if (outstanding(s) > 0)
              await this.appendDown(t, s.site_id, { kind: 'recall', account_id: accountId, budget });
          }
        }
      }
    }
  }

  /** Shares out every account that has something free, and extends limit shares to the horizon. */
  async rebalanceAll(): Promise<void> {
    const ids = await this.db.query<{ id: string }>(
      `SELECT a.id FROM accounts a
       WHERE EXISTS (SELECT 1 FROM account_sites x WHERE x.account_id = a.id)
         AND (EXISTS (SELECT 1 FROM spend_limits l WHERE l.account_id = a.id)
              OR a.balance_ore > (SELECT COALESCE(SUM(granted_ore - consumed_ore - returned_ore), 0) FROM shares s
                                  WHERE s.account_id = a.id AND s.budget = 'balance'))
       ORDER BY a.id`,
    );
    for (const { id } of ids) await this.tx((t) => this.rebalance(t, id));
  }

  // ── The link: messages from sites ────────────────────────────────────────────────────────────

  /** Handles one message a site sent on its up topic (already validated by the transport). */
  async handleUp(site: string, msg: LinkUp): Promise<void> {
    switch (msg.t) {
      case 'changes':
        return this.applyUp(site, msg.changes);
      case 'ack':
        return this.acked(site, msg.down_cursor);
      case 'hello':
        await this.acked(site, msg.down_cursor);
        await this.resend(site, msg.down_cursor);
        await this.sendUpAck(site);
        return;
      case 'ask':
        return this.ask(site, msg);
    }
  }

  private async sendUpAck(site: string): Promise<void> {
    const [row] = await this.db.query<{ up_cursor: number }>('SELECT up_cursor FROM sites WHERE id = $1', [site]);
    if (row) this.publish(site, { v: 1, t: 'ack', up_cursor: row.up_cursor });
  }

  /** Applies a site's changes in order, each exactly once (the cursor moves in the same transaction). */
  private async applyUp(site: string, changes: readonly UpChange[]): Promise<void> {
    const cursor = await this.tx(async (t) => {
      const [row] = await t.sql.query<{ up_cursor: number }>('SELECT up_cursor FROM sites WHERE id = $1 FOR UPDATE', [
        site,
      ]);
      if (!row) throw new KantineError('not_found', `no site ${site}`);
      let at = row.up_cursor;
      let gap = false;
      for (const c of [...changes].sort((a, b) => a.seq - b.seq)) {
        if (c.seq <= at) continue; // seen before: a duplicate or a re-send
        if (c.seq !== at + 1) {
          gap = true; // the site re-sends from our ack
          break;
        }
        if (c.kind === 'entry') await this.applySiteEntry(t, site, c.entry);
        else await this.applyReturn(t, site, c.account_id, c.budget, c.amount_ore);
        at = c.seq;
      }
      if (at !== row.up_cursor) await t.sql.query('UPDATE sites SET up_cursor = $2 WHERE id = $1', [site, at]);
      return { at, gap };
    });
    this.publish(site, { v: 1, t: 'ack', up_cursor: cursor.at, ...(cursor.gap ? { gap: true } : {}) });
  }

  private async applySiteEntry(t: Tx, site: string, e: SiteEntry): Promise<void> {
    await this.lockAccount(t, e.account_id);
    if (await this.entryExists(t, e.id)) return;
    const row = await this.book(t, {
      id: e.id,
      account_id: e.account_id,
      kind: e.kind,
      amount_ore: e.amount_ore,
      origin: site,
      created_at: e.created_at,
      place_kind: e.place_kind,
      budgets: e.budgets,
      ...(e.voids_entry_id ? { voids_entry_id: e.voids_entry_id } : {}),
      ...(e.reason ? { reason: e.reason } : {}),
      ...(e.lines ? { lines: e.lines } : {}),
      ...(e.tap_id ? { tap_id: e.tap_id } : {}),
    });
    // A purchase uses up its share of every budget it drew on; a void gives it back.
    for (const budget of e.budgets) await this.moveShare(t, e.account_id, budget, site, 'consumed_ore', -e.amount_ore);
    for (const s of await this.sitesOf(t, e.account_id)) {
      if (s.id !== site) await this.appendDown(t, s.id, { kind: 'entry', entry: centralEntry(row) });
    }
  }

  private async applyReturn(t: Tx, site: string, accountId: string, budget: string, amount_ore: number): Promise<void> {
    await this.lockAccount(t, accountId);
    await this.moveShare(t, accountId, budget, site, 'returned_ore', amount_ore);
  }

  /**
   * A site spent from, or gave back, a share central granted: the share's row exists, and the
   * table's CHECK keeps what is spent and returned within the grant. Either failing means a site
   * sold beyond its shares: a bug, and the link stops there rather than book it.
   */
  private async moveShare(
    t: Tx,
    accountId: string,
    budget: string,
    site: string,
    column: 'consumed_ore' | 'returned_ore',
    amount_ore: number,
  ): Promise<void> {
    const rows = await t.sql.query(
      `UPDATE shares SET ${column} = ${column} + $4 WHERE account_id = $1 AND budget = $2 AND site_id = $3 RETURNING 1`,
      [accountId, budget, site, amount_ore],
    );
    if (rows.length !== 1) throw new Error(`site ${site} used a share of ${accountId}/${budget} it was never granted`);
  }

  /**
   * A site needs more of some budgets for a tap. Granted at once from what is free; otherwise the
   * other sites' shares are recalled and the site asks again (`retry`); refused when even all
   * shares together are not enough (the account cannot afford it).
   */
  private async ask(site: string, msg: Extract<LinkUp, { t: 'ask' }>): Promise<void> {
    const answer = await this.tx(async (t): Promise<LinkDown> => {
      const account = await this.lockAccount(t, msg.account_id).catch(() => undefined);
      const base = { v: 1 as const, t: 'answer' as const, ask_id: msg.ask_id };
      if (!account) return { ...base, result: 'refused' };
      let short = false;
      const plan: { budget: string; amount_ore: number; shares: ShareRow[] }[] = [];
      for (const need of msg.needs) {
        const capacity = await this.capacity(t, account, need.budget);
        if (capacity === undefined) continue; // no such limit (any more): nothing to grant or check
        const shares = await this.shares(t, account.id, need.budget);
        const free = freeOf(need.budget, capacity, shares);
        const elsewhere = shares
          .filter((s) => s.site_id !== site)
          .reduce((sum, s) => sum + Math.max(0, outstanding(s)), 0);
        if (free + elsewhere < need.amount_ore) return { ...base, result: 'refused', budget: need.budget };
        if (free < need.amount_ore) short = true;
        plan.push({ ...need, shares });
      }
      if (short) {
        for (const p of plan) {
          for (const s of p.shares) {
            if (s.site_id !== site && outstanding(s) > 0) {
              await this.appendDown(t, s.site_id, { kind: 'recall', account_id: account.id, budget: p.budget });
            }
          }
        }
        return { ...base, result: 'retry' };
      }
      for (const p of plan) await this.grant(t, account.id, p.budget, site, p.amount_ore);
      const [row] = await t.sql.query<{ down_seq: number }>('SELECT down_seq FROM sites WHERE id = $1', [site]);
      return { ...base, result: 'granted', through_seq: row?.down_seq ?? 0 };
    });
    this.publish(site, answer);
  }

  private async acked(site: string, cursor: number): Promise<void> {
    await this.db.query('UPDATE sites SET down_acked = $2 WHERE id = $1 AND down_acked < $2 AND $2 <= down_seq', [
      site,
      cursor,
    ]);
    await this.db.query('DELETE FROM down_log WHERE site_id = $1 AND seq <= $2', [site, cursor]);
  }

  /** Re-sends a site's unacknowledged changes after `cursor`. */
  private async resend(site: string, cursor: number): Promise<void> {
    const rows = await this.db.query<{ change: DownChange }>(
      'SELECT change FROM down_log WHERE site_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
      [site, cursor, MAX_RESEND_CHANGES],
    );
    if (rows.length > 0)
      this.sendChanges(
        site,
        rows.map((r) => r.change),
      );
  }

  /**
   * Periodic work: re-send what sites have not acknowledged for a while (one worker claims each
   * site's re-send by moving `down_sent_at`).
   */
  async retransmit(): Promise<void> {
    const due = new Date(this.clock.now().getTime() - RETRANSMIT_MS);
    const sites = await this.db.query<{ id: string; down_acked: number }>(
      `UPDATE sites SET down_sent_at = $2 WHERE down_seq > down_acked AND down_sent_at <= $1 RETURNING id, down_acked`,
      [due, this.clock.now()],
    );
    for (const s of sites) await this.resend(s.id, s.down_acked);
  }

  // ── Reading ──────────────────────────────────────────────────────────────────────────────────

  async account(id: string): Promise<(AccountRow & { sites: string[]; limits: LinkAccount['limits'] }) | undefined> {
    const [a] = await this.db.query<AccountRow>(
      'SELECT id, first_name, last_name, place_kinds, denied_categories, allergies, photo, auto_topup_ore, balance_ore FROM accounts WHERE id = $1',
      [id],
    );
    if (!a) return undefined;
    const sites = await this.db.query<{ site_id: string }>(
      'SELECT site_id FROM account_sites WHERE account_id = $1 ORDER BY site_id',
      [id],
    );
    const limits = await this.db.query<LinkAccount['limits'][number]>(
      'SELECT place_kind, period, limit_ore FROM spend_limits WHERE account_id = $1 ORDER BY place_kind, period',
      [id],
    );
    return { ...a, sites: sites.map((s) => s.site_id), limits };
  }

  async entries(accountId: string): Promise<EntryRow[]> {
    return this.db.query<EntryRow>('SELECT * FROM entries WHERE account_id = $1 ORDER BY seq', [accountId]);
  }

  /** Central's own books: each balance is the sum of its entries, each share is within its grant. */
  async verify(): Promise<string[]> {
    const problems: string[] = [];
    for (const r of await this.db.query<{ id: string; balance_ore: number; sum: number }>(
      `SELECT a.id, a.balance_ore, COALESCE(SUM(e.amount_ore), 0)::bigint AS sum FROM accounts a
       LEFT JOIN entries e ON e.account_id = a.id GROUP BY a.id HAVING a.balance_ore <> COALESCE(SUM(e.amount_ore), 0)`,
    )) {
      problems.push(`account ${r.id}: balance ${r.balance_ore} but entries sum to ${r.sum}`);
    }
    for (const r of await this.db.query<{ id: string; balance_ore: number; out: number }>(
      `SELECT a.id, a.balance_ore, SUM(s.granted_ore - s.consumed_ore - s.returned_ore)::bigint AS out
       FROM accounts a JOIN shares s ON s.account_id = a.id AND s.budget = 'balance'
       GROUP BY a.id HAVING SUM(s.granted_ore - s.consumed_ore - s.returned_ore) > a.balance_ore`,
    )) {
      problems.push(`account ${r.id}: shares out ${r.out} exceed the balance ${r.balance_ore}`);
    }
    return problems;
  }
}

export interface SiteRow {
  id: string;
  name: string;
  place_kinds: PlaceKind[];
  /** The last of the site's changes applied here. */
  up_cursor: number;
  /** The last change queued for the site, and the last it acknowledged. */
  down_seq: number;
  down_acked: number;
}

export interface EntryRow {
  seq: number;
  id: string;
  account_id: string;
  kind: CentralEntry['kind'];
  amount_ore: number;
  balance_after_ore: number;
  origin: string;
  place_kind: PlaceKind | null;
  voids_entry_id: string | null;
  reason: string | null;
  lines: CentralEntry['lines'] | null;
  tap_id: string | null;
  budgets: string[] | null;
  created_at: Date | string;
}

function centralEntry(e: EntryRow): CentralEntry {
  return {
    id: e.id,
    account_id: e.account_id,
    kind: e.kind,
    amount_ore: e.amount_ore,
    origin: e.origin,
    created_at: new Date(e.created_at).toISOString(),
    ...(e.place_kind ? { place_kind: e.place_kind } : {}),
    ...(e.voids_entry_id ? { voids_entry_id: e.voids_entry_id } : {}),
    ...(e.reason ? { reason: e.reason } : {}),
    ...(e.lines ? { lines: e.lines } : {}),
  };
}

function batchOf(b: { id: string; sdm_master: Uint8Array }): { id: string; sdm_master: string } {
  return { id: b.id, sdm_master: Buffer.from(b.sdm_master).toString('hex') };
}

/** Carries a dry run's report out of the transaction it rolls back. */
class DryRun extends Error {
  constructor(readonly report: ImportReport) {
    super('dry run');
  }
}

function positive(amount_ore: number): void {
  if (!Number.isSafeInteger(amount_ore) || amount_ore <= 0) {
    throw new KantineError('invalid_request', 'an amount is a positive whole number of øre');
  }
}
