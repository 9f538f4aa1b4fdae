/**
 * A child's denied categories and allergies name only the municipality's lists (GET
 * /api/catalogue, catalogue_entries): a PATCH that names an id not on them is refused
 * `catalogue_unknown` (each unknown id's place as a detail) and changes nothing, not even a valid
 * group beside it. An id the account already has that has since left the list stays allowed (the
 * till keeps following it), and an id the administrator adds is taken at once.
 */
import test from 'ava';
import { startCentral } from './helpers/central.ts';
import { freshDatabase } from './helpers/postgres.ts';

test('a PATCH naming a category or allergen not on the municipality’s list is refused and changes nothing', async (t) => {
  const c = await startCentral(t, { database: { url: await freshDatabase(t, 'catalogueids') } });
  await c.addSite('sondervang');
  const put = await c.api('PUT', '/api/accounts/acc-emma', {
    first_name: 'Emma',
    sites: ['sondervang'],
    denied_categories: ['slik'],
    allergies: ['gluten'],
  });
  t.is(put.status, 204, JSON.stringify(put.body));
  const catalogue = (await c.api('GET', '/api/catalogue')).body;
  t.true(catalogue.categories.some((x: { id: string }) => x.id === 'drikke'));
  const get = async () => (await c.api('GET', '/api/accounts/acc-emma')).body;
  const before = await get();

  const refused: [string, Record<string, unknown>, string[]][] = [
    [
      'an unknown category',
      { denied_categories: ['slik', 'vodka'] },
      ['/denied_categories/1 vodka is not on the list'],
    ],
    ['an unknown allergen', { allergies: ['plutonium'] }, ['/allergies/0 plutonium is not on the list']],
    [
      'an allergen id as a category',
      { denied_categories: ['gluten'] },
      ['/denied_categories/0 gluten is not on the list'],
    ],
    [
      'an unknown id beside a valid group',
      { limits: [{ place_kind: 'school', period: 'day', limit_ore: 1_000 }], allergies: ['gluten', 'kryptonit'] },
      ['/allergies/1 kryptonit is not on the list'],
    ],
  ];
  for (const [why, body, details] of refused) {
    const res = await c.api('PATCH', '/api/accounts/acc-emma', body);
    t.is(res.status, 400, why);
    t.is(res.body?.code, 'catalogue_unknown', why);
    t.deepEqual(res.body?.details, details, why);
    t.deepEqual(await get(), before, `${why}: nothing changed`);
  }

  // Ids on the lists are taken.
  const ok = await c.api('PATCH', '/api/accounts/acc-emma', {
    denied_categories: ['slik', 'drikke'],
    allergies: ['gluten', 'maelk'],
  });
  t.is(ok.status, 204, JSON.stringify(ok.body));
  t.like(await get(), { denied_categories: ['slik', 'drikke'], allergies: ['gluten', 'maelk'] });

  // A category that leaves the list stays allowed on the account that has it; a new one is taken
  // once the administrator adds it.
  const categories = catalogue.categories.filter((x: { id: string }) => x.id !== 'slik');
  t.is((await c.api('PUT', '/api/catalogue/categories', categories)).status, 204);
  t.is((await c.api('PATCH', '/api/accounts/acc-emma', { denied_categories: ['slik'] })).status, 204);
  t.is(
    (await c.api('PATCH', '/api/accounts/acc-emma', { denied_categories: ['vodka'] })).body?.code,
    'catalogue_unknown',
  );
  t.is(
    (
      await c.api('PUT', '/api/catalogue/categories', [
        ...categories,
        { id: 'energidrik', da: 'Energidrikke', en: 'Energy drinks' },
      ])
    ).status,
    204,
  );
  t.is((await c.api('PATCH', '/api/accounts/acc-emma', { denied_categories: ['slik', 'energidrik'] })).status, 204);
  t.deepEqual((await get()).denied_categories, ['slik', 'energidrik']);
});
