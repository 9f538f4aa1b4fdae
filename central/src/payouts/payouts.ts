import { KantineError } from '@kantine/protocol';
import { DateTime } from 'luxon';
import { v7 as uuidv7 } from 'uuid';
import type { AuditService } from '../audit/audit.ts';
import type { Actor } from '../auth/actor.ts';
import type { PayoutsConfig } from '../config.ts';
import type { Store, Tx } from '../db/tx.ts';
import { queueMail } from '../mail/outbox.ts';
import { mailAddressOf } from '../mail/recipients.ts';
import type { MoneyService } from '../money/money.ts';
import type { CprCrypto } from '../people/cpr.ts';
import { type DanishAccount, danishAccount } from './account.ts';
import { type Pain001Creditor, pain001 } from './pain001.ts';

/**
 * The withdrawal entry's reason: its statement line reads "Udbetalt: til bankkonto". No account
 * number: relations read the statement too.
 */
export const PAYOUT_REASON = 'til bankkonto';
/** The reason of a withdrawal to the guardian's NemKonto ("Udbetalt: til NemKonto"); never a CPR number. */
export const PAYOUT_REASON_NEMKONTO = 'til NemKonto';
/** How a NemKonto payout is shown (the portal, the API, the receipt): never the CPR number, not even masked. */
export const NEMKONTO_SHOWN = 'NemKonto';

/**
 * Where a guardian wants the money: their own Danish bank account, or their own NemKonto (the
 * guardian signed in: the CPR number MitID confirmed at their first sign-in, never one typed in).
 */
export type PayoutDestination = { kind: 'bank'; reg_nr: string; account_nr: string } | { kind: 'nemkonto' };

type Kind = 'bank' | 'nemkonto';

export interface PayoutRequest {
  /** The client's id for the request (a retry with the same id gets the same answer). */
  id?: string;
  account_id: string;
  /** The guardian asking (a person id; their name is the payee's). */
  person_id: string;
  holder_name: string;
  amount_ore: number;
  to: PayoutDestination;
}

export interface Payout {
  payout_id: string;
  batch_id: string;
  account_id: string;
  amount_ore: number;
  /** The reg. no. and the account number's last 4 digits only, or `NemKonto` (never a CPR number). */
  to: string;
  state: BatchState;
  created_at: string;
}

export type BatchState = 'open' | 'closed' | 'sent';

export interface PayoutBatch {
  id: string;
  kind: 'bank' | 'nemkonto';
  state: BatchState;
  count: number;
  total_ore: number;
  opened_at: string;
  closed_at: string | null;
  execution_date: string | null;
  sent_at: string | null;
}

interface BatchRow {
  id: string;
  kind: 'bank' | 'nemkonto';
  state: BatchState;
  opened_at: Date;
  closed_at: Date | null;
  execution_date: string | Date | null;
  sent_at: Date | null;
  count: string | number;
  total_ore: string | number | null;
}

/** The municipality's account as config had it when the batch closed (its file keeps it). */
interface FrozenDebtor {
  name: string;
  reg_nr: string;
  account_nr: string;
  bic?: string;
  initiator_id?: string;
}

interface PayoutRow {
  id: string;
  batch_id: string;
  account_id: string;
  person_id: string;
  amount_ore: string | number;
  holder_name: string;
  reg_nr: string | null;
  account_nr: string | null;
  created_at: Date;
}

/**
 * Withdrawals to guardians (udbetaling): the amount leaves the balance at once through central's
 * withdrawal booking (which recalls the sites' shares when they hold the money) and, in the same
 * transaction, becomes a payout in the open batch. Finance closes a batch (what its file says is
 * then fixed), exports it as ISO 20022 pain.001.001.03 for the municipality's bank, and marks it
 * sent. A closed batch takes no more payouts: the next one opens a new batch.
 */
export class PayoutService {
  constructor(
    private readonly store: Store,
    private readonly money: MoneyService,
    private readonly config: PayoutsConfig | undefined,
    /** The CPR key's crypto: opens the guardian's sealed CPR number for a NemKonto file, and only there. */
    private readonly cpr?: CprCrypto,
  ) {}

  /** Where opening a NemKonto file is recorded (central wires its audit log here). */
  audit?: AuditService;

  private configured(): PayoutsConfig {
    if (!this.config) throw new KantineError('payouts_not_configured');
    return this.config;
  }

  /** What a guardian may choose (the portal's form): a bank account when payouts are configured, NemKonto when it is on. */
  destinations(): { bank: boolean; nemkonto: boolean } {
    return { bank: this.config !== undefined, nemkonto: this.config?.nemkonto === true };
  }

  /** A guardian's withdrawal: checked, booked and filed, or refused with nothing changed. */
  async request(r: PayoutRequest): Promise<Payout> {
    const config = this.configured();
    let to: DanishAccount | null = null;
    if (r.to.kind === 'nemkonto') {
      if (!config.nemkonto) throw new KantineError('payout_nemkonto_off');
      await this.confirmedCpr(r.person_id); // refused before anything is booked
    } else if (r.to.kind === 'bank') to = danishAccount(r.to.reg_nr, r.to.account_nr);
    else throw new KantineError('invalid_request', 'a payout goes to a bank account or to NemKonto', ['/to/kind']);
    if (!Number.isSafeInteger(r.amount_ore) || r.amount_ore <= 0)
      throw new KantineError('invalid_request', 'an amount is a positive whole number of øre', ['/amount_ore']);
    if (r.id !== undefined) {
      const before = await this.payout(r.id);
      if (before) return this.sameRequest(before, r, to);
    }
    let filed: string | undefined;
    const id = await this.money.withdraw({
      ...(r.id === undefined ? {} : { id: r.id }),
      account_id: r.account_id,
      amount_ore: r.amount_ore,
      kind: 'withdrawal',
      reason: to ? PAYOUT_REASON : PAYOUT_REASON_NEMKONTO,
      within: async (t, entryId) => {
        filed = await this.file(t, { ...r, id: entryId }, to);
        await this.receipt(t, { ...r, id: entryId }, to);
      },
    });
    const row = await this.payout(id);
    // The id was already booked as a withdrawal that is no payout (finance's own): not this request.
    if (!row) throw new KantineError('entry_id_reused', `entry ${id} was booked before for another request`);
    if (filed === undefined) return this.sameRequest(row, r, to); // a retry that raced the first
    return payoutOf(row);
  }

  /**
   * The guardian's CPR number as MitID confirmed it at their first sign-in (sealed on their person
   * row): `payout_cpr_missing` when there is none that opens. The number itself is dropped at once
   * — the payout keeps only the person's id, and the file opens it again at export.
   */
  private async confirmedCpr(personId: string): Promise<string> {
    const [p] = await this.store.db.query<{ cpr_enc: Uint8Array | null }>('SELECT cpr_enc FROM people WHERE id = $1', [
      personId,
    ]);
    const refused = () => new KantineError('payout_cpr_missing');
    if (!this.cpr || !p?.cpr_enc || p.cpr_enc.length === 0) throw refused();
    let cpr: string;
    try {
      cpr = this.cpr.open(p.cpr_enc);
    } catch {
      throw refused();
    }
    if (!/^[0-9]{10}$/.test(cpr)) throw refused();
    return cpr;
  }

  /** Whether a sealed CPR number opens to ten digits (the number itself is dropped at once). */
  private opens(sealed: Uint8Array | null): boolean {
    if (!this.cpr || !sealed || sealed.length === 0) return false;
    try {
      return /^[0-9]{10}$/.test(this.cpr.open(sealed));
    } catch {
      return false;
    }
  }

  /** Files the payout in the open batch of its kind (opening one if none is), in the withdrawal's transaction. */
  private async file(t: Tx, r: PayoutRequest & { id: string }, to: DanishAccount | null): Promise<string> {
    const kind: Kind = to ? 'bank' : 'nemkonto';
    // A batch closed meanwhile is no longer `open` when our lock is granted: open the next one.
    for (let attempt = 0; attempt < 5; attempt++) {
      await t.sql.query(
        `INSERT INTO payout_batches (id, kind, state, opened_at) VALUES ($1, $2, 'open', $3)
           ON CONFLICT (kind) WHERE state = 'open' DO NOTHING`,
        [uuidv7(), kind, t.now],
      );
      const [batch] = await t.sql.query<{ id: string }>(
        `SELECT id FROM payout_batches WHERE kind = $1 AND state = 'open' FOR SHARE`,
        [kind],
      );
      if (!batch) continue;
      // A NemKonto payout keeps no number at all: the person's id, whose sealed CPR number the export opens.
      await t.sql.query(
        `INSERT INTO payouts (id, batch_id, account_id, person_id, amount_ore, holder_name, reg_nr, account_nr, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          r.id,
          batch.id,
          r.account_id,
          r.person_id,
          r.amount_ore,
          r.holder_name,
          to?.reg_nr ?? null,
          to?.account_nr ?? null,
          t.now,
        ],
      );
      return batch.id;
    }
    throw new Error('no open payout batch could be taken');
  }

  /**
   * The receipt to the guardian who asked, queued in the withdrawal's transaction (once per payout):
   * the bank account masked, or "din NemKonto" — never a CPR number (the outbox refuses one anyway).
   */
  private async receipt(t: Tx, r: PayoutRequest & { id: string }, to: DanishAccount | null): Promise<void> {
    const address = await mailAddressOf(t.sql, r.person_id);
    if (!address) return;
    const [account] = await t.sql.query<{ first_name: string }>('SELECT first_name FROM accounts WHERE id = $1', [
      r.account_id,
    ]);
    await queueMail(
      t.sql,
      t.now,
      address.address,
      {
        type: 'payout_receipt',
        child_name: account?.first_name ?? '',
        amount_ore: r.amount_ore,
        to_account: to ? masked(to.reg_nr, to.account_nr) : NEMKONTO_SHOWN,
        ...(to ? {} : { to_nemkonto: true }),
        payout_ref: r.id,
        requested_at: t.now,
      },
      { key: r.id }, // once per payout, a retry included
    );
  }

  /** A retry gets the first answer; the same id with other details is refused. */
  private sameRequest(row: PayoutRow & { state: BatchState }, r: PayoutRequest, to: DanishAccount | null): Payout {
    const same =
      row.account_id === r.account_id &&
      row.person_id === r.person_id &&
      Number(row.amount_ore) === r.amount_ore &&
      row.reg_nr === (to?.reg_nr ?? null) &&
      row.account_nr === (to?.account_nr ?? null);
    if (!same) throw new KantineError('entry_id_reused', `payout ${row.id} was asked for with other details`);
    return payoutOf(row);
  }

  private async payout(id: string): Promise<(PayoutRow & { state: BatchState }) | undefined> {
    const [row] = await this.store.db.query<PayoutRow & { state: BatchState }>(
      `SELECT p.*, b.state FROM payouts p JOIN payout_batches b ON b.id = p.batch_id WHERE p.id = $1`,
      [id],
    );
    return row;
  }

  /** An account's payouts, newest first (for its guardians). */
  async ofAccount(accountId: string): Promise<Payout[]> {
    const rows = await this.store.db.query<PayoutRow & { state: BatchState }>(
      `SELECT p.*, b.state FROM payouts p JOIN payout_batches b ON b.id = p.batch_id
        WHERE p.account_id = $1 ORDER BY p.created_at DESC, p.id DESC`,
      [accountId],
    );
    return rows.map(payoutOf);
  }

  /** Every batch, newest first, with its count and total. */
  async batches(): Promise<PayoutBatch[]> {
    const rows = await this.store.db.query<BatchRow>(
      `SELECT ${BATCH_COLUMNS}, count(p.id) AS count, COALESCE(sum(p.amount_ore), 0) AS total_ore
         FROM payout_batches b LEFT JOIN payouts p ON p.batch_id = b.id
        GROUP BY b.id ORDER BY b.opened_at DESC, b.id DESC`,
    );
    return rows.map(batchOf);
  }

  async batch(id: string): Promise<PayoutBatch> {
    const [row] = await this.store.db.query<BatchRow>(
      `SELECT ${BATCH_COLUMNS}, count(p.id) AS count, COALESCE(sum(p.amount_ore), 0) AS total_ore
         FROM payout_batches b LEFT JOIN payouts p ON p.batch_id = b.id WHERE b.id = $1 GROUP BY b.id`,
      [id],
    );
    if (!row) throw new KantineError('not_found', `no payout batch ${id}`);
    return batchOf(row);
  }

  /**
   * Closes an open batch: it takes no more payouts, and its file's message id, creation time and
   * execution date (today in Copenhagen) are fixed.
   */
  async close(id: string, by: string): Promise<PayoutBatch> {
    const config = this.configured();
    await this.store.tx(async (t) => {
      const [row] = await t.sql.query<{ state: BatchState; kind: string }>(
        'SELECT state, kind FROM payout_batches WHERE id = $1 FOR UPDATE',
        [id],
      );
      if (!row) throw new KantineError('not_found', `no payout batch ${id}`);
      if (row.state !== 'open') throw new KantineError('payout_batch_state', `payout batch ${id} is ${row.state}`);
      // A NemKonto batch closes only if every guardian's CPR number opens, so its file can be made:
      // finance learns which payouts (by id) while the batch is still open, not at the bank's cut-off.
      if (row.kind === 'nemkonto') {
        const people = await t.sql.query<{ id: string; cpr_enc: Uint8Array | null }>(
          'SELECT p.id, pe.cpr_enc FROM payouts p LEFT JOIN people pe ON pe.id = p.person_id WHERE p.batch_id = $1',
          [id],
        );
        const unreadable = people.filter((p) => !this.opens(p.cpr_enc)).map((p) => p.id);
        if (unreadable.length > 0)
          throw new KantineError(
            'payout_cpr_missing',
            `payout batch ${id}: the guardian's CPR number cannot be read for payout ${unreadable.join(', ')}`,
          );
      }
      const day = DateTime.fromJSDate(t.now).setZone('Europe/Copenhagen').toISODate();
      const debtor: FrozenDebtor = {
        name: config.debtor.name,
        reg_nr: config.debtor.reg_nr,
        account_nr: config.debtor.account_nr.padStart(10, '0'),
        ...(config.debtor.bic ? { bic: config.debtor.bic } : {}),
        ...(config.initiator_id ? { initiator_id: config.initiator_id } : {}),
      };
      await t.sql.query(
        `UPDATE payout_batches SET state = 'closed', closed_at = $2, closed_by = $3, execution_date = $4, debtor = $5
          WHERE id = $1`,
        [id, t.now, by, day, JSON.stringify(debtor)],
      );
    });
    return this.batch(id);
  }

  /** Marks a closed batch as sent to the bank (after finance uploaded its file). */
  async markSent(id: string, by: string): Promise<PayoutBatch> {
    await this.store.tx(async (t) => {
      const [row] = await t.sql.query<{ state: BatchState }>(
        'SELECT state FROM payout_batches WHERE id = $1 FOR UPDATE',
        [id],
      );
      if (!row) throw new KantineError('not_found', `no payout batch ${id}`);
      if (row.state !== 'closed') throw new KantineError('payout_batch_state', `payout batch ${id} is ${row.state}`);
      await t.sql.query(`UPDATE payout_batches SET state = 'sent', sent_at = $2, sent_by = $3 WHERE id = $1`, [
        id,
        t.now,
        by,
      ]);
    });
    return this.batch(id);
  }

  /**
   * The batch's pain.001.001.03 file (a closed or sent batch): the same batch always gives the
   * same bytes, so a file downloaded twice is one payment, not two (the bank refuses a message id
   * it has seen).
   */
  async export(id: string, by?: Actor): Promise<{ file_name: string; xml: string }> {
    this.configured();
    const [batch] = await this.store.db.query<BatchRow & { debtor: FrozenDebtor | null }>(
      `SELECT ${BATCH_COLUMNS}, b.debtor, 0 AS count, 0 AS total_ore FROM payout_batches b WHERE b.id = $1`,
      [id],
    );
    if (!batch) throw new KantineError('not_found', `no payout batch ${id}`);
    const debtor = batch.debtor;
    if (batch.state === 'open' || !batch.closed_at || !batch.execution_date || !debtor)
      throw new KantineError('payout_batch_state', `payout batch ${id} is open: close it first`);
    const rows = await this.store.db.query<PayoutRow & { cpr_enc: Uint8Array | null }>(
      `SELECT p.*, pe.cpr_enc FROM payouts p LEFT JOIN people pe ON pe.id = p.person_id
        WHERE p.batch_id = $1 ORDER BY p.created_at, p.id`,
      [id],
    );
    const nemkonto = batch.kind === 'nemkonto';
    const creditorOf = (p: PayoutRow & { cpr_enc: Uint8Array | null }): Pain001Creditor => {
      if (!nemkonto) return { account: { reg_nr: p.reg_nr as string, account_nr: p.account_nr as string } };
      // Opened here, for the file only: the number goes into the XML and nowhere else.
      let cpr: string | undefined;
      try {
        cpr = this.cpr && p.cpr_enc && p.cpr_enc.length > 0 ? this.cpr.open(p.cpr_enc) : undefined;
      } catch {
        cpr = undefined;
      }
      if (!cpr)
        throw new KantineError('payout_cpr_missing', `payout ${p.id}: the guardian's CPR number cannot be read`);
      return { nemkonto_cpr: cpr };
    };
    const transfers = rows.map((p) => ({
      end_to_end_id: compact(p.id),
      amount_ore: Number(p.amount_ore),
      creditor_name: p.holder_name,
      creditor: creditorOf(p),
      remittance: 'Kantine udbetaling',
    }));
    if (nemkonto) {
      // A NemKonto file carries CPR numbers: who took it is in the audit log (ids and a count only),
      // written before the file is handed over — no audit line, no file.
      if (!this.audit || !by)
        throw new KantineError('scope_denied', 'a NemKonto file is given only to a known finance user');
      await this.audit.write({
        actor: by,
        action: 'payout nemkonto export',
        target: { batch: batch.id, count: String(rows.length) },
      });
    }
    const msgId = compact(batch.id);
    const xml = pain001({
      message_id: msgId,
      payment_info_id: `${msgId.slice(0, 32)}-1`,
      created_at: new Date(batch.closed_at),
      execution_date: isoDate(batch.execution_date),
      initiator: { name: debtor.name, id: debtor.initiator_id },
      debtor: { name: debtor.name, account: { reg_nr: debtor.reg_nr, account_nr: debtor.account_nr }, bic: debtor.bic },
      kind: batch.kind,
      transfers,
    });
    return { file_name: `kantine-${nemkonto ? 'nemkonto-' : ''}payouts-${batch.id}.xml`, xml };
  }
}

/** A batch's columns (its execution date as text: a DATE is a day, not a local midnight). */
const BATCH_COLUMNS =
  'b.id, b.kind, b.state, b.opened_at, b.closed_at, b.execution_date::text AS execution_date, b.sent_at';

/** An id as the file's Max35Text: a UUID without its dashes (32 characters). */
function compact(id: string): string {
  return id.replace(/-/g, '').slice(0, 35);
}

function isoDate(d: string | Date): string {
  return typeof d === 'string' ? d.slice(0, 10) : d.toISOString().slice(0, 10);
}

function masked(reg: string, account: string): string {
  return `${reg} ******${account.slice(-4)}`;
}

function payoutOf(r: PayoutRow & { state: BatchState }): Payout {
  return {
    payout_id: r.id,
    batch_id: r.batch_id,
    account_id: r.account_id,
    amount_ore: Number(r.amount_ore),
    to: r.reg_nr === null || r.account_nr === null ? NEMKONTO_SHOWN : masked(r.reg_nr, r.account_nr),
    state: r.state,
    created_at: new Date(r.created_at).toISOString(),
  };
}

function batchOf(r: BatchRow): PayoutBatch {
  const iso = (d: Date | null) => (d === null ? null : new Date(d).toISOString());
  return {
    id: r.id,
    kind: r.kind,
    state: r.state,
    count: Number(r.count),
    total_ore: Number(r.total_ore ?? 0),
    opened_at: new Date(r.opened_at).toISOString(),
    closed_at: iso(r.closed_at),
    execution_date: r.execution_date === null ? null : isoDate(r.execution_date),
    sent_at: iso(r.sent_at),
  };
}
