import { create } from 'xmlbuilder2';
import { bban, type DanishAccount, decimalAmount } from './account.ts';

type XMLBuilder = ReturnType<typeof create>;

export const PAIN001_NS = 'urn:iso:std:iso:20022:tech:xsd:pain.001.001.03';

/**
 * The NemKonto payment type as our file writes it (Danish CGI MIG appendix, "Payment to
 * EasyAccount (NKS) with CPR"): the payment information's local instrument, and the scheme of the
 * payee's person identification that carries the CPR number. In one place so the bank's test
 * (docs/operations/payouts.md, NemKonto) can correct them without touching the file's logic.
 */
export const NEMKONTO_LOCAL_INSTRUMENT = 'NKS';
export const NEMKONTO_CPR_SCHEME = 'SOSE';

/** Where one transfer goes: a Danish bank account, or the payee's NemKonto found by their CPR number. */
export type Pain001Creditor = { account: DanishAccount } | { nemkonto_cpr: string };

/** One credit transfer of the file. */
export interface Pain001Transfer {
  /** ≤ 35 characters: the payout's id (it comes back on the bank's statement). */
  end_to_end_id: string;
  amount_ore: number;
  creditor_name: string;
  creditor: Pain001Creditor;
  /** ≤ 140 characters, what the guardian sees on their own statement. */
  remittance: string;
}

/** What one file says: fixed when the batch closed, so the same batch always gives the same file. */
export interface Pain001Message {
  /** ≤ 35 characters, unique per file (the bank refuses a message id it has seen). */
  message_id: string;
  payment_info_id: string;
  /** The file's creation time (GrpHdr/CreDtTm), the batch's closing. */
  created_at: Date;
  /** YYYY-MM-DD: the day the bank is to pay. */
  execution_date: string;
  initiator: { name: string; id?: string | undefined };
  debtor: { name: string; account: DanishAccount; bic?: string | undefined };
  /** `nemkonto`: every transfer goes to a NemKonto by CPR number (a file of its own, local instrument NKS). */
  kind?: 'bank' | 'nemkonto';
  transfers: readonly Pain001Transfer[];
}

/**
 * An ISO 20022 customer credit transfer initiation (pain.001.001.03) as the Danish banks'
 * guidelines describe a domestic transfer: accounts as BBAN (reg. no. + account number padded to
 * 10, scheme `BBAN`), the bank named by its reg. no. in the Danish clearing system (`DKNCC`),
 * amounts in DKK with 2 decimals, charges shared (`SHAR`), one payment information block per file.
 * Only what is given goes in: no CPR number is ever part of a bank-account payout. A NemKonto file
 * (`kind: 'nemkonto'`) marks its payment information with the local instrument `NKS` and names each
 * payee by name and CPR number (`Cdtr/Id/PrvtId/Othr`) with no account and no bank: the bank finds
 * the payee's NemKonto in the register.
 */
export function pain001(m: Pain001Message): string {
  const total = m.transfers.reduce((s, t) => s + BigInt(t.amount_ore), 0n);
  const doc = create({ version: '1.0', encoding: 'UTF-8' }).ele(PAIN001_NS, 'Document');
  const root = doc.ele('CstmrCdtTrfInitn');
  const hdr = root.ele('GrpHdr');
  text(hdr, 'MsgId', m.message_id);
  text(hdr, 'CreDtTm', isoDateTime(m.created_at));
  text(hdr, 'NbOfTxs', String(m.transfers.length));
  text(hdr, 'CtrlSum', decimalAmount(total));
  const initg = hdr.ele('InitgPty');
  text(initg, 'Nm', max(m.initiator.name, 70));
  if (m.initiator.id) text(initg.ele('Id').ele('OrgId').ele('Othr'), 'Id', m.initiator.id);

  const pmt = root.ele('PmtInf');
  text(pmt, 'PmtInfId', m.payment_info_id);
  text(pmt, 'PmtMtd', 'TRF');
  text(pmt, 'NbOfTxs', String(m.transfers.length));
  text(pmt, 'CtrlSum', decimalAmount(total));
  const tp = pmt.ele('PmtTpInf');
  text(tp.ele('SvcLvl'), 'Cd', 'NURG');
  if (m.kind === 'nemkonto') text(tp.ele('LclInstrm'), 'Prtry', NEMKONTO_LOCAL_INSTRUMENT);
  text(pmt, 'ReqdExctnDt', m.execution_date);
  text(pmt.ele('Dbtr'), 'Nm', max(m.debtor.name, 70));
  const dbtrAcct = pmt.ele('DbtrAcct');
  account(dbtrAcct, m.debtor.account);
  text(dbtrAcct, 'Ccy', 'DKK');
  const dbtrAgt = pmt.ele('DbtrAgt').ele('FinInstnId');
  if (m.debtor.bic) text(dbtrAgt, 'BIC', m.debtor.bic);
  else clearing(dbtrAgt, m.debtor.account.reg_nr);
  text(pmt, 'ChrgBr', 'SHAR');
  for (const t of m.transfers) {
    const tx = pmt.ele('CdtTrfTxInf');
    const id = tx.ele('PmtId');
    text(id, 'InstrId', t.end_to_end_id);
    text(id, 'EndToEndId', t.end_to_end_id);
    text(tx.ele('Amt'), 'InstdAmt', decimalAmount(t.amount_ore)).att('Ccy', 'DKK');
    const to = t.creditor;
    if ('nemkonto_cpr' in to) {
      if (m.kind !== 'nemkonto') throw new Error('a NemKonto transfer belongs in a NemKonto file');
      if (!/^[0-9]{10}$/.test(to.nemkonto_cpr)) throw new Error('a NemKonto transfer needs a CPR number of ten digits');
      const cdtr = tx.ele('Cdtr');
      text(cdtr, 'Nm', max(t.creditor_name, 70));
      const othr = cdtr.ele('Id').ele('PrvtId').ele('Othr');
      text(othr, 'Id', to.nemkonto_cpr);
      text(othr.ele('SchmeNm'), 'Cd', NEMKONTO_CPR_SCHEME);
    } else {
      if (m.kind === 'nemkonto') throw new Error('a NemKonto file holds NemKonto transfers only');
      clearing(tx.ele('CdtrAgt').ele('FinInstnId'), to.account.reg_nr);
      text(tx.ele('Cdtr'), 'Nm', max(t.creditor_name, 70));
      account(tx.ele('CdtrAcct'), to.account);
    }
    text(tx.ele('RmtInf'), 'Ustrd', max(t.remittance, 140));
  }
  return doc.end({ prettyPrint: true });
}

function text(parent: XMLBuilder, name: string, value: string): XMLBuilder {
  const el = parent.ele(name);
  el.txt(value);
  return el;
}

function account(parent: XMLBuilder, a: DanishAccount): void {
  const othr = parent.ele('Id').ele('Othr');
  text(othr, 'Id', bban(a));
  text(othr.ele('SchmeNm'), 'Cd', 'BBAN');
}

function clearing(fin: XMLBuilder, regNr: string): void {
  const m = fin.ele('ClrSysMmbId');
  text(m.ele('ClrSysId'), 'Cd', 'DKNCC');
  text(m, 'MmbId', regNr);
}

/** Local time in Copenhagen without an offset would be ambiguous: UTC with a `Z`, whole seconds. */
function isoDateTime(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

/**
 * Free text for the bank: no control characters nor anything XML 1.0 cannot carry (a lone
 * surrogate), at most `n` characters.
 */
function max(s: string, n: number): string {
  const clean = s
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ')
    .replace(/[^\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, ' ')
    .trim();
  return [...clean].slice(0, n).join('') || '-';
}
