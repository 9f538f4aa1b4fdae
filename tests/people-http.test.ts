/**
 * The people routes through HTTP as signed-in people (issue 17): every person signs in through
 * the dev identity provider (a real process, real redirects). The demo's people are placed by
 * CPR number first (`seedDemoPeople`) and bind at sign-in; a guardian adds a child's account,
 * invites and removes relations; the school office sets a child's guardians; an administrator
 * grants roles. No CPR number reaches an answer or a log line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CentralService, parseCentralConfig, seedDemoPeople } from '@kantine/central';
import { DEMO_CHILDREN, DEMO_PEOPLE } from '@kantine/idp';
import { CARD_NUMBER_ALPHABET } from '@kantine/protocol';
import { newCardNumber } from '@kantine/provisioning';
import test, { type ExecutionContext } from 'ava';
import pino from 'pino';
import { type RunningIdp, startIdp } from './helpers/idp.ts';
import { CPR_ANYWHERE } from './helpers/people.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { freePort } from './helpers/process.ts';
import { type SignedIn, signIn } from './helpers/sign-in.ts';

const CLIENT_ID = 'kantine-central';
const CLIENT_SECRET = 'central-secret-for-people-tests-0123456789';

let logText = '';
const log = pino(
  { level: 'debug' },
  new Writable({
    write(chunk, _enc, done) {
      logText += chunk.toString();
      done();
    },
  }),
);

const cleanups: (() => unknown)[] = [];
const hooks = { teardown: (fn: () => unknown) => cleanups.push(fn) } as unknown as ExecutionContext;
let idp: RunningIdp;
let base: string;
let service: CentralService;
let adminToken: string;
/** The printed card numbers of the children's cards. */
const cards: Record<string, string> = {};
/** Every answer central gave in this file, for the CPR check at the end. */
const answers: string[] = [];
const people: Record<string, SignedIn> = {};

const cprOf = (key: string) =>
  (DEMO_PEOPLE.find((p) => p.key === key) ?? DEMO_CHILDREN.find((c) => c.key === key))?.cpr as string;
const typed = (printed: string) => printed.slice(5);

test.before(async () => {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  idp = await startIdp(hooks, [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [`${publicUrl}/login/callback`],
      post_logout_redirect_uris: [`${publicUrl}/`],
    },
  ]);
  const keyDir = mkdtempSync(join(tmpdir(), 'kantine-people-http-'));
  cleanups.push(() => rmSync(keyDir, { recursive: true, force: true }));
  service = new CentralService({
    config: parseCentralConfig({
      database: { url: await freshDatabase(hooks, 'peoplehttp') },
      mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0, tls: 'off' },
      http: { host: '127.0.0.1', port },
      identity: {
        issuer: idp.issuer,
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        public_url: publicUrl,
        cpr_key_file: join(keyDir, 'cpr.key'),
      },
    }),
    log,
  });
  await service.start();
  cleanups.push(() => service.stop());
  base = publicUrl;
  const { central } = service;
  adminToken = (await central.tokens.add('admin', 'people-tests')).token;
  for (const site of ['sondervang', 'andenskole'])
    await central.sites.put({ id: site, name: site, place_kinds: ['school'] });
  for (const [i, child] of ['emma', 'noah', 'freja', 'ida'].entries()) {
    const account = `konto-${child}`;
    await central.accounts.put({
      id: account,
      first_name: child,
      sites: [child === 'ida' ? 'andenskole' : 'sondervang'],
    });
    cards[child] = newCardNumber('9208');
    const uid = `04000000000A0${i}`;
    await central.cards.put({ uid, kind: 'legacy', card_number: cards[child] });
    await central.cards.activate(uid, account);
  }
  await seedDemoPeople(central, { people: DEMO_PEOPLE, children: DEMO_CHILDREN });
  for (const key of ['anne', 'peter', 'karen', 'lone', 'jens', 'mette']) people[key] = await signIn(base, idp, key);
});

test.after.always(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

/** A call to central as a signed-in person (with the session's CSRF token) or with a token. */
async function call(
  as: string,
  method: string,
  path: string,
  body?: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: JSON from the API, read field by field
): Promise<{ status: number; body: any; headers: Headers }> {
  const who = people[as];
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(who ? { cookie: who.cookie, 'x-csrf-token': who.csrf } : { authorization: `Bearer ${as}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  answers.push(text);
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

test.serial(
  'the demo people placed by CPR number bind at their sign-in: guardians, a relation, office, admin, finance',
  async (t) => {
    const p = service.central.people;
    const id = (key: string) => people[key]?.person_id as string;
    t.is(await p.onAccount(id('anne'), 'konto-emma'), 'guardian');
    t.is(await p.onAccount(id('anne'), 'konto-noah'), 'guardian');
    t.is(await p.onAccount(id('peter'), 'konto-freja'), 'guardian');
    t.is(await p.onAccount(id('peter'), 'konto-emma'), null);
    t.is(await p.onAccount(id('karen'), 'konto-emma'), 'relation');
    t.deepEqual(await p.roles(id('lone')), { staff: [], office_sites: ['sondervang'] });
    t.deepEqual(await p.roles(id('jens')), { staff: ['admin'], office_sites: [] });
    t.deepEqual(await p.roles(id('mette')), { staff: ['finance'], office_sites: [] });
    const me = await call('anne', 'GET', '/api/me');
    t.is(me.status, 200);
  },
);

test.serial(
  "the school office lists a child's guardians; a guardian listed after sign-in adds the account with CPR and card number",
  async (t) => {
    const put = await call('lone', 'PUT', '/api/accounts/konto-noah/guardian-cprs', {
      cprs: [cprOf('anne'), cprOf('peter')],
    });
    t.is(put.status, 204, JSON.stringify(put.body));
    const listed = await call('lone', 'GET', '/api/accounts/konto-noah/guardian-cprs');
    t.deepEqual(
      listed.body.guardians.map((g: { cpr_masked: string }) => g.cpr_masked),
      [`${cprOf('anne').slice(0, 6)}-xxxx`, `${cprOf('peter').slice(0, 6)}-xxxx`],
    );
    // not the office of another school's child, and not a guardian
    t.is((await call('lone', 'PUT', '/api/accounts/konto-ida/guardian-cprs', { cprs: [] })).status, 404);
    t.is((await call('anne', 'PUT', '/api/accounts/konto-emma/guardian-cprs', { cprs: [] })).status, 403);
    t.is((await call('karen', 'GET', '/api/accounts/konto-emma/guardian-cprs')).status, 403);
    // The office cannot make itself a child's guardian (money and all): a colleague must.
    const self = await call('lone', 'PUT', '/api/accounts/konto-noah/guardian-cprs', {
      cprs: [cprOf('anne'), cprOf('lone')],
    });
    t.is(self.status, 403);
    t.is(self.body.code, 'guardian_self_refused');
    t.is(
      (await call('lone', 'GET', '/api/accounts/konto-noah/guardian-cprs')).body.guardians.length,
      2,
      'nothing changed',
    );

    t.is((await call('peter', 'GET', '/api/accounts/konto-noah/relations')).status, 404, 'not his yet');
    const added = await call('peter', 'POST', '/api/me/accounts', {
      cpr: cprOf('noah'),
      card_number: typed(cards.noah as string).toLowerCase(),
    });
    t.is(added.status, 201, JSON.stringify(added.body));
    t.deepEqual(added.body, { account_id: 'konto-noah' });
    t.is((await call('peter', 'GET', '/api/accounts/konto-noah/relations')).status, 200);
  },
);

test.serial(
  "every failure to add a child's account is the same answer, and too many are 429 with Retry-After",
  async (t) => {
    const printed = cards.emma as string;
    const wrongCheck = `${printed.slice(0, -1)}${CARD_NUMBER_ALPHABET[(CARD_NUMBER_ALPHABET.indexOf(printed.at(-1) as string) + 1) % 31]}`;
    const tries: [string, unknown][] = [
      ['karen', { cpr: cprOf('emma'), card_number: typed(printed) }], // a relation, all else right
      ['mette', { cpr: cprOf('emma'), card_number: typed(printed) }], // no one's guardian
      ['mette', { cpr: cprOf('emma'), card_number: typed(wrongCheck) }],
      ['mette', { cpr: cprOf('freja'), card_number: typed(printed) }],
      ['mette', { cpr: '0101010000', card_number: typed(printed) }],
    ];
    const bodies: string[] = [];
    for (const [who, body] of tries) {
      const res = await call(who, 'POST', '/api/me/accounts', body);
      t.is(res.status, 400);
      bodies.push(JSON.stringify(res.body));
    }
    t.is(new Set(bodies).size, 1, bodies.join('\n'));
    t.is(JSON.parse(bodies[0] as string).code, 'account_not_matched');
    // Mette's fifth failure fills her window
    t.is(
      (await call('mette', 'POST', '/api/me/accounts', { cpr: cprOf('noah'), card_number: 'AAAA-AAAA' })).status,
      400,
    );
    const limited = await call('mette', 'POST', '/api/me/accounts', { cpr: cprOf('noah'), card_number: 'AAAA-AAAA' });
    t.is(limited.status, 429);
    t.is(limited.body.code, 'too_many_attempts');
    t.regex(limited.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
    // not signed in: no entry at all
    const anon = await fetch(`${base}/api/me/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ cpr: cprOf('emma'), card_number: typed(printed) }),
    });
    t.is(anon.status, 401);
  },
);

test.serial(
  'a guardian invites a relation by e-mail and by CPR number, lists and removes them; a relation may do none of it',
  async (t) => {
    const invite = await call('anne', 'POST', '/api/accounts/konto-emma/relations', { email: 'mette@example.dk' });
    t.is(invite.status, 201, JSON.stringify(invite.body));
    t.regex(invite.body.accept_path, /^\/api\/me\/invites\/[A-Za-z0-9_-]{43}\/accept$/);
    const accepted = await call('mette', 'POST', invite.body.accept_path);
    t.deepEqual(accepted.body, { account_id: 'konto-emma' });
    t.is((await call('peter', 'POST', invite.body.accept_path)).body.code, 'invite_invalid', 'used once');
    const byCpr = await call('anne', 'POST', '/api/accounts/konto-emma/relations', { cpr: cprOf('peter') });
    t.is(byCpr.status, 201);
    const list = await call('anne', 'GET', '/api/accounts/konto-emma/relations');
    t.deepEqual(list.body.people.map((p: { name: string }) => p.name).sort(), ['Karen Hansen', 'Mette Økonomi']);
    // Peter has signed in before, yet his number waits like anyone's: the answer tells no name
    t.deepEqual(
      list.body.waiting.map((w: { id: string; cpr_masked: string }) => [w.id, w.cpr_masked]),
      [[byCpr.body.id, `${cprOf('peter').slice(0, 6)}-xxxx`]],
    );
    t.is(await service.central.people.onAccount(people.peter?.person_id as string, 'konto-emma'), null);
    people.peter = await signIn(base, idp, 'peter');
    t.is(
      await service.central.people.onAccount(people.peter.person_id, 'konto-emma'),
      'relation',
      'bound at his sign-in',
    );
    t.deepEqual((await call('anne', 'GET', '/api/accounts/konto-emma/relations')).body.waiting, []);
    // a relation: no relations of their own to add, none to list, none to remove
    t.is((await call('karen', 'GET', '/api/accounts/konto-emma/relations')).status, 403);
    t.is((await call('karen', 'POST', '/api/accounts/konto-emma/relations', { email: 'x@example.dk' })).status, 403);
    const mette = people.mette?.person_id as string;
    t.is((await call('karen', 'POST', `/api/accounts/konto-emma/relations/${mette}/remove`)).status, 403);
    // staff are no guardians; a stranger: the account does not exist for them
    t.is((await call('lone', 'GET', '/api/accounts/konto-emma/relations')).status, 403);
    t.is((await call('peter', 'GET', '/api/accounts/konto-ida/relations')).status, 404);

    t.is((await call('anne', 'POST', `/api/accounts/konto-emma/relations/${mette}/remove`)).status, 204);
    t.is(await service.central.people.onAccount(mette, 'konto-emma'), null);
    const anne = people.anne?.person_id as string;
    t.is(
      (await call('anne', 'POST', `/api/accounts/konto-emma/relations/${anne}/remove`)).status,
      404,
      'not a guardian',
    );
    // the audit names the accept route but never the invitation's token
    const audit = await call(adminToken, 'GET', '/api/audit');
    const token = (invite.body.accept_path as string).split('/')[4] as string;
    t.true(
      audit.body.entries.some(
        (e: { action: string; target: { account?: string } }) =>
          e.action === 'POST /api/me/invites/:invite/accept' && e.target.account === 'konto-emma',
      ),
      'the accept names the child it reached',
    );
    t.true(
      audit.body.entries.some(
        (e: { action: string; status: number; target: { account?: string } }) =>
          e.action === 'POST /api/me/accounts' && e.status === 201 && e.target.account === 'konto-noah',
      ),
      "adding a child's account is on the child's audit",
    );
    t.false(JSON.stringify(audit.body).includes(token));
  },
);

test.serial(
  'an administrator (person or token) grants and lists staff roles by CPR number; no one else may',
  async (t) => {
    const grant = { cpr: '010203-4455', role: 'office', site: 'andenskole', granted: true };
    t.is((await call('jens', 'PUT', '/api/people/roles', grant)).status, 204);
    t.is(
      (await call(adminToken, 'PUT', '/api/people/roles', { cpr: '0102034455', role: 'finance', granted: true }))
        .status,
      204,
    );
    const list = await call('jens', 'GET', '/api/people/roles');
    t.deepEqual(
      list.body.roles
        .filter((r: { cpr_masked: string }) => r.cpr_masked === '010203-xxxx')
        .map((r: { role: string; site_id: string | null }) => [r.role, r.site_id]),
      [
        ['finance', null],
        ['office', 'andenskole'],
      ],
    );
    t.is((await call(adminToken, 'PUT', '/api/people/roles', { ...grant, granted: false })).status, 204);
    for (const who of ['lone', 'mette', 'anne']) {
      t.is((await call(who, 'PUT', '/api/people/roles', grant)).status, 403, who);
      t.is((await call(who, 'GET', '/api/people/roles')).status, 403, who);
    }
    for (const bad of [
      { ...grant, role: 'boss' },
      { ...grant, cpr: '12' },
      { cpr: '0102034455', role: 'office', granted: true }, // an office role names its site
      { cpr: '0102034455', role: 'admin', site: 'andenskole', granted: true },
      { ...grant, site: 'no-such-school' },
    ]) {
      const res = await call('jens', 'PUT', '/api/people/roles', bad);
      t.true(res.status === 400 || res.status === 404, JSON.stringify(res.body));
    }
  },
);

test.serial('no CPR number in any answer of central or any line it logged', async (t) => {
  // every CPR number this file used, with and without the dash (a UUID's digits are no CPR number)
  const used = [...DEMO_PEOPLE, ...DEMO_CHILDREN].map((p) => p.cpr).concat(['0102034455', '0101010000']);
  const CPR_USED = new RegExp(used.map((c) => `${c.slice(0, 6)}-?${c.slice(6)}`).join('|'));
  t.true(answers.length > 30);
  t.deepEqual(
    answers.filter((a) => CPR_USED.test(a)),
    [],
  );
  // and nothing CPR-shaped in the answers that are not ids
  t.deepEqual(
    answers.filter((a) =>
      CPR_ANYWHERE.test(a.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'uuid')),
    ),
    [],
  );
  // nor in any table of central's database, in any column
  const db = service.central.db;
  const tables = await db.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
  );
  t.true(tables.length > 10);
  for (const { table_name } of tables) {
    const rows = await db.query(`SELECT * FROM ${table_name}`);
    const text = JSON.stringify(rows, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v));
    t.notRegex(text, CPR_USED, table_name);
  }
  t.regex(logText, /"level"/, 'central logged, so the scan reads something');
  t.deepEqual(
    logText.split('\n').filter((l) => CPR_USED.test(l)),
    [],
  );
});
