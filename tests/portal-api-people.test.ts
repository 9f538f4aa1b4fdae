/**
 * The portal's API as the people who use it: a guardian, a relation and another family's guardian
 * signed in through the dev identity provider (a real process, real redirects), each doing what
 * their role allows on a child's account and refused the rest — the relation reads the statement
 * but changes no setting, blocks no card and reads no audit lines; another family learns nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_CHILDREN, DEMO_PEOPLE } from '@kantine/idp';
import test, { type ExecutionContext } from 'ava';
import { DateTime } from 'luxon';
import { startCentral, type TestCentral } from './helpers/central.ts';
import { type RunningIdp, startIdp } from './helpers/idp.ts';
import { CPR_ANYWHERE } from './helpers/people.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { freePort } from './helpers/process.ts';
import { type SignedIn, signIn } from './helpers/sign-in.ts';

const CLIENT_ID = 'kantine-central';
const CLIENT_SECRET = 'central-secret-for-portal-api-tests';
const CARD = { uid: '04000000002E01', number: '1234-7K3M-Q9XA' };
const FREJA_CARD = { uid: '04000000002E02', number: '1234-WXYZ-2345' };
const PHOTO =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

function cprOf(key: string): string {
  const p = DEMO_PEOPLE.find((x) => x.key === key) ?? DEMO_CHILDREN.find((x) => x.key === key);
  if (!p) throw new Error(`no demo person ${key}`);
  return p.cpr;
}

interface Family {
  central: TestCentral;
  idp: RunningIdp;
  anne: SignedIn;
  karen: SignedIn;
  peter: SignedIn;
}

/**
 * Central (Postgres) with sign-in through the dev provider; Emma's account with Anne as her
 * guardian (by CPR, from the child's record) and Karen as her relation (Anne invites her by CPR);
 * Freja's with Peter as hers.
 */
async function family(t: ExecutionContext): Promise<Family> {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const idp = await startIdp(t, [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [`${publicUrl}/login/callback`],
      post_logout_redirect_uris: [`${publicUrl}/`],
    },
  ]);
  const keys = mkdtempSync(join(tmpdir(), 'kantine-portal-keys-'));
  t.teardown(() => rmSync(keys, { recursive: true, force: true }));
  const central = await startCentral(t, {
    database: { url: await freshDatabase(t, 'portalpeople') },
    http: { port },
    identity: {
      issuer: idp.issuer,
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      public_url: publicUrl,
      cpr_key_file: join(keys, 'cpr.key'),
    },
  });
  const ok = async (p: Promise<{ status: number; body: unknown }>, status: number) => {
    const r = await p;
    if (r.status !== status) throw new Error(`${r.status} ${JSON.stringify(r.body)}`);
  };
  await central.addSite('sondervang');
  await ok(
    central.api('PUT', '/api/accounts/acc-emma', {
      first_name: 'Emma',
      last_name: 'Jensen',
      cpr: cprOf('emma'),
      sites: ['sondervang'],
      allergies: ['peanuts'],
      photo: PHOTO,
      limits: [{ place_kind: 'school', period: 'day', limit_ore: 5_000 }],
    }),
    204,
  );
  await ok(
    central.api('PUT', '/api/accounts/acc-freja', { first_name: 'Freja', cpr: cprOf('freja'), sites: ['sondervang'] }),
    204,
  );
  for (const [c, account] of [
    [CARD, 'acc-emma'],
    [FREJA_CARD, 'acc-freja'],
  ] as const) {
    await ok(central.api('PUT', `/api/cards/${c.uid}`, { kind: 'legacy', card_number: c.number }), 204);
    await ok(central.api('POST', `/api/cards/${c.uid}/activate`, { account_id: account }), 204);
  }
  await ok(central.api('POST', '/api/accounts/acc-emma/deposits', { amount_ore: 20_000 }), 201);
  await ok(central.api('PUT', '/api/accounts/acc-emma/guardian-cprs', { cprs: [cprOf('anne')] }), 204);
  await ok(central.api('PUT', '/api/accounts/acc-freja/guardian-cprs', { cprs: [cprOf('peter')] }), 204);
  const anne = await signIn(central.http, idp, 'anne');
  const invite = await as(central, anne, 'POST', '/api/accounts/acc-emma/relations', { cpr: cprOf('karen') });
  if (invite.status !== 201) throw new Error(`invite: ${invite.status} ${JSON.stringify(invite.body)}`);
  const karen = await signIn(central.http, idp, 'karen');
  const peter = await signIn(central.http, idp, 'peter');
  return { central, idp, anne, karen, peter };
}

/** A request as a signed-in person: their session cookie, and the CSRF token on a change. */
async function as(
  central: TestCentral,
  who: SignedIn,
  method: string,
  path: string,
  body?: unknown,
  opts: { csrf?: boolean } = {},
  // biome-ignore lint/suspicious/noExplicitAny: JSON from the API, read field by field in tests
): Promise<{ status: number; body: any; text: string; headers: Headers }> {
  const res = await fetch(`${central.http}${path}`, {
    method,
    headers: {
      cookie: who.cookie,
      ...(method !== 'GET' && opts.csrf !== false ? { 'x-csrf-token': who.csrf } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
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

const today = () => DateTime.now().setZone('Europe/Copenhagen').toISODate() as string;

test('a guardian sees Mine konti, saves the limits without touching the allergies or photo, blocks the card by number and reads who did what', async (t) => {
  const { central, anne } = await family(t);

  const mine = await as(central, anne, 'GET', '/api/me/accounts');
  t.is(mine.status, 200, mine.text);
  t.is(mine.body.accounts.length, 1);
  t.like(mine.body.accounts[0], {
    account_id: 'acc-emma',
    role: 'guardian',
    first_name: 'Emma',
    balance_ore: 20_000,
    card_state: 'active',
  });
  t.like(
    mine.body.accounts[0].spend.find(
      (s: { place_kind: string; period: string }) => s.place_kind === 'school' && s.period === 'day',
    ),
    { spent_ore: 0, limit_ore: 5_000 },
  );

  // Saving the limits keeps the allergies and the photo (central's own JPEG of the PNG given).
  const kept = (await central.api('GET', '/api/accounts/acc-emma')).body.photo;
  t.regex(kept, /^data:image\/jpeg;base64,/);
  const patch = await as(central, anne, 'PATCH', '/api/accounts/acc-emma', {
    limits: [{ place_kind: 'school', period: 'day', limit_ore: 3_000 }],
  });
  t.is(patch.status, 204, patch.text);
  const account = await central.api('GET', '/api/accounts/acc-emma');
  t.deepEqual(account.body.limits, [{ place_kind: 'school', period: 'day', limit_ore: 3_000 }]);
  t.deepEqual(account.body.allergies, ['peanuts']);
  t.is(account.body.photo, kept);

  // Without the session's CSRF token a change is refused (a page elsewhere cannot act for her).
  const forged = await as(central, anne, 'PATCH', '/api/accounts/acc-emma', { allergies: [] }, { csrf: false });
  t.is(forged.status, 403);
  t.is(forged.body.code, 'csrf_failed');
  // Which school the child goes to is the municipality's.
  const move = await as(central, anne, 'PATCH', '/api/accounts/acc-emma', { sites: ['sondervang'] });
  t.is(move.status, 403);
  t.is(move.body.code, 'scope_denied');
  t.deepEqual((await central.api('GET', '/api/accounts/acc-emma')).body.allergies, ['peanuts']);

  const cards = await as(central, anne, 'GET', '/api/accounts/acc-emma/cards');
  t.is(cards.status, 200);
  t.deepEqual(cards.body.cards, [{ number: CARD.number, state: 'active', kind: 'legacy' }]);
  const blocked = await as(central, anne, 'POST', '/api/accounts/acc-emma/cards/7K3M-Q9XA/block');
  t.is(blocked.status, 200, blocked.text);
  t.is(blocked.body.card.state, 'blocked');
  const again = await as(central, anne, 'POST', `/api/accounts/acc-emma/cards/${CARD.number}/unblock`);
  t.is(again.body.card.state, 'active');
  // Freja's card is not Emma's.
  const other = await as(central, anne, 'POST', `/api/accounts/acc-emma/cards/${FREJA_CARD.number}/block`);
  t.is(other.status, 404);

  const statement = await as(central, anne, 'GET', `/api/accounts/acc-emma/statement?from=${today()}&to=${today()}`);
  t.is(statement.status, 200);
  t.deepEqual(
    statement.body.lines.map((l: { text: string }) => l.text),
    ['Indsat'],
  );

  const audit = await as(central, anne, 'GET', '/api/accounts/acc-emma/audit');
  t.is(audit.status, 200, audit.text);
  const lines = audit.body.lines as { who: string; who_kind: string; role: string; text_da: string }[];
  t.like(lines[0], {
    who: 'Anne Hansen',
    who_kind: 'person',
    role: 'guardian',
    text_da: `Genåbnede kortet ${CARD.number}`,
  });
  t.like(lines[1], { who: 'Anne Hansen', role: 'guardian', text_da: `Spærrede kortet ${CARD.number}` });
  t.true(lines.some((l) => l.who === 'Anne Hansen' && l.text_da === 'Ændrede maks forbrug'));
  t.true(lines.some((l) => l.who === 'tests' && l.who_kind === 'service' && l.text_da === 'Indsatte penge'));
  t.false(
    lines.some((l) => l.text_da.includes('allergier')),
    'the refused changes are not listed',
  );
  t.false(CPR_ANYWHERE.test(audit.text), 'no CPR number in the audit lines');
  t.false(CPR_ANYWHERE.test(mine.text), 'no CPR number in Mine konti');
});

test('a relation reads Mine konti and the statement (also as CSV), and is refused settings, cards and the audit lines', async (t) => {
  const { central, karen } = await family(t);
  const mine = await as(central, karen, 'GET', '/api/me/accounts');
  t.is(mine.status, 200, mine.text);
  t.deepEqual(
    mine.body.accounts.map((a: { account_id: string; role: string; balance_ore: number }) => [
      a.account_id,
      a.role,
      a.balance_ore,
    ]),
    [['acc-emma', 'relation', 20_000]],
  );
  const day = today();
  const statement = await as(central, karen, 'GET', `/api/accounts/acc-emma/statement?from=${day}&to=${day}`);
  t.is(statement.status, 200);
  t.is(statement.body.closing_balance_ore, 20_000);
  const csv = await as(central, karen, 'GET', `/api/accounts/acc-emma/statement?from=${day}&to=${day}&format=csv`);
  t.is(csv.status, 200);
  t.regex(
    csv.text,
    /"Dato \(Date\)";"Type \(Type\)";"Beløb \(Amount\)";"Saldo \(Balance\)"\r\n".+";"Indsat";200,00;200,00\r\n$/,
  );

  const refused: [string, string, unknown][] = [
    ['PATCH', '/api/accounts/acc-emma', { limits: [] }],
    ['PATCH', '/api/accounts/acc-emma', { allergies: [] }],
    ['GET', '/api/accounts/acc-emma/cards', undefined],
    ['POST', `/api/accounts/acc-emma/cards/${CARD.number}/block`, undefined],
    ['POST', `/api/accounts/acc-emma/cards/${CARD.number}/unblock`, undefined],
    ['GET', '/api/accounts/acc-emma/audit', undefined],
  ];
  for (const [method, path, body] of refused) {
    const res = await as(central, karen, method, path, body);
    t.is(res.status, 403, `${method} ${path}`);
    t.is(res.body.code, 'scope_denied', `${method} ${path}`);
  }
  const account = await central.api('GET', '/api/accounts/acc-emma');
  t.deepEqual(account.body.allergies, ['peanuts']);
  t.is((await central.api('GET', '/api/accounts/acc-emma/cards')).body.cards[0].state, 'active');
});

test('another family’s guardian learns nothing of a child that is not theirs, and no one without a session gets in', async (t) => {
  const { central, peter } = await family(t);
  const mine = await as(central, peter, 'GET', '/api/me/accounts');
  t.deepEqual(
    mine.body.accounts.map((a: { account_id: string }) => a.account_id),
    ['acc-freja'],
  );
  const day = today();
  const probes: [string, string, unknown][] = [
    ['GET', `/api/accounts/acc-emma/statement?from=${day}&to=${day}`, undefined],
    ['PATCH', '/api/accounts/acc-emma', { allergies: [] }],
    ['GET', '/api/accounts/acc-emma/cards', undefined],
    ['POST', `/api/accounts/acc-emma/cards/${CARD.number}/block`, undefined],
    ['GET', '/api/accounts/acc-emma/audit', undefined],
    // An account that does not exist answers the same.
    ['GET', `/api/accounts/acc-nobody/statement?from=${day}&to=${day}`, undefined],
  ];
  for (const [method, path, body] of probes) {
    const res = await as(central, peter, method, path, body);
    t.is(res.status, 404, `${method} ${path}`);
    t.is(res.body.code, 'not_found', `${method} ${path}`);
  }
  // His own child's card he may block.
  const own = await as(central, peter, 'POST', `/api/accounts/acc-freja/cards/${FREJA_CARD.number.slice(5)}/block`);
  t.is(own.status, 200, own.text);

  for (const path of ['/api/me/accounts', '/api/accounts/acc-emma/cards', '/api/accounts/acc-emma/audit']) {
    const res = await fetch(`${central.http}${path}`);
    t.is(res.status, 401, path);
    const forged = await fetch(`${central.http}${path}`, { headers: { cookie: '__Host-kantine_session=forged' } });
    t.is(forged.status, 401, path);
  }
  // An admin token has no "my accounts".
  const token = await central.api('GET', '/api/me/accounts');
  t.is(token.status, 403);
  t.is((await central.api('GET', '/api/accounts/acc-emma')).body.allergies.length, 1);
});

test('an administrator moves a child to another site with PATCH; school office staff change no child’s settings', async (t) => {
  const { central, idp } = await family(t);
  await central.addSite('klubben', 'club');
  const grant = async (key: string, role: string, site?: string) => {
    const res = await central.api('PUT', '/api/people/roles', {
      cpr: cprOf(key),
      role,
      granted: true,
      ...(site ? { site } : {}),
    });
    t.true(res.status >= 200 && res.status < 300, JSON.stringify(res.body));
  };
  await grant('jens', 'admin');
  await grant('lone', 'office', 'sondervang');
  const jens = await signIn(central.http, idp, 'jens');
  const lone = await signIn(central.http, idp, 'lone');

  const moved = await as(central, jens, 'PATCH', '/api/accounts/acc-emma', { sites: ['sondervang', 'klubben'] });
  t.is(moved.status, 204, moved.text);
  const account = (await central.api('GET', '/api/accounts/acc-emma')).body;
  t.deepEqual(account.sites, ['klubben', 'sondervang']);
  t.deepEqual(account.allergies, ['peanuts'], 'the other groups stay');
  const audit = await as(central, jens, 'GET', '/api/accounts/acc-emma/audit');
  t.like(audit.body.lines[0], { who: 'Jens Kommune', role: 'admin', text_da: 'Ændrede skole og klub' });

  for (const [method, path, body] of [
    ['PATCH', '/api/accounts/acc-emma', { allergies: [] }],
    ['POST', `/api/accounts/acc-emma/cards/${CARD.number}/block`, undefined],
    ['GET', '/api/accounts/acc-emma/audit', undefined],
  ] as const) {
    const res = await as(central, lone, method, path, body);
    t.is(res.status, 403, `${method} ${path}`);
    t.is(res.body.code, 'scope_denied', `${method} ${path}`);
  }
  t.deepEqual((await central.api('GET', '/api/accounts/acc-emma')).body.allergies, ['peanuts']);
});
