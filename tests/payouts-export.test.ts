/**
 * Finance's side of payouts, on real Postgres with people signed in through the dev provider:
 * guardians' withdrawals gather in the open batch; finance closes it (a closed batch takes no
 * more: the next withdrawal opens a new one), downloads its ISO 20022 pain.001.001.03 file — which
 * passes `xmllint --schema` against our XSD of the subset, carries exactly the withdrawals'
 * amounts and accounts and no CPR number, and is the same file every time — and marks it sent.
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
import { type Central, PayoutService, Store, seedDemoPeople } from '@kantine/central';
import { DEMO_CHILDREN, DEMO_PEOPLE } from '@kantine/idp';
import test, { type ExecutionContext } from 'ava';
import { CPR_ANYWHERE } from './helpers/people.ts';
import { type SignedIn, signIn, startCentralWithIdp } from './helpers/sign-in.ts';

const run = promisify(execFile);
const XSD = fileURLToPath(new URL('../central/src/payouts/pain.001.001.03-subset.xsd', import.meta.url));
const PAYOUTS = {
  debtor: { name: 'Testkommune Økonomi', reg_nr: '1551', account_nr: '3000123456' },
  initiator_id: 'KUNDE-4711',
};

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, read field by field in tests
type Answer = { status: number; body: any; text: string; headers: Headers };

async function call(
  base: string,
  who: SignedIn | string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Answer> {
  const auth: Record<string, string> =
    typeof who === 'string'
      ? { authorization: `Bearer ${who}` }
      : { cookie: who.cookie, ...(method !== 'GET' ? { 'x-csrf-token': who.csrf } : {}) };
  const res = await fetch(`${base}${path}`, {
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

/** Runs xmllint on the file against our XSD: its exit code and what it said. */
async function xmllint(t: ExecutionContext, xml: string): Promise<{ ok: boolean; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-pain001-'));
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

/** Every element `name`'s text in document order (the file is ours: no CDATA, no nesting of these). */
function all(xml: string, name: string): string[] {
  return [...xml.matchAll(new RegExp(`<${name}(?: [^>]*)?>([^<]*)</${name}>`, 'g'))].map((m) => m[1] as string);
}

test.serial(
  'finance closes the batch and exports a pain.001.001.03 file that passes the schema and carries exactly the withdrawals',
  async (t) => {
    t.timeout(180_000);
    const c = await startCentralWithIdp(t, { config: { payouts: PAYOUTS } });
    const central = c.services[0]?.central as Central;
    const base = c.http[0] as string;
    await central.sites.put({ id: 'soendervang', name: 'Søndervang Skole', place_kinds: ['school'] });
    for (const id of ['konto-emma', 'konto-noah', 'konto-freja'])
      await central.accounts.put({ id, first_name: id.slice(6), sites: [] });
    await seedDemoPeople(central, { people: DEMO_PEOPLE, children: DEMO_CHILDREN, office_site: 'soendervang' });
    await central.money.deposit({ account_id: 'konto-noah', amount_ore: 50_000 });
    await central.money.deposit({ account_id: 'konto-emma', amount_ore: 10_000 });
    await central.money.deposit({ account_id: 'konto-freja', amount_ore: 30_000 });
    const anne = await signIn(base, c.idp, 'anne');
    const peter = await signIn(base, c.idp, 'peter');
    const mette = await signIn(base, c.idp, 'mette');
    const karen = await signIn(base, c.idp, 'karen');
    const finance = (await central.tokens.add('finance', 'payout-export')).token;

    const withdraw = async (who: SignedIn, account: string, amount_ore: number, reg_nr: string, account_nr: string) => {
      const res = await call(base, who, 'POST', `/api/accounts/${account}/payouts`, {
        amount_ore,
        to: { kind: 'bank', reg_nr, account_nr },
      });
      if (res.status !== 201) throw new Error(`withdraw: ${res.status} ${res.text}`);
      return res.body as { payout_id: string; batch_id: string };
    };
    const made = [
      { ...(await withdraw(anne, 'konto-noah', 12_345, '9570', '12345')), amount: '123.45', bban: '95700000012345' },
      { ...(await withdraw(anne, 'konto-emma', 10_000, '9570', '12345')), amount: '100.00', bban: '95700000012345' },
      { ...(await withdraw(peter, 'konto-freja', 5, '3409', '1234567890')), amount: '0.05', bban: '34091234567890' },
    ];
    const batchId = made[0]?.batch_id as string;
    t.true(
      made.every((m) => m.batch_id === batchId),
      'one open batch gathers them',
    );

    // Open: no file yet; only finance sees or closes batches.
    const early = await call(base, finance, 'GET', `/api/payout-batches/${batchId}/pain.001.xml`);
    t.is(early.status, 409, early.text);
    t.is(early.body.code, 'payout_batch_state');
    for (const who of [anne, karen]) {
      t.is((await call(base, who, 'POST', `/api/payout-batches/${batchId}/close`)).status, 403);
      t.is((await call(base, who, 'GET', `/api/payout-batches/${batchId}/pain.001.xml`)).status, 403);
    }
    t.is((await call(base, finance, 'GET', '/api/payout-batches/00000000-0000-7000-8000-000000000000')).status, 404);

    // Mette (finance, signed in) closes it.
    const closed = await call(base, mette, 'POST', `/api/payout-batches/${batchId}/close`);
    t.is(closed.status, 200, closed.text);
    t.like(closed.body, { id: batchId, state: 'closed', count: 3, total_ore: 22_350 });
    t.regex(closed.body.execution_date, /^\d{4}-\d{2}-\d{2}$/);
    const twice = await call(base, mette, 'POST', `/api/payout-batches/${batchId}/close`);
    t.is(twice.status, 409);
    t.is(twice.body.code, 'payout_batch_state');

    // A closed batch takes no more: the next withdrawal opens a new batch.
    const later = await withdraw(anne, 'konto-noah', 1_000, '9570', '12345');
    t.not(later.batch_id, batchId);
    const list = await call(base, finance, 'GET', '/api/payout-batches');
    t.is(list.status, 200, list.text);
    t.like(
      list.body.batches.find((b: { id: string }) => b.id === batchId),
      { state: 'closed', count: 3, total_ore: 22_350 },
    );
    t.like(
      list.body.batches.find((b: { id: string }) => b.id === later.batch_id),
      { state: 'open', count: 1, total_ore: 1_000 },
    );

    // The file: finance's token and finance's person get the same bytes, every time.
    const file = await call(base, finance, 'GET', `/api/payout-batches/${batchId}/pain.001.xml`);
    t.is(file.status, 200, file.text);
    t.regex(file.headers.get('content-type') ?? '', /^application\/xml/);
    t.is(file.headers.get('content-disposition'), `attachment; filename="kantine-payouts-${batchId}.xml"`);
    const again = await call(base, mette, 'GET', `/api/payout-batches/${batchId}/pain.001.xml`);
    t.is(again.status, 200);
    t.is(again.text, file.text, 'a batch exported twice gives the same file');
    const xml = file.text;
    // …even after the municipality's config changed: the batch kept the debtor it closed with.
    const otherConfig = new PayoutService(new Store(central.db, { now: () => new Date() }, () => {}), central.money, {
      debtor: { name: 'Ny Kommune', reg_nr: '2222', account_nr: '1' },
      nemkonto: false,
    });
    t.is((await otherConfig.export(batchId)).xml, xml);

    const lint = await xmllint(t, xml);
    t.true(lint.ok, lint.out);
    t.regex(lint.out, /validates/);

    // What it says: the withdrawals, exactly.
    t.true(xml.includes('xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"'));
    t.deepEqual(all(xml, 'NbOfTxs'), ['3', '3']);
    t.deepEqual(all(xml, 'CtrlSum'), ['223.50', '223.50']);
    t.deepEqual(
      all(xml, 'InstdAmt'),
      made.map((m) => m.amount),
    );
    t.deepEqual(
      all(xml, 'EndToEndId'),
      made.map((m) => m.payout_id.replace(/-/g, '')),
    );
    t.deepEqual(all(xml, 'ChrgBr'), ['SHAR']);
    t.deepEqual(all(xml, 'PmtMtd'), ['TRF']);
    // The debtor's BBAN first (the municipality's account from config), then each creditor's.
    t.deepEqual(
      all(xml, 'Id').filter((v) => /^[0-9]{14}$/.test(v)),
      ['15513000123456', ...made.map((m) => m.bban)],
    );
    t.deepEqual(all(xml, 'MmbId'), ['1551', '9570', '9570', '3409']);
    t.deepEqual(all(xml, 'Nm'), [
      'Testkommune Økonomi',
      'Testkommune Økonomi',
      'Anne Hansen',
      'Anne Hansen',
      'Peter Jensen',
    ]);
    t.deepEqual(all(xml, 'MsgId'), [batchId.replace(/-/g, '')]);
    t.deepEqual(all(xml, 'ReqdExctnDt'), [closed.body.execution_date]);
    t.true(all(xml, 'Id').includes('KUNDE-4711'));
    t.is(xml.match(CPR_ANYWHERE)?.[0], undefined, 'no CPR number in the file');
    // The amounts in the file equal the withdrawals booked.
    const booked = await central.db.query<{ amount_ore: string }>(
      `SELECT e.amount_ore FROM entries e JOIN payouts p ON p.id = e.id WHERE p.batch_id = $1 ORDER BY p.created_at, p.id`,
      [batchId],
    );
    t.deepEqual(
      booked.map((b) => -Number(b.amount_ore)),
      [12_345, 10_000, 5],
    );

    // The schema check can fail: our XSD refuses what the Danish guidelines do not allow.
    const tampered = await xmllint(t, xml.replace('<ChrgBr>SHAR</ChrgBr>', '<ChrgBr>DEBT</ChrgBr>'));
    t.false(tampered.ok);
    t.regex(tampered.out, /ChrgBr/);
    const shortAccount = await xmllint(t, xml.replace('95700000012345', '957012345'));
    t.false(shortAccount.ok);

    // Sent: once, and only a closed batch; its file stays the same.
    const openSent = await call(base, finance, 'POST', `/api/payout-batches/${later.batch_id}/sent`);
    t.is(openSent.status, 409);
    t.is(openSent.body.code, 'payout_batch_state');
    const sent = await call(base, finance, 'POST', `/api/payout-batches/${batchId}/sent`);
    t.is(sent.status, 200, sent.text);
    t.is(sent.body.state, 'sent');
    t.is((await call(base, mette, 'POST', `/api/payout-batches/${batchId}/sent`)).status, 409);
    t.is((await call(base, mette, 'POST', `/api/payout-batches/${batchId}/close`)).status, 409);
    t.is((await call(base, finance, 'GET', `/api/payout-batches/${batchId}/pain.001.xml`)).text, xml);
    const guardianView = await call(base, anne, 'GET', '/api/accounts/konto-noah/payouts');
    t.deepEqual(
      guardianView.body.payouts.map((p: { state: string }) => p.state),
      ['open', 'sent'],
    );
    t.deepEqual(await central.money.verify(), []);
  },
);

test.serial(
  'withdrawals racing finance closing the batch each land in exactly one batch, and the closed batch keeps what it held',
  async (t) => {
    t.timeout(180_000);
    const c = await startCentralWithIdp(t, { config: { payouts: PAYOUTS } });
    const central = c.services[0]?.central as Central;
    const base = c.http[0] as string;
    for (const id of ['konto-emma', 'konto-noah', 'konto-freja'])
      await central.accounts.put({ id, first_name: id.slice(6), sites: [] });
    await central.sites.put({ id: 'soendervang', name: 'Søndervang Skole', place_kinds: ['school'] });
    await seedDemoPeople(central, { people: DEMO_PEOPLE, children: DEMO_CHILDREN, office_site: 'soendervang' });
    await central.money.deposit({ account_id: 'konto-noah', amount_ore: 50_000 });
    const anne = await signIn(base, c.idp, 'anne');
    const finance = (await central.tokens.add('finance', 'payout-race')).token;
    const to = { kind: 'bank', reg_nr: '9570', account_nr: '12345' };

    const first = await call(base, anne, 'POST', '/api/accounts/konto-noah/payouts', { amount_ore: 100, to });
    t.is(first.status, 201, first.text);
    const batchId = first.body.batch_id as string;
    const racing = Array.from({ length: 12 }, (_, i) =>
      call(base, anne, 'POST', '/api/accounts/konto-noah/payouts', { amount_ore: 101 + i, to }),
    );
    // Finance closes the batch while the rest are still on their way.
    const closing = (async () => {
      await racing[3];
      return call(base, finance, 'POST', `/api/payout-batches/${batchId}/close`);
    })();
    const [closed, ...made] = await Promise.all([closing, ...racing]);
    t.is(closed?.status, 200, closed?.text);
    for (const m of made) t.is(m.status, 201, m.text);

    // What the batch held when it closed is what it holds now, and what its file says.
    const inA = [first, ...made].filter((m) => m.body.batch_id === batchId);
    const elsewhere = made.filter((m) => m.body.batch_id !== batchId);
    t.true(new Set(elsewhere.map((m) => m.body.batch_id)).size <= 1, 'at most one new open batch');
    t.log(`${inA.length} payouts in the closed batch, ${elsewhere.length} in the next`);
    const now = await call(base, finance, 'GET', `/api/payout-batches/${batchId}`);
    t.like(now.body, { state: 'closed', count: closed?.body.count, total_ore: closed?.body.total_ore });
    t.is(inA.length, closed?.body.count);
    const file = await call(base, finance, 'GET', `/api/payout-batches/${batchId}/pain.001.xml`);
    t.is(file.status, 200, file.text);
    t.true((await xmllint(t, file.text)).ok);
    t.deepEqual(
      all(file.text, 'EndToEndId').sort(),
      inA.map((m) => (m.body.payout_id as string).replace(/-/g, '')).sort(),
    );
    const total = inA.reduce((s, m) => s + (m.body.amount_ore as number), 0);
    t.is(total, closed?.body.total_ore);
    // Every øre that left the balance is in exactly one batch.
    const all13 = [first, ...made].reduce((s, m) => s + (m.body.amount_ore as number), 0);
    t.is(Number((await central.accounts.get('konto-noah'))?.balance_ore), 50_000 - all13);
    const [sums] = await central.db.query<{ n: string; sum: string }>(
      `SELECT count(*) AS n, sum(amount_ore) AS sum FROM payouts WHERE account_id = 'konto-noah'`,
    );
    t.is(Number(sums?.n), 13);
    t.is(Number(sums?.sum), all13);
    t.deepEqual(await central.money.verify(), []);
  },
);
