import { KantineError, type LinkCard } from '@kantine/protocol';
import { lockAccount, sitesOf } from '../accounts/rows.ts';
import type { Store, Tx } from '../db/tx.ts';
import { appendDownTo } from '../link/down-log.ts';
import { shareBatch } from './batches.ts';

/** Cards: a blank card, activation on an account, block and re-open. */
export class CardService {
  constructor(private readonly store: Store) {}

  /** A blank card in stock (a school office's pile), or a card carried over from the old system. */
  async put(c: {
    uid: string;
    kind: 'legacy' | 'ntag424';
    batch_id?: string | null;
    card_number?: string | null;
    /** The office whose pile it lies in (a guardian may then activate it by its number). */
    stock_site?: string | null;
  }): Promise<void> {
    const { db } = this.store;
    if ((c.kind === 'ntag424') !== Boolean(c.batch_id))
      throw new KantineError('invalid_request', 'a kantine card (ntag424) names its batch; a legacy card none');
    if (c.batch_id && (await db.query('SELECT 1 FROM batches WHERE id = $1', [c.batch_id])).length === 0)
      throw new KantineError('not_found', `no batch ${c.batch_id}`);
    await db.query(
      `INSERT INTO cards (uid, account_id, state, kind, batch_id, card_number, stock_site)
       VALUES ($1, NULL, 'stock', $2, $3, $4, $5) ON CONFLICT (uid) DO NOTHING`,
      [c.uid, c.kind, c.batch_id ?? null, c.card_number ?? null, c.stock_site ?? null],
    );
  }

  /** A guardian activates a blank card: it becomes the account's card, and the old one stops working. */
  async activate(uid: string, accountId: string): Promise<void> {
    await this.store.tx((t) => this.activateIn(t, uid, accountId));
  }

  /** `activate`, in the caller's transaction (an import activates the old system's cards). */
  async activateIn(t: Tx, uid: string, accountId: string): Promise<void> {
    await lockAccount(t, accountId);
    const card = await lockCard(t, uid);
    if (card.state !== 'stock')
      throw new KantineError('invalid_request', `card ${uid} is ${card.state}, not a blank card`);
    const changed: LinkCard[] = [];
    for (const old of await t.sql.query<LinkCard>(
      "UPDATE cards SET state = 'replaced' WHERE account_id = $1 AND state IN ('active', 'blocked') RETURNING uid, account_id, state, kind, batch_id, sun_counter",
      [accountId],
    )) {
      changed.push(old);
    }
    const [now] = await t.sql.query<LinkCard>(
      "UPDATE cards SET state = 'active', account_id = $2 WHERE uid = $1 RETURNING uid, account_id, state, kind, batch_id, sun_counter",
      [uid, accountId],
    );
    changed.push(now as LinkCard);
    const sites = (await sitesOf(t, accountId)).map((s) => s.id);
    // The account's sites may meet the card now: they learn its batch first.
    if (now?.batch_id) for (const s of sites) await shareBatch(t, s, now.batch_id);
    for (const c of changed) await appendDownTo(t, sites, { kind: 'card', card: c });
  }

  /** Block (lost card) or re-open (found). Every online site refuses the card within moments. */
  async setBlocked(uid: string, blocked: boolean): Promise<void> {
    await this.store.tx(async (t) => {
      // The account's lock first (the order `activate` takes): whatever checks the card under the
      // account's lock — a deposit, a top-up's payment — sees the block or comes before it.
      const [owner] = await t.sql.query<{ account_id: string | null }>('SELECT account_id FROM cards WHERE uid = $1', [
        uid,
      ]);
      if (owner?.account_id) await lockAccount(t, owner.account_id);
      const card = await lockCard(t, uid);
      // A blank card activated meanwhile (its account is set once, never changed): lock that one too.
      if (card.account_id && card.account_id !== owner?.account_id) await lockAccount(t, card.account_id);
      const from = blocked ? 'active' : 'blocked';
      if (card.state !== from || !card.account_id) {
        throw new KantineError(
          'invalid_request',
          `card ${uid} is ${card.state}; only an ${from} card can be ${blocked ? 'blocked' : 're-opened'}`,
        );
      }
      const [row] = await t.sql.query<LinkCard>(
        'UPDATE cards SET state = $2 WHERE uid = $1 RETURNING uid, account_id, state, kind, batch_id, sun_counter',
        [uid, blocked ? 'blocked' : 'active'],
      );
      const sites = (await sitesOf(t, card.account_id)).map((s) => s.id);
      await appendDownTo(t, sites, { kind: 'card', card: row as LinkCard });
    });
  }
}

async function lockCard(t: Tx, uid: string): Promise<LinkCard> {
  const [card] = await t.sql.query<LinkCard>(
    'SELECT uid, account_id, state, kind, batch_id, sun_counter FROM cards WHERE uid = $1 FOR UPDATE',
    [uid],
  );
  if (!card) throw new KantineError('not_found', `no card ${uid}`);
  return card;
}
