/**
 * Every route of central × every service-token scope and every person role, through HTTP. The
 * routes come from what central registered (not a list kept here), so a route added tomorrow is in
 * the walk; what each cell should answer comes from that route's own declaration. People sign in
 * through the dev identity provider with real redirects.
 */
import { SCOPES, seedDemoPeople } from '@kantine/central';
import { DEMO_CHILDREN, DEMO_PEOPLE } from '@kantine/idp';
import test from 'ava';
import { type Knocker, knock, type MatrixObjects, mayUse } from './helpers/route-matrix.ts';
import { signIn, startCentralWithIdp } from './helpers/sign-in.ts';

/** The routes anyone may use without a credential; any other public route fails this test. */
const PUBLIC = [
  'GET /healthz',
  'GET /readyz',
  'GET /login',
  'GET /login/callback',
  'POST /logout',
  // the portal's sign-in landing, its stylesheet, the language switch and the accessibility statement
  'GET /',
  'GET /portal/portal.css',
  'GET /sprog/:lang',
  'GET /tilgaengelighed',
  // the payment provider's webhook: its signature over the raw body is the credential (topup)
  'POST /payments/webhook',
];

test('every route answers every scope and role exactly as its declaration says', async (t) => {
  t.timeout(600_000);
  const c = await startCentralWithIdp(t);
  const [service] = c.services;
  if (!service) throw new Error('no central');
  const central = service.central;
  const base = c.http[0] as string;

  // Emma and Noah at Søndervang (Lone's office), Freja at another school; guardianship by CPR.
  await central.sites.put({ id: 'soendervang', name: 'Søndervang Skole', place_kinds: ['school'] });
  await central.sites.put({ id: 'bakkeskolen', name: 'Bakkeskolen', place_kinds: ['school'] });
  await central.accounts.put({ id: 'konto-emma', first_name: 'Emma', sites: ['soendervang'] });
  await central.accounts.put({ id: 'konto-noah', first_name: 'Noah', sites: ['soendervang'] });
  await central.accounts.put({ id: 'konto-freja', first_name: 'Freja', sites: ['bakkeskolen'] });
  await seedDemoPeople(central, { people: DEMO_PEOPLE, children: DEMO_CHILDREN, office_site: 'soendervang' });

  const knockers: Knocker[] = [{ kind: 'nobody', name: 'no credential' }];
  for (const scope of SCOPES) {
    knockers.push({
      kind: 'token',
      name: `${scope} token`,
      scope,
      token: (await central.tokens.add(scope, `matrix-${scope}`)).token,
    });
  }
  const people: Record<string, Omit<Extract<Knocker, { kind: 'person' }>, 'kind' | 'name' | 'cookie' | 'csrf'>> = {
    anne: { staff: [], office_sites: [], account_role: 'guardian' }, // Emma's guardian
    karen: { staff: [], office_sites: [], account_role: 'relation' }, // Emma's grandmother
    peter: { staff: [], office_sites: [], account_role: null }, // Freja's guardian: nothing of Emma's
    lone: { staff: [], office_sites: ['soendervang'], account_role: null }, // Emma's school office
    jens: { staff: ['admin'], office_sites: [], account_role: null },
    mette: { staff: ['finance'], office_sites: [], account_role: null },
  };
  for (const [key, holds] of Object.entries(people)) {
    const s = await signIn(base, c.idp, key);
    knockers.push({ kind: 'person', name: key, cookie: s.cookie, csrf: s.csrf, ...holds });
  }

  const routes = service.routes;
  const open = routes.filter((r) => r.access === 'public').map((r) => `${r.method} ${r.url}`);
  t.deepEqual(open.sort(), [...PUBLIC].sort(), 'the public routes are exactly the known ones');
  const walked = routes.filter((r) => r.access !== 'public');
  t.true(walked.length >= 30, `central registered ${walked.length} non-public routes`);
  // Issue 18's routes are in the walk with the access they must have: the child's settings for a
  // guardian of the account only, the lists for anyone signed in, their change for administrators.
  const declared = (method: string, url: string) => walked.find((r) => r.method === method && r.url === url)?.access;
  for (const url of ['tilladelser', 'allergier', 'foto', 'foto/fjern'])
    t.deepEqual(declared('POST', `/konti/:account/indstillinger/${url}`), { tokens: [], people: ['guardian'] }, url);
  t.deepEqual(declared('POST', '/profil/kontakt'), { tokens: [], people: ['person'] });
  t.deepEqual(declared('GET', '/api/catalogue'), { tokens: ['admin'], people: ['person'] });
  t.deepEqual(declared('PUT', '/api/catalogue/categories'), { tokens: ['admin'], people: ['admin'] });
  t.deepEqual(declared('PUT', '/api/catalogue/allergens'), { tokens: ['admin'], people: ['admin'] });
  t.deepEqual(declared('PUT', '/api/me/contact'), { tokens: [], people: ['person'] });

  const o: MatrixObjects = { account: 'konto-emma', site: 'soendervang', other: 'matrix-none' };
  const wrong: string[] = [];
  let cells = 0;
  let letIn = 0;
  for (const route of walked) {
    for (const k of knockers) {
      const want = mayUse(route.access, k);
      const got = await knock(base, route, k, o);
      cells++;
      if (got.let_in) letIn++;
      if (got.odd) wrong.push(`${route.method} ${route.url} as ${k.name}: ${got.odd}`);
      if (got.let_in !== want) {
        wrong.push(
          `${route.method} ${route.url} as ${k.name}: ${want ? 'should be let in' : 'should be refused'}, got ${got.status} ${got.code ?? ''}`,
        );
      }
    }
  }
  t.log(`${walked.length} routes × ${knockers.length} credentials = ${cells} cells, ${letIn} let in`);
  t.deepEqual(wrong, [], 'every cell as declared');
  // — portalcards — The school office's pages name their school `:school`, not `:site`: the hook
  // lets any office in, and the page itself answers another school's office with the 404 of a
  // school that does not exist (the walk above filled `:school` with a name of nothing).
  const lone = knockers.find((k) => k.name === 'lone') as Extract<Knocker, { kind: 'person' }>;
  const jens = knockers.find((k) => k.name === 'jens') as Extract<Knocker, { kind: 'person' }>;
  const page = async (k: Extract<Knocker, { kind: 'person' }>, path: string) =>
    (await fetch(`${base}${path}`, { headers: { cookie: k.cookie }, redirect: 'manual' })).status;
  t.is(await page(lone, '/kontor/soendervang'), 200, "Lone at her school's office");
  t.is(await page(lone, '/kontor/bakkeskolen'), 404, "Lone at another school's office");
  t.is(await page(jens, '/kontor/bakkeskolen'), 200, 'the municipality at any school');
  t.is(await page(jens, '/kontor/matrix-none'), 404, 'a school that does not exist');
  for (const route of [
    '/kontor/:school',
    '/kontor/:school/henvendelser/:request/svar',
    '/kontor/:school/kort/:order/udlever',
  ])
    t.true(
      walked.some((r) => r.url === route),
      `${route} is in the walk`,
    );

  // The walk is not vacuous: each kind of knocker was let in somewhere and refused somewhere.
  for (const k of knockers.filter((k) => k.kind !== 'nobody')) {
    const somewhere = walked.some((r) => mayUse(r.access, k));
    const notEverywhere = walked.some((r) => !mayUse(r.access, k));
    t.true(somewhere && notEverywhere, `${k.name} is let in somewhere and refused somewhere`);
  }
});

test('a person with nothing to do with an account learns nothing of it: the same 404 as an account that does not exist', async (t) => {
  const c = await startCentralWithIdp(t);
  const central = c.services[0]?.central;
  if (!central) throw new Error('no central');
  const base = c.http[0] as string;
  await central.sites.put({ id: 'soendervang', name: 'Søndervang Skole', place_kinds: ['school'] });
  await central.accounts.put({ id: 'konto-emma', first_name: 'Emma', sites: ['soendervang'] });
  await seedDemoPeople(central, { people: DEMO_PEOPLE, children: [], office_site: 'soendervang' });
  const peter = await signIn(base, c.idp, 'peter');
  const exists = await fetch(`${base}/api/accounts/konto-emma/statement`, { headers: { cookie: peter.cookie } });
  const missing = await fetch(`${base}/api/accounts/konto-nobody/statement`, { headers: { cookie: peter.cookie } });
  t.is(exists.status, 404);
  t.is(missing.status, 404);
  const [a, b] = [(await exists.json()) as { code: string }, (await missing.json()) as { code: string }];
  t.is(a.code, 'not_found');
  t.is(b.code, 'not_found');
});
