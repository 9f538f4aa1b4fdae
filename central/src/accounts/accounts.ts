import {
  type AccountPatch,
  KantineError,
  type LinkAccount,
  type LinkCard,
  type Period,
  type PlaceKind,
} from '@kantine/protocol';
import { shareBatch } from '../cards/batches.ts';
import { checkCatalogueIds } from '../catalogue/catalogue.ts';
import type { Store, Tx } from '../db/tx.ts';
import { outstanding } from '../escrow/arithmetic.ts';
import type { EscrowService } from '../escrow/escrow.ts';
import { appendDown } from '../link/down-log.ts';
import { centralEntry, type EntryRow } from '../money/entries.ts';
import type { CprCrypto } from '../people/cpr.ts';
import { StatementService } from '../statement/statement.ts';
import { AccountOverviewService } from './overview.ts';
import { patchColumns, patchLimits, patchSites } from './patch.ts';
import { photoFromDataUrl } from './photo.ts';
import { type AccountRow, linkAccount, lockAccount } from './rows.ts';

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

/** Accounts and their policies: the child, where the card works, and the guardians' choices. */
export class AccountService {
  /** The statement (kontoudtog) of an account, over a period. */
  readonly statements: StatementService;
  /** The portal's view: "Mine konti", the cards by number, block and re-open. */
  readonly views: AccountOverviewService;

  constructor(
    private readonly store: Store,
    private readonly escrow: EscrowService,
    /** The child's CPR number is kept only as its HMAC and a sealed copy (central/src/people/cpr.ts). */
    private readonly cpr: CprCrypto,
  ) {
    this.statements = new StatementService(store);
    this.views = new AccountOverviewService(store);
  }

  /**
   * Creates an account or changes the guardians' choices; its sites get the change at once (and a
   * new site the account's cards and history). Then the account's money is shared out again.
   */
  async put(a: AccountInput): Promise<void> {
    // The picture is made before the transaction opens (sharp's work holds no lock).
    const photo = typeof a.photo === 'string' ? await photoFromDataUrl(a.photo) : a.photo;
    await this.store.tx((t) => this.putKept(t, { ...a, photo }));
  }

  /**
   * `put`, in the caller's transaction (an import puts many). A photo is never kept as given: it is
   * decoded and made central's small square JPEG (`photoFromDataUrl`), or refused with its code.
   */
  async putIn(t: Tx, a: AccountInput): Promise<void> {
    const photo = typeof a.photo === 'string' ? await photoFromDataUrl(a.photo) : a.photo;
    await this.putKept(t, { ...a, photo });
  }

  /**
   * `putIn` for the school's register (the import): what the file says — names, CPR number, sites,
   * limits, automatic top-up — over what the guardians keep in the portal, which the file does not
   * carry and a re-import must not wipe: the places, denied categories, allergies and photo (kept
   * as stored, not made again).
   */
  async putFromRegister(t: Tx, a: Omit<AccountInput, 'place_kinds' | 'denied_categories' | 'allergies' | 'photo'>) {
    const [kept] = await t.sql.query<{
      place_kinds: PlaceKind[];
      denied_categories: string[];
      allergies: string[];
      photo: string | null;
    }>('SELECT place_kinds, denied_categories, allergies, photo FROM accounts WHERE id = $1', [a.id]);
    await this.putKept(t, kept ? { ...a, ...kept } : a);
  }

  /** `putIn` with the photo (if any) already central's own. */
  private async putKept(t: Tx, a: AccountInput): Promise<void> {
    const sites = await t.sql.query<{ id: string }>('SELECT id FROM sites WHERE id = ANY($1)', [a.sites]);
    if (sites.length !== new Set(a.sites).size)
      throw new KantineError('not_found', `unknown site in ${a.sites.join(', ')}`);
    // Whose it is stays unsaid: the answer (and any log) must not tie a CPR number to an account.
    const cprHmac = a.cpr ? this.cpr.hmac(a.cpr) : null;
    if (cprHmac) {
      const [other] = await t.sql.query('SELECT 1 FROM accounts WHERE cpr_hmac = $1 AND id <> $2 FOR UPDATE', [
        cprHmac,
        a.id,
      ]);
      if (other) throw new KantineError('cpr_taken');
    }
    await t.sql.query(
      `INSERT INTO accounts (id, first_name, last_name, cpr_hmac, cpr_enc, place_kinds, denied_categories, allergies, photo, auto_topup_ore, created_at)
       VALUES ($1, $2, $3, $4, $11, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name, last_name = excluded.last_name,
         cpr_hmac = COALESCE(excluded.cpr_hmac, accounts.cpr_hmac),
         cpr_enc = COALESCE(excluded.cpr_enc, accounts.cpr_enc), place_kinds = excluded.place_kinds,
         denied_categories = excluded.denied_categories, allergies = excluded.allergies,
         photo = excluded.photo, auto_topup_ore = excluded.auto_topup_ore`,
      [
        a.id,
        a.first_name,
        a.last_name ?? '',
        cprHmac,
        JSON.stringify(a.place_kinds ?? ['school', 'club']),
        JSON.stringify(a.denied_categories ?? []),
        JSON.stringify(a.allergies ?? []),
        a.photo ?? null,
        a.auto_topup_ore ?? null,
        t.now,
        a.cpr ? this.cpr.seal(a.cpr) : null,
      ],
    );
    await lockAccount(t, a.id);
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
      for (const s of await this.escrow.sharesOfSite(t, a.id, gone)) {
        if (outstanding(s) > 0) await appendDown(t, gone, { kind: 'recall', account_id: a.id, budget: s.budget });
      }
    }
    const account = await linkAccount(t, a.id);
    for (const s of a.sites) {
      if (!before.includes(s)) await this.sendHistory(t, a.id, s);
      else await appendDown(t, s, { kind: 'account', account });
    }
    await this.escrow.rebalance(t, a.id);
  }

  /** A site new to an account gets it whole: the account, its cards (and their batches) and every entry. */
  private async sendHistory(t: Tx, accountId: string, site: string): Promise<void> {
    await appendDown(t, site, { kind: 'account', account: await linkAccount(t, accountId) });
    for (const c of await t.sql.query<LinkCard>(
      'SELECT uid, account_id, state, kind, batch_id, sun_counter FROM cards WHERE account_id = $1 ORDER BY uid',
      [accountId],
    )) {
      if (c.batch_id) await shareBatch(t, site, c.batch_id);
      await appendDown(t, site, { kind: 'card', card: c });
    }
    for (const e of await t.sql.query<EntryRow>('SELECT * FROM entries WHERE account_id = $1 ORDER BY seq', [
      accountId,
    ])) {
      if (e.origin !== site) await appendDown(t, site, { kind: 'entry', entry: centralEntry(e) });
    }
  }

  /** The sites that serve an account (where its card works): what a school office may see of it. */
  async sitesOf(id: string): Promise<string[]> {
    const rows = await this.store.db.query<{ site_id: string }>(
      'SELECT site_id FROM account_sites WHERE account_id = $1 ORDER BY site_id',
      [id],
    );
    return rows.map((r) => r.site_id);
  }

  /** An account, its sites and its limits (no CPR number). */
  async get(id: string): Promise<(AccountRow & { sites: string[]; limits: LinkAccount['limits'] }) | undefined> {
    const { db } = this.store;
    const [a] = await db.query<AccountRow>(
      'SELECT id, first_name, last_name, place_kinds, denied_categories, allergies, photo, auto_topup_ore, balance_ore FROM accounts WHERE id = $1',
      [id],
    );
    if (!a) return undefined;
    const sites = await db.query<{ site_id: string }>(
      'SELECT site_id FROM account_sites WHERE account_id = $1 ORDER BY site_id',
      [id],
    );
    const limits = await db.query<LinkAccount['limits'][number]>(
      'SELECT place_kind, period, limit_ore FROM spend_limits WHERE account_id = $1 ORDER BY place_kind, period',
      [id],
    );
    return { ...a, sites: sites.map((s) => s.site_id), limits };
  }

  /**
   * Changes some groups of an account's settings (`AccountPatch`): each group given is saved
   * whole, every other stays as it was. The account's sites get the change as after a `put`
   * (a site new to the account gets its history), and its money is shared out again.
   */
  async patch(id: string, given: AccountPatch): Promise<void> {
    // A photo, however it came (the API, the portal's upload), is decoded and made central's own
    // before anything is saved; a refused one changes nothing.
    const p = typeof given.photo === 'string' ? { ...given, photo: await photoFromDataUrl(given.photo) } : given;
    await this.store.tx(async (t) => {
      const now = await lockAccount(t, id);
      // The categories and allergens are the municipality's (`checkCatalogueIds`); nothing is saved otherwise.
      if (p.denied_categories) await checkCatalogueIds(t, 'category', p.denied_categories, now.denied_categories);
      if (p.allergies) await checkCatalogueIds(t, 'allergen', p.allergies, now.allergies);
      await patchColumns(t, id, p);
      if (p.limits) await patchLimits(t, id, p.limits);
      const { before, after } = p.sites ? await patchSites(t, this.escrow, id, p.sites) : await this.sitesNow(t, id);
      const account = await linkAccount(t, id);
      for (const s of after) {
        if (!before.includes(s)) await this.sendHistory(t, id, s);
        else await appendDown(t, s, { kind: 'account', account });
      }
      await this.escrow.rebalance(t, id);
    });
  }

  private async sitesNow(t: Tx, id: string): Promise<{ before: string[]; after: string[] }> {
    const rows = await t.sql.query<{ site_id: string }>(
      'SELECT site_id FROM account_sites WHERE account_id = $1 ORDER BY site_id',
      [id],
    );
    const sites = rows.map((r) => r.site_id);
    return { before: sites, after: sites };
  }
}
