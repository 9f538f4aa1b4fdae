import {
  codes,
  type ImportReport,
  type ImportRequest,
  type ImportRow,
  KantineError,
  type PlaceKind,
} from '@kantine/protocol';
import type { AccountService } from '../accounts/accounts.ts';
import { limitsOf, lockAccount } from '../accounts/rows.ts';
import type { CardService } from '../cards/cards.ts';
import type { Store, Tx } from '../db/tx.ts';
import type { EscrowService } from '../escrow/escrow.ts';
import type { MoneyService } from '../money/money.ts';
import { type CprCrypto, normalCpr } from '../people/cpr.ts';

/** A school's accounts from the old system (provisioning's `kantine import`). */
export class ImportService {
  constructor(
    private readonly store: Store,
    private readonly deps: {
      accounts: AccountService;
      cards: CardService;
      money: MoneyService;
      escrow: EscrowService;
      cpr: CprCrypto;
    },
  ) {}

  /**
   * A school's accounts from the old system: account, opening balance, automatic top-up, limits
   * and the child's old card, all rows in one transaction. Any bad row refuses the whole import
   * (`import_invalid`, one detail per line); a dry run reports what would change and changes
   * nothing. Importing the same file again changes nothing: the opening balance's entry id is
   * fixed per site and account, and an account the file does not change is left alone.
   */
  async run(site: string, req: ImportRequest): Promise<ImportReport> {
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
        // the key, never the message: a CPR number stays out of answers and logs
        r.cpr && `cpr:${normalCpr(r.cpr)}`,
        r.legacy_uid && `card ${r.legacy_uid}`,
      ]) {
        if (!key) continue;
        const first = seen.get(key);
        const what = key.startsWith('cpr:') ? 'the CPR number' : key;
        if (first !== undefined) problems.push(`line ${r.line}: ${what} is also on line ${first}`);
        else seen.set(key, r.line);
      }
    }
    if (problems.length) throw new KantineError('import_invalid', codes.import_invalid.en, problems);
    try {
      return await this.store.tx(async (t) => {
        const [place] = await t.sql.query<{ place_kinds: PlaceKind[] }>('SELECT place_kinds FROM sites WHERE id = $1', [
          site,
        ]);
        if (!place) throw new KantineError('not_found', `no site ${site}`);
        for (const r of req.rows) {
          const problem = await this.row(t, site, r, report);
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
  private async row(t: Tx, site: string, r: ImportRow, report: ImportReport): Promise<string | undefined> {
    const cprHmac = r.cpr ? this.deps.cpr.hmac(r.cpr) : null;
    if (cprHmac) {
      const [other] = await t.sql.query('SELECT 1 FROM accounts WHERE cpr_hmac = $1 AND id <> $2', [
        cprHmac,
        r.account_id,
      ]);
      // Not which account: an import's answer must not tell who holds a CPR number.
      if (other) return 'the CPR number already belongs to another account';
    }
    const [existing] = await t.sql.query<{
      first_name: string;
      last_name: string;
      cpr_hmac: Uint8Array | null;
      auto_topup_ore: number | null;
    }>('SELECT first_name, last_name, cpr_hmac, auto_topup_ore FROM accounts WHERE id = $1 FOR UPDATE', [r.account_id]);
    const sites = existing
      ? (
          await t.sql.query<{ site_id: string }>('SELECT site_id FROM account_sites WHERE account_id = $1', [
            r.account_id,
          ])
        ).map((x) => x.site_id)
      : [];
    const limits = existing ? await limitsOf(t, r.account_id) : [];
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
      (!cprHmac || (existing.cpr_hmac !== null && cprHmac.equals(Buffer.from(existing.cpr_hmac)))) &&
      sites.includes(site) &&
      sameLimits
    ) {
      report.unchanged++;
    } else {
      await this.deps.accounts.putFromRegister(t, {
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
        await lockAccount(t, r.account_id);
        await this.deps.money.bookAtCentral(t, {
          id,
          account_id: r.account_id,
          kind: 'deposit',
          amount_ore: r.balance_ore,
          reason: 'overført fra det gamle system',
        });
        await this.deps.escrow.rebalance(t, r.account_id);
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
        await this.deps.cards.activateIn(t, r.legacy_uid, r.account_id);
        report.cards_added++;
      } else if (card.account_id !== r.account_id || card.kind !== 'legacy') {
        return `card ${r.legacy_uid} is already ${card.state}${card.account_id ? ` on account ${card.account_id}` : ''}`;
      }
    }
    return undefined;
  }
}

/** Carries a dry run's report out of the transaction it rolls back. */
class DryRun extends Error {
  constructor(readonly report: ImportReport) {
    super('dry run');
  }
}
