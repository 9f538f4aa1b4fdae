/**
 * A guardian's withdrawal (udbetaling) to their own bank account, signed in through the dev
 * identity provider (a real process) at central on real Postgres: the money leaves the balance at
 * once into the open payout batch; a relation, office staff, finance, a token and another family's
 * guardian are refused; a wrong account number, more than the balance, NemKonto (not built) and a
 * balance the sites still hold are refused with coded errors that change nothing.
 *
 * Serial: each test starts its own provider and central; one at a time keeps a busy machine's
 * start-up within the provider's time limit.
 */
import { randomUUID } from 'node:crypto';
import { type Central, parseCentralConfig, seedDemoPeople } from '@kantine/central';
import { DEMO_CHILDREN, DEMO_PEOPLE } from '@kantine/idp';
import type { KantineError } from '@kantine/protocol';
import test, { type ExecutionContext } from 'ava';
import { CPR_ANYWHERE } from './helpers/people.ts';
import { type SignedIn, signIn, startCentralWithIdp } from './helpers/sign-in.ts';

const PAYOUTS = { debtor: { name: 'Testkommune', reg_nr: '1551', account_nr: '3000123456' } };
const ANNE_ACCOUNT = { kind: 'bank', reg_nr: '9570', account_nr: '7310442' };

interface Rig {
  central: Central;
  base: string;
  people: Record<'anne' | 'karen' | 'lone' | 'peter' | 'mette', SignedIn>;
  finance: string;
  admin: string;
}

/**
 * Central with sign-in; Emma's account at Søndervang (Lone's office; the site holds her money),
 * Noah's and Freja's at no site (the money is all at central). Anne is Emma's and Noah's guardian,
 * Karen Emma's relation, Peter Freja's guardian, Mette finance.
 */
/** `payouts`: central's payouts section (`null`: none). */
async function rig(t: ExecutionContext, payouts: Record<string, unknown> | null = PAYOUTS): Promise<Rig> {
  const c = await startCentralWithIdp(t, payouts ? { config: { payouts } } : {});
  const central = c.services[0]?.central as Central;
  const base = c.http[0] as string;
  await central.sites.put({ id: 'soendervang', name: 'Søndervang Skole', place_kinds: ['school'] });
  await central.accounts.put({ id: 'konto-emma', first_name: 'Emma', sites: ['soendervang'] });
  await central.accounts.put({ id: 'konto-noah', first_name: 'Noah', sites: [] });
  await central.accounts.put({ id: 'konto-freja', first_name: 'Freja', sites: [] });
  await seedDemoPeople(central, { people: DEMO_PEOPLE, children: DEMO_CHILDREN, office_site: 'soendervang' });
  await central.money.deposit({ account_id: 'konto-emma', amount_ore: 20_000 });
  await central.money.deposit({ account_id: 'konto-noah', amount_ore: 50_000 });
  await central.money.deposit({ account_id: 'konto-freja', amount_ore: 30_000 });
  const people = {} as Rig['people'];
  for (const key of ['anne', 'karen', 'lone', 'peter', 'mette'] as const) people[key] = await signIn(base, c.idp, key);
  return {
    central,
    base,
    people,
    finance: (await central.tokens.add('finance', 'payout-tests')).token,
    admin: (await central.tokens.add('admin', 'payout-tests')).token,
  };
}

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, read field by field in tests
type Answer = { status: number; body: any; text: string };

/** A request as a signed-in person (with the session's CSRF token unless told not to) or with a token. */
async function call(
  r: Rig,
  who: SignedIn | string,
  method: string,
  path: string,
  body?: unknown,
  opts: { csrf?: boolean } = {},
): Promise<Answer> {
  const auth: Record<string, string> =
    typeof who === 'string'
      ? { authorization: `Bearer ${who}` }
      : { cookie: who.cookie, ...(method !== 'GET' && opts.csrf !== false ? { 'x-csrf-token': who.csrf } : {}) };
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
  return { status: res.status, body: parsed, text };
}

/** What a refusal must leave as it was: every balance, every entry, every payout and batch. */
async function books(central: Central): Promise<string> {
  const db = central.db;
  const rows = [
    await db.query('SELECT id, balance_ore FROM accounts ORDER BY id'),
    await db.query('SELECT id, account_id, kind, amount_ore FROM entries ORDER BY seq'),
    await db.query('SELECT * FROM payouts ORDER BY id'),
    await db.query('SELECT * FROM payout_batches ORDER BY id'),
  ];
  return JSON.stringify(rows);
}

async function balance(central: Central, account: string): Promise<number> {
  return Number((await central.accounts.get(account))?.balance_ore);
}

test.serial(
  'a guardian withdraws to her bank account: the money leaves the balance at once into the open batch',
  async (t) => {
    t.timeout(120_000);
    const r = await rig(t);
    const { anne } = r.people;
    const res = await call(r, anne, 'POST', '/api/accounts/konto-noah/payouts', {
      amount_ore: 15_050,
      to: ANNE_ACCOUNT,
    });
    t.is(res.status, 201, res.text);
    t.is(res.body.amount_ore, 15_050);
    t.is(res.body.account_id, 'konto-noah');
    t.is(res.body.state, 'open');
    t.is(res.body.to, '9570 ******0442', 'the account number is shown masked');
    t.false(CPR_ANYWHERE.test(res.text));
    // At once: the balance, the withdrawal entry (the payout's id), the batch.
    t.is(await balance(r.central, 'konto-noah'), 50_000 - 15_050);
    const entries = await r.central.money.entries('konto-noah');
    const last = entries.at(-1);
    t.like(last, { id: res.body.payout_id, kind: 'withdrawal', amount_ore: -15_050, reason: 'til bankkonto' });
    const [row] = await r.central.db.query<{
      reg_nr: string;
      account_nr: string;
      holder_name: string;
      person_id: string;
    }>('SELECT reg_nr, account_nr, holder_name, person_id FROM payouts WHERE id = $1', [res.body.payout_id]);
    t.like(row, { reg_nr: '9570', account_nr: '0007310442', holder_name: 'Anne Hansen', person_id: anne.person_id });
    const batches = await call(r, r.finance, 'GET', '/api/payout-batches');
    t.is(batches.status, 200, batches.text);
    t.like(batches.body.batches, [{ id: res.body.batch_id, state: 'open', count: 1, total_ore: 15_050 }]);

    // A retry with the client's id is the same payout, booked once; the id with other details is refused.
    const id = randomUUID();
    const once = await call(r, anne, 'POST', '/api/accounts/konto-noah/payouts', {
      id,
      amount_ore: 1_000,
      to: ANNE_ACCOUNT,
    });
    t.is(once.status, 201, once.text);
    const again = await call(r, anne, 'POST', '/api/accounts/konto-noah/payouts', {
      id,
      amount_ore: 1_000,
      to: ANNE_ACCOUNT,
    });
    t.is(again.status, 201, again.text);
    t.is(again.body.payout_id, once.body.payout_id);
    t.is(await balance(r.central, 'konto-noah'), 50_000 - 15_050 - 1_000);
    const before = await books(r.central);
    const other = await call(r, anne, 'POST', '/api/accounts/konto-noah/payouts', {
      id,
      amount_ore: 2_000,
      to: ANNE_ACCOUNT,
    });
    t.is(other.status, 409, other.text);
    t.is(other.body.code, 'entry_id_reused');
    t.is(await books(r.central), before);

    // Her own list of payouts (guardians see their account's).
    const list = await call(r, anne, 'GET', '/api/accounts/konto-noah/payouts');
    t.is(list.status, 200, list.text);
    t.deepEqual(
      list.body.payouts.map((p: { amount_ore: number }) => p.amount_ore),
      [1_000, 15_050],
    );
    // Her statement has the payout as its own line, with no account number (relations read it too).
    const day = new Date().toLocaleDateString('sv-SE', { timeZone: 'Europe/Copenhagen' });
    const statement = await call(r, anne, 'GET', `/api/accounts/konto-noah/statement?from=${day}&to=${day}`);
    t.is(statement.status, 200, statement.text);
    const texts = statement.body.lines.map((l: { text: string }) => l.text);
    t.is(texts.filter((x: string) => x === 'Udbetalt: til bankkonto').length, 2, JSON.stringify(texts));
    t.false(statement.text.includes('7310442'));
    t.deepEqual(await r.central.money.verify(), []);
    // The audit line names the payout and batch, never a CPR number or the account number.
    const audit = await r.central.db.query<{ target: unknown }>(
      `SELECT target FROM audit_log WHERE action = 'POST /api/accounts/:account/payouts' ORDER BY 1`,
    );
    t.true(audit.length >= 3);
    const auditText = JSON.stringify(audit);
    t.false(CPR_ANYWHERE.test(auditText));
    t.false(auditText.includes('7310442'));
    // …and the family's own history of the account says it in words.
    const history = await call(r, anne, 'GET', '/api/accounts/konto-noah/audit');
    t.is(history.status, 200, history.text);
    t.true(
      history.body.lines.some((l: { text_da: string }) => l.text_da === 'Bad om udbetaling til bankkonto'),
      history.text,
    );
    t.false(history.text.includes('7310442'));
  },
);

test.serial(
  'only the guardian may withdraw: a relation, office staff, finance, tokens and another family are refused, changing nothing',
  async (t) => {
    t.timeout(120_000);
    const r = await rig(t);
    const { karen, lone, peter, mette, anne } = r.people;
    const body = { amount_ore: 1_000, to: ANNE_ACCOUNT };
    const before = await books(r.central);
    const tries: [string, SignedIn | string, string, number, string][] = [
      ['a relation (Karen, on Emma)', karen, 'konto-emma', 403, 'scope_denied'],
      ['office staff of the school (Lone, on Emma)', lone, 'konto-emma', 403, 'scope_denied'],
      ['finance staff (Mette)', mette, 'konto-noah', 403, 'scope_denied'],
      ["another family's guardian (Peter, on Noah)", peter, 'konto-noah', 404, 'not_found'],
      ['a finance token', r.finance, 'konto-noah', 403, 'scope_denied'],
      ['an admin token', r.admin, 'konto-noah', 403, 'scope_denied'],
    ];
    for (const [who, as, account, status, code] of tries) {
      const res = await call(r, as, 'POST', `/api/accounts/${account}/payouts`, body);
      t.is(res.status, status, `${who}: ${res.text}`);
      t.is(res.body?.code, code, who);
    }
    const noCsrf = await call(r, anne, 'POST', '/api/accounts/konto-noah/payouts', body, { csrf: false });
    t.is(noCsrf.status, 403, noCsrf.text);
    t.is(noCsrf.body.code, 'csrf_failed');
    const nobody = await fetch(`${r.base}/api/accounts/konto-noah/payouts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    t.is(nobody.status, 401);
    // Another family's payouts are not theirs to read either.
    t.is((await call(r, peter, 'GET', '/api/accounts/konto-noah/payouts')).status, 404);
    t.is((await call(r, karen, 'GET', '/api/accounts/konto-emma/payouts')).status, 403);
    // Nor are the batches a guardian's or an admin's business.
    for (const who of [anne, lone, r.admin]) {
      t.is((await call(r, who, 'GET', '/api/payout-batches')).status, 403);
    }
    t.is(await books(r.central), before);
  },
);

test.serial(
  'a wrong account number, more than the balance, NemKonto and money the sites hold are refused with codes, changing nothing',
  async (t) => {
    t.timeout(120_000);
    const r = await rig(t);
    const { anne } = r.people;
    const before = await books(r.central);
    const bad: [unknown, string][] = [
      [{ kind: 'bank', reg_nr: '957', account_nr: '12345' }, 'reg.nr of 3 digits'],
      [{ kind: 'bank', reg_nr: '95701', account_nr: '12345' }, 'reg.nr of 5 digits'],
      [{ kind: 'bank', reg_nr: '95a0', account_nr: '12345' }, 'a letter in the reg.nr'],
      [{ kind: 'bank', reg_nr: '0000', account_nr: '12345' }, 'reg.nr 0000'],
      [{ kind: 'bank', reg_nr: '9570', account_nr: '12345678901' }, 'an account of 11 digits'],
      [{ kind: 'bank', reg_nr: '9570', account_nr: '' }, 'no account number'],
      [{ kind: 'bank', reg_nr: '9570', account_nr: '0000000000' }, 'an account of zeros'],
      [{ kind: 'bank', reg_nr: '9570', account_nr: '1234.5678' }, 'a dot in the account'],
      [{ kind: 'bank', reg_nr: '9570', account_nr: '١٢٣٤٥' }, 'non-ASCII digits'],
    ];
    for (const [to, why] of bad) {
      const res = await call(r, anne, 'POST', '/api/accounts/konto-noah/payouts', { amount_ore: 1_000, to });
      t.is(res.status, 400, `${why}: ${res.text}`);
      t.is(res.body.code, 'payout_account_invalid', why);
      t.truthy(res.body.message, why);
    }
    const shapes: [unknown, string][] = [
      [{ amount_ore: 0, to: ANNE_ACCOUNT }, 'zero'],
      [{ amount_ore: -100, to: ANNE_ACCOUNT }, 'negative'],
      [{ amount_ore: 10.5, to: ANNE_ACCOUNT }, 'a fraction of an øre'],
      [{ amount_ore: 1_000 }, 'no destination'],
      [{ amount_ore: 1_000, to: { ...ANNE_ACCOUNT, cpr: '0101011234' } }, 'an extra field'],
      [{ amount_ore: 1_000, to: ANNE_ACCOUNT, id: 'not-a-uuid' }, 'a bad id'],
    ];
    for (const [body, why] of shapes) {
      const res = await call(r, anne, 'POST', '/api/accounts/konto-noah/payouts', body);
      t.is(res.status, 400, `${why}: ${res.text}`);
      t.is(res.body.code, 'invalid_request', why);
    }

    const tooMuch = await call(r, anne, 'POST', '/api/accounts/konto-noah/payouts', {
      amount_ore: 50_001,
      to: ANNE_ACCOUNT,
    });
    t.is(tooMuch.status, 409, tooMuch.text);
    t.is(tooMuch.body.code, 'insufficient_balance');

    const nemkonto = await call(r, anne, 'POST', '/api/accounts/konto-noah/payouts', {
      amount_ore: 1_000,
      to: { kind: 'nemkonto' },
    });
    t.is(nemkonto.status, 400, nemkonto.text);
    t.is(nemkonto.body.code, 'payout_nemkonto_off');

    // Emma's money is shared out to her school's till (offline here): central recalls it and asks
    // to try again in a moment — nothing is booked meanwhile.
    const held = await call(r, anne, 'POST', '/api/accounts/konto-emma/payouts', {
      amount_ore: 1_000,
      to: ANNE_ACCOUNT,
    });
    t.is(held.status, 503, held.text);
    t.is(held.body.code, 'funds_held_offline');
    const after = JSON.parse(await books(r.central));
    const was = JSON.parse(before);
    t.deepEqual(after, was);

    // Spaces and a dash are forgiven (as people write the number); the account is padded to 10.
    const spaced = await call(r, anne, 'POST', '/api/accounts/konto-noah/payouts', {
      amount_ore: 1_000,
      to: { kind: 'bank', reg_nr: '95 70', account_nr: '12 34-5' },
    });
    t.is(spaced.status, 201, spaced.text);
    const [row] = await r.central.db.query('SELECT reg_nr, account_nr FROM payouts WHERE id = $1', [
      spaced.body.payout_id,
    ]);
    t.deepEqual(row, { reg_nr: '9570', account_nr: '0000012345' });

    // The whole balance may go.
    const all = await call(r, anne, 'POST', '/api/accounts/konto-noah/payouts', {
      amount_ore: 49_000,
      to: ANNE_ACCOUNT,
    });
    t.is(all.status, 201, all.text);
    t.is(await balance(r.central, 'konto-noah'), 0);
    const empty = await call(r, anne, 'POST', '/api/accounts/konto-noah/payouts', { amount_ore: 1, to: ANNE_ACCOUNT });
    t.is(empty.body.code, 'insufficient_balance');
  },
);

test.serial('without a payouts section no withdrawal can be asked for, and nothing changes', async (t) => {
  t.timeout(120_000);
  const r = await rig(t, null);
  const before = await books(r.central);
  const res = await call(r, r.people.anne, 'POST', '/api/accounts/konto-noah/payouts', {
    amount_ore: 1_000,
    to: ANNE_ACCOUNT,
  });
  t.is(res.status, 503, res.text);
  t.is(res.body.code, 'payouts_not_configured');
  t.is(await books(r.central), before);
});

test.serial(
  "central's payouts section: NemKonto is off unless set, and a malformed debtor account stops the start with the field's path",
  (t) => {
    const base = { database: { dir: 'memory://' } };
    const ok = parseCentralConfig({ ...base, payouts: PAYOUTS });
    t.is(ok.payouts?.nemkonto, false);
    t.is(parseCentralConfig({ ...base, payouts: { ...PAYOUTS, nemkonto: true } }).payouts?.nemkonto, true);
    const wrong = t.throws(() =>
      parseCentralConfig({ ...base, payouts: { ...PAYOUTS, nemkonto: 'yes' } }),
    ) as KantineError;
    t.is(wrong.code, 'config_invalid');
    t.true(wrong.details.some((d) => d.startsWith('/payouts/nemkonto')));
    for (const debtor of [
      { ...PAYOUTS.debtor, reg_nr: '155' },
      { ...PAYOUTS.debtor, account_nr: '30001234567' },
      { ...PAYOUTS.debtor, bic: 'not a bic' },
      { reg_nr: '1551', account_nr: '3000123456' },
    ]) {
      const err = t.throws(() => parseCentralConfig({ ...base, payouts: { debtor } })) as KantineError;
      t.is(err.code, 'config_invalid', JSON.stringify(debtor));
      t.true(
        err.details.some((d) => d.startsWith('/payouts/debtor')),
        err.details.join('; '),
      );
    }
  },
);
