/**
 * Withdrawals to the guardian's own NemKonto (issue 19, item 7), on real Postgres with people
 * signed in through the dev identity provider (a real process): the payout keeps no number (only
 * the person's id), the receipt says "til din NemKonto", finance's NemKonto file names each payee by
 * the CPR number MitID confirmed at their first sign-in (local instrument NKS, Cdtr/Id/PrvtId) and
 * passes `xmllint --schema` against our XSD; taking that file is audited. The CPR number is in that
 * file and nowhere else: not in an answer, a log line, the audit log, a mail or the payout's row.
 * A retry with the client's id is one payout. Refused: a relation, a CPR number in the request, a
 * guardian whose CPR number cannot be read (and then the file too). Off is refused in
 * payouts-withdrawal.test.ts and payouts-nemkonto-portal.test.ts.
 *
 * Serial: each test starts its own provider and central; one at a time keeps a busy machine's
 * start-up within the provider's time limit.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Central, seedDemoPeople } from '@kantine/central';
import { DEMO_CHILDREN, DEMO_PEOPLE } from '@kantine/idp';
import test, { type ExecutionContext } from 'ava';
import { HELD_MAIL_OUTBOX } from './helpers/central.ts';
import { capturedLog } from './helpers/mail.ts';
import { CPR_ANYWHERE } from './helpers/people.ts';
import { type SignedIn, signIn, startCentralWithIdp } from './helpers/sign-in.ts';

const run = promisify(execFile);
const XSD = fileURLToPath(new URL('../central/src/payouts/pain.001.001.03-subset.xsd', import.meta.url));
const PAYOUTS = {
  debtor: { name: 'Testkommune', reg_nr: '1551', account_nr: '3000123456' },
  nemkonto: true,
};
const cprOf = (key: string) => DEMO_PEOPLE.find((p) => p.key === key)?.cpr as string;
const ANNE_CPR = cprOf('anne');
const PETER_CPR = cprOf('peter');

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, read field by field in tests
type Answer = { status: number; body: any; text: string; headers: Headers };

interface Rig {
  central: Central;
  base: string;
  log: string[];
  anne: SignedIn;
  peter: SignedIn;
  karen: SignedIn;
  mette: SignedIn;
  finance: string;
  admin: string;
}

/** Central with NemKonto payouts on; every account at no site (the money is all at central). */
async function rig(t: ExecutionContext): Promise<Rig> {
  const log: string[] = [];
  // The receipts are read from the outbox while queued: it does not send them meanwhile.
  const c = await startCentralWithIdp(t, {
    config: { payouts: PAYOUTS },
    log: capturedLog(log),
    mailOutbox: HELD_MAIL_OUTBOX,
  });
  const central = c.services[0]?.central as Central;
  const base = c.http[0] as string;
  await central.sites.put({ id: 'soendervang', name: 'Søndervang Skole', place_kinds: ['school'] });
  await central.accounts.put({ id: 'konto-emma', first_name: 'Emma', sites: [] });
  await central.accounts.put({ id: 'konto-noah', first_name: 'Noah', sites: [] });
  await central.accounts.put({ id: 'konto-freja', first_name: 'Freja', sites: [] });
  await seedDemoPeople(central, { people: DEMO_PEOPLE, children: DEMO_CHILDREN, office_site: 'soendervang' });
  await central.money.deposit({ account_id: 'konto-emma', amount_ore: 20_000 });
  await central.money.deposit({ account_id: 'konto-noah', amount_ore: 50_000 });
  await central.money.deposit({ account_id: 'konto-freja', amount_ore: 30_000 });
  return {
    central,
    base,
    log,
    anne: await signIn(base, c.idp, 'anne'),
    peter: await signIn(base, c.idp, 'peter'),
    karen: await signIn(base, c.idp, 'karen'),
    mette: await signIn(base, c.idp, 'mette'),
    finance: (await central.tokens.add('finance', 'nemkonto-tests')).token,
    admin: (await central.tokens.add('admin', 'nemkonto-tests')).token,
  };
}

async function call(r: Rig, who: SignedIn | string, method: string, path: string, body?: unknown): Promise<Answer> {
  const auth: Record<string, string> =
    typeof who === 'string'
      ? { authorization: `Bearer ${who}` }
      : { cookie: who.cookie, ...(method !== 'GET' ? { 'x-csrf-token': who.csrf } : {}) };
  const res = await fetch(`${r.base}${path}`, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

async function xmllint(t: ExecutionContext, xml: string): Promise<{ ok: boolean; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-nemkonto-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'payouts.xml');
  writeFileSync(file, xml);
  try {
    const { stderr } = await run('xmllint', ['--noout', '--nonet', '--schema', XSD, file]);
    return { ok: true, out: stderr };
  } catch (err) {
    return { ok: false, out: String((err as { stderr?: string }).stderr ?? err) };
  }
}

function all(xml: string, name: string): string[] {
  return [...xml.matchAll(new RegExp(`<${name}(?: [^>]*)?>([^<]*)</${name}>`, 'g'))].map((m) => m[1] as string);
}

/** Every place a CPR number must not be, as one text: rows, mails, audit, statement, log lines. */
async function everywhereButTheFile(r: Rig): Promise<string> {
  const db = r.central.db;
  const parts = [
    await db.query('SELECT * FROM payouts'),
    await db.query('SELECT * FROM payout_batches'),
    await db.query('SELECT id, account_id, kind, amount_ore, reason FROM entries'),
    await db.query('SELECT type, to_address, subject, text_body, html_body, dedupe_key FROM mail_outbox'),
    await db.query('SELECT * FROM audit_log'),
  ];
  return `${JSON.stringify(parts)}\n${r.log.join('')}`;
}

/** What a refusal must leave as it was. */
async function books(central: Central): Promise<string> {
  const db = central.db;
  return JSON.stringify([
    await db.query('SELECT id, balance_ore FROM accounts ORDER BY id'),
    await db.query('SELECT id, account_id, kind, amount_ore FROM entries ORDER BY seq'),
    await db.query('SELECT * FROM payouts ORDER BY id'),
    await db.query('SELECT * FROM payout_batches ORDER BY id'),
    await db.query('SELECT id FROM mail_outbox ORDER BY id'),
  ]);
}

test.serial(
  "a guardian withdraws to her own NemKonto: finance's file names her by her CPR number as the guideline says, passes the schema, is audited — and the number is nowhere else",
  async (t) => {
    t.timeout(180_000);
    const r = await rig(t);
    const answers: string[] = [];

    // Anne to her NemKonto (Noah's money) and to her bank account (Emma's); Peter to his NemKonto.
    const anneNk = await call(r, r.anne, 'POST', '/api/accounts/konto-noah/payouts', {
      amount_ore: 12_345,
      to: { kind: 'nemkonto' },
    });
    t.is(anneNk.status, 201, anneNk.text);
    t.like(anneNk.body, { account_id: 'konto-noah', amount_ore: 12_345, to: 'NemKonto', state: 'open' });
    const bank = await call(r, r.anne, 'POST', '/api/accounts/konto-emma/payouts', {
      amount_ore: 1_000,
      to: { kind: 'bank', reg_nr: '9570', account_nr: '12345' },
    });
    t.is(bank.status, 201, bank.text);
    const peterNk = await call(r, r.peter, 'POST', '/api/accounts/konto-freja/payouts', {
      amount_ore: 5,
      to: { kind: 'nemkonto' },
    });
    t.is(peterNk.status, 201, peterNk.text);
    answers.push(anneNk.text, bank.text, peterNk.text);
    t.is(
      Number((await r.central.accounts.get('konto-noah'))?.balance_ore),
      50_000 - 12_345,
      'left the balance at once',
    );

    // NemKonto payouts gather in a batch of their own.
    const nkBatch = anneNk.body.batch_id as string;
    t.is(peterNk.body.batch_id, nkBatch);
    t.not(bank.body.batch_id, nkBatch);
    const listed = await call(r, r.anne, 'GET', '/api/accounts/konto-noah/payouts');
    t.is(listed.status, 200, listed.text);
    t.deepEqual(
      listed.body.payouts.map((p: { to: string }) => p.to),
      ['NemKonto'],
    );
    answers.push(listed.text);
    const batches = await call(r, r.finance, 'GET', '/api/payout-batches');
    t.like(
      batches.body.batches.find((b: { id: string }) => b.id === nkBatch),
      { kind: 'nemkonto', state: 'open', count: 2, total_ore: 12_350 },
    );
    answers.push(batches.text);

    // The row keeps the person, no number.
    const [row] = await r.central.db.query<{ reg_nr: string | null; account_nr: string | null; person_id: string }>(
      'SELECT reg_nr, account_nr, person_id FROM payouts WHERE id = $1',
      [anneNk.body.payout_id],
    );
    t.deepEqual(row, { reg_nr: null, account_nr: null, person_id: r.anne.person_id });
    const [entry] = await r.central.db.query<{ reason: string }>('SELECT reason FROM entries WHERE id = $1', [
      anneNk.body.payout_id,
    ]);
    t.is(entry?.reason, 'til NemKonto');

    // The receipt says "til din NemKonto" (and the bank payout's, the masked account).
    const mails = await r.central.db.query<{ to_address: string; text_body: string; dedupe_key: string }>(
      "SELECT to_address, text_body, dedupe_key FROM mail_outbox WHERE type = 'payout_receipt' ORDER BY created_at, id",
    );
    const anneReceipt = mails.find((m) => m.dedupe_key === `payout_receipt:${anneNk.body.payout_id}`);
    t.is(anneReceipt?.to_address, 'anne.hansen@example.dk');
    t.regex(anneReceipt?.text_body ?? '', /overført til din NemKonto med næste udbetaling/);
    t.regex(anneReceipt?.text_body ?? '', /transferred to your NemKonto/);
    const bankReceipt = mails.find((m) => m.dedupe_key === `payout_receipt:${bank.body.payout_id}`);
    t.regex(bankReceipt?.text_body ?? '', /til din bankkonto/);
    t.regex(bankReceipt?.text_body ?? '', /9570 \*{6}2345/);
    t.is(mails.length, 3);

    // Only finance closes and takes the file; the guardian cannot.
    t.is((await call(r, r.anne, 'GET', `/api/payout-batches/${nkBatch}/pain.001.xml`)).status, 403);
    const closed = await call(r, r.mette, 'POST', `/api/payout-batches/${nkBatch}/close`);
    t.is(closed.status, 200, closed.text);
    const file = await call(r, r.finance, 'GET', `/api/payout-batches/${nkBatch}/pain.001.xml`);
    t.is(file.status, 200, file.text);
    t.is(file.headers.get('content-disposition'), `attachment; filename="kantine-nemkonto-payouts-${nkBatch}.xml"`);
    t.is(file.headers.get('cache-control'), 'no-store');
    const byMette = await call(r, r.mette, 'GET', `/api/payout-batches/${nkBatch}/pain.001.xml`);
    t.is(byMette.text, file.text, 'the same batch gives the same file');
    const xml = file.text;

    const lint = await xmllint(t, xml);
    t.true(lint.ok, lint.out);
    t.regex(lint.out, /validates/);

    // As the Danish guideline's "payment to EasyAccount (NKS) with CPR": the payment type NKS, each
    // payee by name and CPR number (person identification), no creditor account and no bank.
    t.deepEqual(all(xml, 'Prtry'), ['NKS']);
    t.deepEqual(all(xml, 'NbOfTxs'), ['2', '2']);
    t.deepEqual(all(xml, 'CtrlSum'), ['123.50', '123.50']);
    t.deepEqual(all(xml, 'InstdAmt'), ['123.45', '0.05']);
    t.deepEqual(
      all(xml, 'EndToEndId'),
      [anneNk.body.payout_id, peterNk.body.payout_id].map((id) => id.replace(/-/g, '')),
    );
    t.deepEqual(all(xml, 'Nm'), ['Testkommune', 'Testkommune', 'Anne Hansen', 'Peter Jensen']);
    const payees = [
      ...xml.matchAll(
        /<Cdtr>\s*<Nm>([^<]*)<\/Nm>\s*<Id>\s*<PrvtId>\s*<Othr>\s*<Id>([0-9]{10})<\/Id>\s*<SchmeNm>\s*<Cd>SOSE<\/Cd>/g,
      ),
    ];
    t.deepEqual(
      payees.map((m) => [m[1], m[2]]),
      [
        ['Anne Hansen', ANNE_CPR],
        ['Peter Jensen', PETER_CPR],
      ],
    );
    t.false(xml.includes('<CdtrAcct>'), 'the bank finds the NemKonto itself');
    t.false(xml.includes('<CdtrAgt>'));
    t.deepEqual(all(xml, 'MmbId'), ['1551'], "only the municipality's own bank");
    t.deepEqual(all(xml, 'ChrgBr'), ['SHAR']);

    // Our schema refuses a file whose CPR number is not ten digits.
    const tampered = await xmllint(
      t,
      xml.replace(`<Id>${ANNE_CPR}</Id>`, `<Id>${ANNE_CPR.slice(0, 6)}-${ANNE_CPR.slice(6)}</Id>`),
    );
    t.false(tampered.ok);

    // Taking the file is audited (who, which batch, how many) — twice taken, twice written.
    const audit = await call(r, r.admin, 'GET', '/api/audit');
    t.is(audit.status, 200, audit.text);
    const exports = audit.body.entries.filter((e: { action: string }) => e.action === 'payout nemkonto export');
    t.is(exports.length, 2);
    t.like(exports[0], { token_name: 'nemkonto-tests', scope: 'finance', target: { batch: nkBatch, count: '2' } });
    t.like(exports[1], { person_id: r.mette.person_id, target: { batch: nkBatch, count: '2' } });
    answers.push(audit.text);

    // The bank batch's file carries no CPR number.
    t.is((await call(r, r.finance, 'POST', `/api/payout-batches/${bank.body.batch_id}/close`)).status, 200);
    const bankFile = await call(r, r.finance, 'GET', `/api/payout-batches/${bank.body.batch_id}/pain.001.xml`);
    t.is(bankFile.status, 200, bankFile.text);
    t.true((await xmllint(t, bankFile.text)).ok);
    t.notRegex(bankFile.text, CPR_ANYWHERE);
    t.false(bankFile.text.includes('PrvtId'));

    // The number is in the NemKonto file and nowhere else.
    t.regex(xml, CPR_ANYWHERE);
    for (const a of answers) t.notRegex(a, CPR_ANYWHERE);
    const elsewhere = await everywhereButTheFile(r);
    t.true(r.log.length > 0, 'central logged');
    t.notRegex(elsewhere, CPR_ANYWHERE);
    for (const cpr of [ANNE_CPR, PETER_CPR]) t.false(elsewhere.includes(cpr));
  },
);

test.serial(
  'refused with nothing changed: a relation, a CPR number in the request, a guardian whose CPR number cannot be read (and then her file)',
  async (t) => {
    t.timeout(180_000);
    const r = await rig(t);
    const answers: string[] = [];
    let before = await books(r.central);

    // Karen (Emma's relation) may never direct money anywhere.
    const relation = await call(r, r.karen, 'POST', '/api/accounts/konto-emma/payouts', {
      amount_ore: 1_000,
      to: { kind: 'nemkonto' },
    });
    t.is(relation.status, 403, relation.text);
    t.is(relation.body.code, 'scope_denied');
    // Nobody names a CPR number: the request has no place for one.
    for (const to of [
      { kind: 'nemkonto', cpr: PETER_CPR },
      { kind: 'nemkonto', cpr_nr: PETER_CPR },
      { kind: 'cpr', cpr: PETER_CPR },
    ]) {
      const res = await call(r, r.anne, 'POST', '/api/accounts/konto-noah/payouts', { amount_ore: 1_000, to });
      t.is(res.status, 400, res.text);
      t.is(res.body.code, 'invalid_request');
      answers.push(res.text);
    }
    // Another family's guardian neither (to them the account is not there).
    const other = await call(r, r.peter, 'POST', '/api/accounts/konto-noah/payouts', {
      amount_ore: 1_000,
      to: { kind: 'nemkonto' },
    });
    t.is(other.status, 404, other.text);
    t.is(other.body.code, 'not_found');
    t.is(await books(r.central), before);

    // Anne withdraws to her NemKonto; then her sealed CPR number is gone (a person row without a
    // copy MitID confirmed): a new NemKonto withdrawal is refused, and so is the file.
    const ok = await call(r, r.anne, 'POST', '/api/accounts/konto-noah/payouts', {
      amount_ore: 2_000,
      to: { kind: 'nemkonto' },
    });
    t.is(ok.status, 201, ok.text);
    // The family's own history of the account says where it went.
    const history = await call(r, r.anne, 'GET', '/api/accounts/konto-noah/audit');
    t.true(
      history.body.lines.some((l: { text_da: string }) => l.text_da === 'Bad om udbetaling til NemKonto'),
      history.text,
    );
    // A retry with the client's id is the same payout, booked once; the same id to a bank account is refused.
    const id = '0193a4b2-7c3d-7e8f-9a0b-1c2d3e4f5a6b';
    const first = await call(r, r.anne, 'POST', '/api/accounts/konto-noah/payouts', {
      id,
      amount_ore: 500,
      to: { kind: 'nemkonto' },
    });
    t.is(first.status, 201, first.text);
    const retry = await call(r, r.anne, 'POST', '/api/accounts/konto-noah/payouts', {
      id,
      amount_ore: 500,
      to: { kind: 'nemkonto' },
    });
    t.is(retry.status, 201, retry.text);
    t.is(retry.body.payout_id, first.body.payout_id);
    const otherWay = await call(r, r.anne, 'POST', '/api/accounts/konto-noah/payouts', {
      id,
      amount_ore: 500,
      to: { kind: 'bank', reg_nr: '9570', account_nr: '12345' },
    });
    t.is(otherWay.status, 409, otherWay.text);
    t.is(otherWay.body.code, 'entry_id_reused');
    t.is(Number((await r.central.accounts.get('konto-noah'))?.balance_ore), 50_000 - 2_000 - 500, 'booked once');
    const [sealed] = await r.central.db.query<{ cpr_enc: Uint8Array }>('SELECT cpr_enc FROM people WHERE id = $1', [
      r.anne.person_id,
    ]);
    await r.central.db.query(`UPDATE people SET cpr_enc = '\\x'::bytea WHERE id = $1`, [r.anne.person_id]);
    before = await books(r.central);
    const missing = await call(r, r.anne, 'POST', '/api/accounts/konto-noah/payouts', {
      amount_ore: 1_000,
      to: { kind: 'nemkonto' },
    });
    t.is(missing.status, 409, missing.text);
    t.is(missing.body.code, 'payout_cpr_missing');
    t.regex(missing.body.message, /CPR-nummer bekræftet af MitID|CPR number confirmed by MitID/);
    answers.push(missing.text);
    t.is(await books(r.central), before, 'nothing booked, no mail');
    // A bank account still works for her.
    const bank = await call(r, r.anne, 'POST', '/api/accounts/konto-noah/payouts', {
      amount_ore: 1_000,
      to: { kind: 'bank', reg_nr: '9570', account_nr: '12345' },
    });
    t.is(bank.status, 201, bank.text);

    // The batch does not close while a payout's CPR number cannot be read: finance learns which
    // payout while the batch is open, not when the file is due.
    const closing = await call(r, r.finance, 'POST', `/api/payout-batches/${ok.body.batch_id}/close`);
    t.is(closing.status, 409, closing.text);
    t.is(closing.body.code, 'payout_cpr_missing');
    t.true(closing.body.message.includes(ok.body.payout_id), closing.text);
    answers.push(closing.text);
    // Readable again, it closes; unreadable by the time the file is asked for, no file is made.
    await r.central.db.query('UPDATE people SET cpr_enc = $2 WHERE id = $1', [r.anne.person_id, sealed?.cpr_enc]);
    t.is((await call(r, r.finance, 'POST', `/api/payout-batches/${ok.body.batch_id}/close`)).status, 200);
    await r.central.db.query(`UPDATE people SET cpr_enc = '\\x'::bytea WHERE id = $1`, [r.anne.person_id]);
    const file = await call(r, r.finance, 'GET', `/api/payout-batches/${ok.body.batch_id}/pain.001.xml`);
    t.is(file.status, 409, file.text);
    t.is(file.body.code, 'payout_cpr_missing');
    answers.push(file.text);
    const audit = await call(r, r.admin, 'GET', '/api/audit');
    t.false(
      audit.body.entries.some((e: { action: string }) => e.action === 'payout nemkonto export'),
      'no file, no export line',
    );
    for (const a of answers) t.notRegex(a, CPR_ANYWHERE);
    t.notRegex(await everywhereButTheFile(r), CPR_ANYWHERE);
  },
);
