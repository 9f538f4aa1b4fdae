import {
  BALANCE_BUDGET,
  KantineError,
  type LinkDown,
  type LinkUp,
  parseBudget,
  upcomingWindows,
} from '@kantine/protocol';
import { type AccountRow, limitsOf, lockAccount, sitesOf } from '../accounts/rows.ts';
import type { Store, Tx } from '../db/tx.ts';
import { appendDown, appendRecall } from '../link/down-log.ts';
import { recovering } from '../link/resync.ts';
import { heldByWebshop } from '../webshop/held.ts';
import { freeOf, HORIZON, limitOf, outstanding, type ShareRow, split } from './arithmetic.ts';

/** Why central refused a site's ask outright (alarmed by the link's caller). */
export interface AskRefusal {
  code: 'link_account_not_served';
  message: string;
}

/**
 * Escrow (docs/replication.md §Escrow): central shares an account's balance and the headroom of
 * its limits out to the account's sites, so each sells offline within its share; it recalls
 * shares and grants more when a site asks.
 */
export class EscrowService {
  constructor(private readonly store: Store) {}

  async shares(t: Tx, accountId: string, budget: string): Promise<ShareRow[]> {
    return t.sql.query<ShareRow>(
      'SELECT site_id, granted_ore, consumed_ore, returned_ore FROM shares WHERE account_id = $1 AND budget = $2 ORDER BY site_id',
      [accountId, budget],
    );
  }

  async sharesOfSite(t: Tx, accountId: string, site: string): Promise<(ShareRow & { budget: string })[]> {
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
    await appendDown(t, site, { kind: 'grant', account_id: accountId, budget, amount_ore });
  }

  /** The capacity of a budget: the balance, or the limit of the window (undefined: no such limit). */
  private async capacity(t: Tx, account: AccountRow, budget: string): Promise<number | undefined> {
    if (budget === BALANCE_BUDGET) return account.balance_ore;
    const limit = limitOf(budget, await limitsOf(t, account.id));
    // What the webshop's orders hold of the window is not the sites' to spend.
    return limit === undefined ? undefined : limit - (await heldByWebshop(t, account.id, budget));
  }

  /**
   * Shares out what is free of an account's balance, and of each limit's windows from now to the
   * horizon, evenly among the account's sites (for a limit: the sites of that kind of place). A
   * limit lowered below what is already out recalls the shares. Never takes a share back to
   * re-split it: a site that needs more asks.
   */
  async rebalance(t: Tx, accountId: string): Promise<void> {
    const account = await lockAccount(t, accountId);
    // One of its sites is being resynced: its sales from before come first (docs/replication.md §Restore).
    if (await recovering(t, accountId)) return;
    const sites = (await sitesOf(t, accountId)).filter((s) =>
      s.place_kinds.some((k) => account.place_kinds.includes(k)),
    );
    if (sites.length === 0) return;
    const free = freeOf(BALANCE_BUDGET, account.balance_ore, await this.shares(t, accountId, BALANCE_BUDGET));
    for (const [site, amount] of split(
      free,
      sites.map((s) => s.id),
    ))
      await this.grant(t, accountId, BALANCE_BUDGET, site, amount);

    for (const limit of await limitsOf(t, accountId)) {
      const kindSites = sites.filter((s) => s.place_kinds.includes(limit.place_kind)).map((s) => s.id);
      if (kindSites.length === 0) continue;
      for (const start of upcomingWindows(limit.period, t.now, HORIZON[limit.period])) {
        const budget = `${limit.place_kind}:${limit.period}:${start}`;
        const shares = await this.shares(t, accountId, budget);
        const freeLimit = freeOf(budget, limit.limit_ore - (await heldByWebshop(t, accountId, budget)), shares);
        if (freeLimit > 0) {
          for (const [site, amount] of split(freeLimit, kindSites))
            await this.grant(t, accountId, budget, site, amount);
        } else if (freeLimit < 0) {
          for (const s of shares) {
            if (outstanding(s) > 0) await appendRecall(t, s.site_id, accountId, budget);
          }
        }
      }
    }
  }

  /** Shares out every account that has something free, and extends limit shares to the horizon. */
  async rebalanceAll(): Promise<void> {
    const ids = await this.store.db.query<{ id: string }>(
      `SELECT a.id FROM accounts a
       WHERE EXISTS (SELECT 1 FROM account_sites x WHERE x.account_id = a.id)
         AND (EXISTS (SELECT 1 FROM spend_limits l WHERE l.account_id = a.id)
              OR a.balance_ore > (SELECT COALESCE(SUM(granted_ore - consumed_ore - returned_ore), 0) FROM shares s
                                  WHERE s.account_id = a.id AND s.budget = 'balance'))
       ORDER BY a.id`,
    );
    for (const { id } of ids) await this.store.tx((t) => this.rebalance(t, id));
  }

  /**
   * A site spent from, or gave back, a share central granted: the share's row exists, and the
   * table's CHECKs keep what is spent and returned within the grant, and what is spent at or
   * above zero. Either failing means a site sold beyond its shares: refused, never booked.
   */
  async moveShare(
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
    if (rows.length !== 1)
      throw new KantineError(
        'link_share_exceeded',
        `site ${site} used a share of ${accountId}/${budget} it was never granted`,
      );
  }

  /**
   * A site needs more of some budgets for a tap. Granted at once from what is free; otherwise the
   * other sites' shares are recalled and the site asks again (`retry`); refused when even all
   * shares together are not enough (the account cannot afford it). Returns the answer for the
   * site, sent after the grants and recalls.
   */
  async answer(site: string, msg: Extract<LinkUp, { t: 'ask' }>): Promise<{ answer: LinkDown; refusal?: AskRefusal }> {
    const base = { v: 1 as const, t: 'answer' as const, ask_id: msg.ask_id };
    const served = await this.store.tx(async (t) => {
      const account = await lockAccount(t, msg.account_id).catch(() => undefined);
      const at = account ? (await sitesOf(t, account.id)).find((s) => s.id === site) : undefined;
      if (!account || !at) return `site ${site} does not serve ${msg.account_id}`;
      // A limit's share goes only to a site of that kind of place (as `rebalance` grants it).
      const other = msg.needs.find((n) => {
        const p = parseBudget(n.budget);
        return p !== undefined && !at.place_kinds.includes(p.kind);
      });
      return other ? `site ${site} is no ${parseBudget(other.budget)?.kind}: no share of ${other.budget}` : undefined;
    });
    if (served)
      return { answer: { ...base, result: 'refused' }, refusal: { code: 'link_account_not_served', message: served } };
    return { answer: await this.grantAsked(site, msg) };
  }

  private async grantAsked(site: string, msg: Extract<LinkUp, { t: 'ask' }>): Promise<LinkDown> {
    return this.store.tx(async (t): Promise<LinkDown> => {
      const account = await lockAccount(t, msg.account_id);
      const base = { v: 1 as const, t: 'answer' as const, ask_id: msg.ask_id };
      if (await recovering(t, account.id)) return { ...base, result: 'retry' };
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
              await appendRecall(t, s.site_id, account.id, p.budget);
            }
          }
        }
        return { ...base, result: 'retry' };
      }
      for (const p of plan) await this.grant(t, account.id, p.budget, site, p.amount_ore);
      const [row] = await t.sql.query<{ down_seq: number }>('SELECT down_seq FROM sites WHERE id = $1', [site]);
      return { ...base, result: 'granted', through_seq: row?.down_seq ?? 0 };
    });
  }
}
