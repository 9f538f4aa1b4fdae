/**
 * Partial updates (issue 17, item 9): `PATCH /api/accounts/:account` saves one group of an
 * account's settings and never touches another — saving the limits keeps the allergies and the
 * photo — at central (real Postgres) and at a linked gateway, which gets the change as after a
 * PUT. Each group is validated; a refused change changes nothing.
 */

import test, { type ExecutionContext } from 'ava';
import { startCentral, type TestCentral } from './helpers/central.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { startSite } from './helpers/site.ts';
import { eventually } from './helpers/wait.ts';

const PHOTO =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

/** Every group set to something other than its default. */
const FULL = {
  first_name: 'Emma',
  last_name: 'Hansen',
  place_kinds: ['school', 'club'],
  denied_categories: ['slik'],
  allergies: ['peanuts', 'gluten'],
  photo: PHOTO,
  auto_topup_ore: 20_000,
  limits: [
    { place_kind: 'school', period: 'day', limit_ore: 4_000 },
    { place_kind: 'club', period: 'day', limit_ore: 2_500 },
  ],
};

async function centralOnPostgres(t: ExecutionContext): Promise<TestCentral> {
  return startCentral(t, { database: { url: await freshDatabase(t, 'patch') } });
}

async function emma(t: ExecutionContext, central: TestCentral, sites: string[]) {
  const put = await central.api('PUT', '/api/accounts/acc-emma', { ...FULL, sites });
  t.is(put.status, 204, JSON.stringify(put.body));
}

/** What GET says of the account, without the fields a PATCH of `group` may change. */
async function settings(central: TestCentral) {
  const res = await central.api('GET', '/api/accounts/acc-emma');
  return res.body as Record<string, unknown>;
}

const GROUPS: Record<string, { body: Record<string, unknown>; fields: string[] }> = {
  name: { body: { name: { first_name: 'Emmy', last_name: 'Holm' } }, fields: ['first_name', 'last_name'] },
  place_kinds: { body: { place_kinds: ['school'] }, fields: ['place_kinds'] },
  limits: { body: { limits: [{ place_kind: 'school', period: 'week', limit_ore: 15_000 }] }, fields: ['limits'] },
  allergies: { body: { allergies: ['maelk'] }, fields: ['allergies'] },
  photo: { body: { photo: null }, fields: ['photo'] },
  auto_topup_ore: { body: { auto_topup_ore: 30_000 }, fields: ['auto_topup_ore'] },
  denied_categories: { body: { denied_categories: [] }, fields: ['denied_categories'] },
};

test('saving one group of settings changes that group and leaves every other as it was', async (t) => {
  const central = await centralOnPostgres(t);
  await central.addSite('sondervang');
  for (const [group, { body, fields }] of Object.entries(GROUPS)) {
    await emma(t, central, ['sondervang']);
    const before = await settings(central);
    const res = await central.api('PATCH', '/api/accounts/acc-emma', body);
    t.is(res.status, 204, `${group}: ${JSON.stringify(res.body)}`);
    const after = await settings(central);
    for (const [k, v] of Object.entries(before)) {
      if (fields.includes(k)) t.notDeepEqual(after[k], v, `${group} changed ${k}`);
      else t.deepEqual(after[k], v, `${group} kept ${k}`);
    }
  }
  // Two groups at once, the others untouched.
  await emma(t, central, ['sondervang']);
  // The photo as central keeps it: its own small JPEG made from the PNG given.
  const kept = (await settings(central)).photo as string;
  t.regex(kept, /^data:image\/jpeg;base64,/);
  t.is((await central.api('PATCH', '/api/accounts/acc-emma', { allergies: [], auto_topup_ore: null })).status, 204);
  const after = await settings(central);
  t.like(after, { allergies: [], auto_topup_ore: null, photo: kept, denied_categories: ['slik'], first_name: 'Emma' });
  t.is((after.limits as unknown[]).length, 2);
});

test('saving the limits keeps the allergies and the photo at central and at the linked gateway', async (t) => {
  const central = await centralOnPostgres(t);
  const link = await central.addSite('sondervang');
  await emma(t, central, ['sondervang']);
  const kept = (await settings(central)).photo as string;
  const site = await startSite(t, { site: 'sondervang', linked: true, config: { central: link } });
  const atSite = () => ({
    facts: site.ledger.accounts.getAccount('acc-emma'),
    card: site.ledger.accounts.getAccountCard('acc-emma'),
    school: site.ledger.accounts.limitsAt('acc-emma', 'school'),
  });
  await eventually(
    () => (atSite().facts?.allergies.length === 2 ? true : undefined),
    10_000,
    'the account at the site',
  );
  t.is(atSite().card?.photo, kept);

  const res = await central.api('PATCH', '/api/accounts/acc-emma', {
    limits: [
      { place_kind: 'school', period: 'day', limit_ore: 3_000 },
      { place_kind: 'school', period: 'month', limit_ore: 40_000 },
    ],
  });
  t.is(res.status, 204, JSON.stringify(res.body));

  const central_ = await settings(central);
  t.deepEqual(central_.allergies, ['peanuts', 'gluten']);
  t.is(central_.photo, kept);
  t.is(central_.auto_topup_ore, 20_000);
  t.deepEqual(central_.limits, [
    { place_kind: 'school', period: 'day', limit_ore: 3_000 },
    { place_kind: 'school', period: 'month', limit_ore: 40_000 },
  ]);

  await eventually(
    () => (atSite().school.find((l) => l.period === 'month') ? true : undefined),
    10_000,
    'the new limits at the site',
  );
  const now = atSite();
  t.deepEqual(now.school.map((l) => [l.period, l.limit_ore]).sort(), [
    ['day', 3_000],
    ['month', 40_000],
  ]);
  t.deepEqual(now.facts?.allergies, ['peanuts', 'gluten']);
  t.deepEqual(now.facts?.denied_categories, ['slik']);
  t.is(now.facts?.auto_topup_ore, 20_000);
  t.is(now.card?.photo, kept);
  t.is(now.card?.last_name, 'Hansen');
  t.deepEqual(site.ledger.accounts.limitsAt('acc-emma', 'club'), []);
});

test('a bad group is refused with a coded error and changes nothing', async (t) => {
  const central = await centralOnPostgres(t);
  await central.addSite('sondervang');
  await emma(t, central, ['sondervang']);
  const before = await settings(central);
  const refused: [string, unknown, number, string][] = [
    ['no group', {}, 400, 'invalid_request'],
    ['an unknown group', { cpr: '0101801234' }, 400, 'invalid_request'],
    ['a field outside its group', { first_name: 'X' }, 400, 'invalid_request'],
    ['a negative limit', { limits: [{ place_kind: 'school', period: 'day', limit_ore: -1 }] }, 400, 'invalid_request'],
    [
      'two limits for one kind and period',
      {
        limits: [
          { place_kind: 'school', period: 'day', limit_ore: 1_000 },
          { place_kind: 'school', period: 'day', limit_ore: 2_000 },
        ],
      },
      400,
      'invalid_request',
    ],
    ['øre in an automatic top-up (whole kroner only)', { auto_topup_ore: 15_050 }, 400, 'invalid_request'],
    ['a float', { auto_topup_ore: 150.5 }, 400, 'invalid_request'],
    [
      'an SVG photo (it can carry a script)',
      { photo: 'data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=' },
      400,
      'invalid_request',
    ],
    ['a photo that is no data URL', { photo: 'https://example.com/x.png' }, 400, 'invalid_request'],
    ['an empty first name', { name: { first_name: '' } }, 400, 'invalid_request'],
    ['an unknown place kind', { place_kinds: ['kiosk'] }, 400, 'invalid_request'],
    ['an unknown site', { sites: ['nowhere'] }, 404, 'not_found'],
    ['a body that is no object', '[1]', 400, 'invalid_request'],
  ];
  for (const [why, body, status, code] of refused) {
    const res = await central.api('PATCH', '/api/accounts/acc-emma', body);
    t.is(res.status, status, why);
    t.is(res.body?.code, code, why);
  }
  const bad = await central.api('PATCH', '/api/accounts/acc-emma', {
    allergies: ['ok'],
    limits: [{ place_kind: 'school', period: 'day', limit_ore: 'ten' }],
  });
  t.is(bad.status, 400);
  t.true(
    (bad.body.details as string[]).some((d) => d.startsWith('/limits/0/limit_ore')),
    JSON.stringify(bad.body),
  );
  t.deepEqual(await settings(central), before, 'nothing changed, not even the valid group beside a bad one');

  // Who may: an admin token (above); not finance, IT or monitoring, and not without a token.
  for (const scope of ['finance', 'it', 'monitoring'] as const) {
    const res = await central.api('PATCH', '/api/accounts/acc-emma', { allergies: [] }, await central.tokenFor(scope));
    t.is(res.status, 403, scope);
    t.is(res.body.code, 'scope_denied', scope);
  }
  const anonymous = await central.api('PATCH', '/api/accounts/acc-emma', { allergies: [] }, null);
  t.is(anonymous.status, 401);
  t.is(anonymous.body.code, 'bad_credentials');
  const unknown = await central.api('PATCH', '/api/accounts/acc-nobody', { allergies: [] });
  t.is(unknown.status, 404);
  t.is(unknown.body.code, 'not_found');
  t.deepEqual(await settings(central), before);

  // The audit log says which groups a PATCH changed.
  t.is((await central.api('PATCH', '/api/accounts/acc-emma', { allergies: [], photo: null })).status, 204);
  const audit = await central.api('GET', '/api/accounts/acc-emma/audit');
  t.is(audit.status, 200);
  t.like(audit.body.lines[0], {
    who: 'tests',
    who_kind: 'service',
    role: 'admin',
    action: 'PATCH /api/accounts/:account',
    text_da: 'Ændrede allergier, foto',
    text_en: 'Changed allergies, photo',
    target: { account: 'acc-emma', groups: 'allergies,photo' },
  });
});

test('a site added by a PATCH gets the account whole, and a site removed has its shares recalled', async (t) => {
  const central = await centralOnPostgres(t);
  await central.addSite('sondervang');
  const klub = await central.addSite('klubben', 'club');
  await emma(t, central, ['sondervang']);
  t.is((await central.api('POST', '/api/accounts/acc-emma/deposits', { amount_ore: 10_000 })).status, 201);
  const site = await startSite(t, { site: 'klubben', linked: true, config: { central: klub } });
  t.is((await central.api('PATCH', '/api/accounts/acc-emma', { sites: ['sondervang', 'klubben'] })).status, 204);
  await eventually(
    () => (site.ledger.accounts.getAccount('acc-emma')?.balance_ore === 10_000 ? true : undefined),
    10_000,
    'the account and its history at the new site',
  );
  t.deepEqual(site.ledger.accounts.getAccount('acc-emma')?.allergies, ['peanuts', 'gluten']);
  t.deepEqual((await settings(central)).sites, ['klubben', 'sondervang']);
  t.is((await central.api('PATCH', '/api/accounts/acc-emma', { sites: ['sondervang'] })).status, 204);
  t.deepEqual((await settings(central)).sites, ['sondervang']);
  t.deepEqual(await central.service.central.money.verify(), []);
});
