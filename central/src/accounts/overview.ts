import type { LinkCard } from '@kantine/protocol';
import { KantineError, PERIODS, type Period, type PlaceKind, SITE_ZONE, windowStart } from '@kantine/protocol';
import { DateTime } from 'luxon';
import type { Store, Tx } from '../db/tx.ts';
import { appendDown } from '../link/down-log.ts';
import { lockAccount, sitesOf } from './rows.ts';

/** A card as the portal shows it: by the number printed on its back, never by its UID. */
export interface PortalCard {
  /** As printed (`1234-ABCD-EFGH`); null for a card from the old system that came without one. */
  number: string | null;
  state: 'active' | 'blocked' | 'replaced';
  kind: 'legacy' | 'ntag424';
}

/** What a child spent in one window of one limit's period, at one kind of place. */
export interface Spend {
  place_kind: PlaceKind;
  period: Period;
  /** The window: `2026-12-07`, the week's Monday, `2026-12`. */
  window: string;
  spent_ore: number;
  /** The guardians' limit for it, or null when there is none. */
  limit_ore: number | null;
}

/** One account on "Mine konti". */
export interface AccountOverview {
  account_id: string;
  role: 'guardian' | 'relation';
  first_name: string;
  last_name: string;
  balance_ore: number;
  /** The state of the account's card: its active card, else its blocked one, else none. */
  card_state: 'active' | 'blocked' | 'none';
  /** Today's, this week's and this month's spend per kind of place the card works at. */
  spend: Spend[];
  /** The child's photo (a small square JPEG as a data URL), or null. */
  photo: string | null;
  /** The automatic top-up's amount when one is set, else null (for a guardian; null for a relation). */
  auto_topup_ore: number | null;
}

/**
 * The portal's view of accounts: "Mine konti" (balance, card state, spend against the limits),
 * the cards by their printed numbers (block and re-open), for a signed-in guardian or relation.
 */
export class AccountOverviewService {
  constructor(private readonly store: Store) {}

  /** The accounts a person may act on, with their role on each (guardianships from `people`). */
  async accountsOf(personId: string): Promise<{ account_id: string; role: 'guardian' | 'relation' }[]> {
    return this.store.db.query(
      'SELECT account_id, role FROM account_guardians WHERE person_id = $1 ORDER BY account_id',
      [personId],
    );
  }

  /** "Mine konti" for these accounts and roles, in their order; accounts that are gone are left out. */
  async overview(
    accounts: readonly { account_id: string; role: 'guardian' | 'relation' }[],
  ): Promise<AccountOverview[]> {
    const out: AccountOverview[] = [];
    for (const a of accounts) {
      const [row] = await this.store.db.query<{
        first_name: string;
        last_name: string;
        balance_ore: number;
        place_kinds: PlaceKind[];
        photo: string | null;
        auto_topup_ore: number | null;
      }>('SELECT first_name, last_name, balance_ore, place_kinds, photo, auto_topup_ore FROM accounts WHERE id = $1', [
        a.account_id,
      ]);
      if (!row) continue;
      const cards = await this.cards(a.account_id);
      const card_state = cards.some((c) => c.state === 'active')
        ? 'active'
        : cards.some((c) => c.state === 'blocked')
          ? 'blocked'
          : 'none';
      out.push({
        account_id: a.account_id,
        role: a.role,
        first_name: row.first_name,
        last_name: row.last_name,
        balance_ore: Number(row.balance_ore),
        card_state,
        spend: await this.spend(a.account_id, row.place_kinds),
        photo: row.photo,
        auto_topup_ore: a.role === 'guardian' && row.auto_topup_ore !== null ? Number(row.auto_topup_ore) : null,
      });
    }
    return out;
  }

  /**
   * Spend so far in the day, week and month holding now (Europe/Copenhagen), per kind of place:
   * the purchases in the window, voided ones left out — summed from the entries, as the
   * gateway's authorizer does, so what the portal shows is what the till goes by.
   */
  async spend(accountId: string, placeKinds: readonly PlaceKind[]): Promise<Spend[]> {
    const now = this.store.clock.now();
    const local = DateTime.fromJSDate(now, { zone: SITE_ZONE });
    const starts: Record<Period, Date> = {
      day: local.startOf('day').toJSDate(),
      week: local.startOf('week').toJSDate(),
      month: local.startOf('month').toJSDate(),
    };
    const earliest = starts.week < starts.month ? starts.week : starts.month;
    const sums = await this.store.db.query<{ place_kind: PlaceKind; day: number; week: number; month: number }>(
      `SELECT place_kind,
              COALESCE(SUM(-amount_ore) FILTER (WHERE created_at >= $2), 0)::bigint AS day,
              COALESCE(SUM(-amount_ore) FILTER (WHERE created_at >= $3), 0)::bigint AS week,
              COALESCE(SUM(-amount_ore) FILTER (WHERE created_at >= $4), 0)::bigint AS month
         FROM entries e
        WHERE account_id = $1 AND kind = 'purchase' AND created_at >= $5
          AND NOT EXISTS (SELECT 1 FROM entries v WHERE v.voids_entry_id = e.id)
        GROUP BY place_kind`,
      [accountId, starts.day, starts.week, starts.month, earliest],
    );
    const limits = await this.store.db.query<{ place_kind: PlaceKind; period: Period; limit_ore: number }>(
      'SELECT place_kind, period, limit_ore FROM spend_limits WHERE account_id = $1',
      [accountId],
    );
    const out: Spend[] = [];
    for (const kind of (['school', 'club'] as const).filter((k) => placeKinds.includes(k))) {
      const sum = sums.find((s) => s.place_kind === kind);
      for (const period of PERIODS) {
        const limit = limits.find((l) => l.place_kind === kind && l.period === period);
        out.push({
          place_kind: kind,
          period,
          window: windowStart(period, now),
          spent_ore: Number(sum?.[period] ?? 0),
          limit_ore: limit ? Number(limit.limit_ore) : null,
        });
      }
    }
    return out;
  }

  /** An account's cards (active first, then blocked, then the ones it had before); `not_found` if no account. */
  async cards(accountId: string): Promise<PortalCard[]> {
    const [account] = await this.store.db.query('SELECT 1 FROM accounts WHERE id = $1', [accountId]);
    if (!account) throw new KantineError('not_found', `no account ${accountId}`);
    return this.store.db.query<PortalCard>(
      `SELECT card_number AS number, state, kind FROM cards
        WHERE account_id = $1 AND state IN ('active', 'blocked', 'replaced')
        ORDER BY CASE state WHEN 'active' THEN 0 WHEN 'blocked' THEN 1 ELSE 2 END, card_number`,
      [accountId],
    );
  }

  /**
   * Blocks (lost) or re-opens (found) one of the account's cards by its printed number, with or
   * without the issuer's four digits, any case, dashes optional. Only this account's cards are
   * looked at: a number of another child's card is `not_found`, as is an unknown one. Blocking a
   * blocked card (or re-opening an active one) changes nothing; a replaced card stays replaced.
   * Every site of the account gets the change.
   */
  async setBlockedByNumber(accountId: string, typed: string, blocked: boolean): Promise<PortalCard> {
    const wanted = typed.toUpperCase().replace(/-/g, '');
    return this.store.tx(async (t) => {
      await lockAccount(t, accountId);
      const card = await findCard(t, accountId, wanted);
      if (!card) throw new KantineError('not_found', `no card ${typed} on account ${accountId}`);
      const to = blocked ? 'blocked' : 'active';
      if (card.state === to) return portalCard(card);
      if (card.state === 'replaced')
        throw new KantineError('invalid_request', `card ${card.card_number} was replaced by a newer card`);
      const [row] = await t.sql.query<LinkCard & { card_number: string | null }>(
        `UPDATE cards SET state = $2 WHERE uid = $1
         RETURNING uid, account_id, state, kind, batch_id, sun_counter, card_number`,
        [card.uid, to],
      );
      const { card_number: _n, ...link } = row as LinkCard & { card_number: string | null };
      for (const s of await sitesOf(t, accountId)) await appendDown(t, s.id, { kind: 'card', card: link });
      return portalCard(row as CardRow);
    });
  }
}

type CardRow = { uid: string; state: PortalCard['state']; kind: PortalCard['kind']; card_number: string | null };

function portalCard(c: CardRow): PortalCard {
  return { number: c.card_number, state: c.state, kind: c.kind };
}

/** The account's card whose printed number (without dashes) is `wanted`, or ends in it (8 characters). */
async function findCard(t: Tx, accountId: string, wanted: string): Promise<CardRow | undefined> {
  const rows = await t.sql.query<CardRow>(
    `SELECT uid, state, kind, card_number FROM cards
      WHERE account_id = $1 AND card_number IS NOT NULL AND state IN ('active', 'blocked', 'replaced')
      ORDER BY uid FOR UPDATE`,
    [accountId],
  );
  const matches = rows.filter((c) => {
    const n = (c.card_number as string).toUpperCase().replace(/-/g, '');
    return wanted.length === 8 ? n.slice(-8) === wanted : n === wanted;
  });
  // Two of a child's cards ending alike (a one-in-a-trillion draw): the full number is needed.
  return matches.length === 1 ? matches[0] : undefined;
}
