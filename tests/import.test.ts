/**
 * IT moves a school over from the old system with `kantine import` (a real process) into central
 * on a real Postgres: a dry run first, every bad row reported by line, nothing half-imported, and
 * a second run that changes nothing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseKroner } from '@kantine/provisioning';
import test, { type ExecutionContext } from 'ava';
import { startCentral, type TestCentral } from './helpers/central.ts';
import { kantine } from './helpers/cli.ts';
import { freshDatabase } from './helpers/postgres.ts';

// IT's token for central, made when each test's central starts.
let TOKEN = '';

// A 1×1 PNG, as a guardian's upload (central makes it its own JPEG).
const PNG_1PX =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

// The old system's export: Windows-1252, `;`, Danish amounts (as its Excel export writes them).
const HEADER = 'Elevnummer;Fornavn;Efternavn;CPR;Saldo;Automatisk optankning;Maks dag;Maks uge;Maks måned;Kort UID';
const GOOD = [
  '1001;Emma;Jensen;010115-1234;135,50;200;50,00;;;A1B2C3D4',
  '1002;Noah;Hansen;;0;;;;;',
  '1003;Søren;Ærø;;1.234,50;;;150;500;04 11 22 33 44 55 66',
  '1004;Freja;Nielsen;020216-4321;12.5;;;;;',
] as const;

function file(dir: string, name: string, lines: readonly string[], encoding: 'latin1' | 'utf8' = 'latin1'): string {
  const path = join(dir, name);
  writeFileSync(path, Buffer.from(`${lines.join('\r\n')}\r\n`, encoding));
  return path;
}

async function setup(
  t: ExecutionContext,
): Promise<{ central: TestCentral; dir: string; run: (args: string[]) => ReturnType<typeof kantine> }> {
  const url = await freshDatabase(t, 'import');
  const central = await startCentral(t, { database: { url } });
  TOKEN = await central.tokenFor('it');
  await central.service.central.sites.put({ id: 'bakkeskolen', name: 'Bakkeskolen', place_kinds: ['school'] });
  const dir = mkdtempSync(join(tmpdir(), 'kantine-import-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[]) =>
    kantine(['--json', 'import', ...args, '--site', 'bakkeskolen'], {
      cwd: dir,
      env: { KANTINE_CENTRAL: central.http, KANTINE_CENTRAL_TOKEN: TOKEN },
    });
  return { central, dir, run };
}

/** What central holds that an import could change. */
async function snapshot(central: TestCentral) {
  const q = (sql: string) => central.service.central.db.query(sql);
  return {
    accounts: await q('SELECT id, first_name, last_name, auto_topup_ore, balance_ore FROM accounts ORDER BY id'),
    limits: await q('SELECT * FROM spend_limits ORDER BY account_id, place_kind, period'),
    cards: await q('SELECT uid, account_id, state, kind FROM cards ORDER BY uid'),
    entries: await q('SELECT id, account_id, kind, amount_ore FROM entries ORDER BY seq'),
    down: await q('SELECT id, down_seq FROM sites ORDER BY id'),
  };
}

test.serial(
  'a dry run reports and changes nothing; the import books everything in one go; the second run changes nothing',
  async (t) => {
    const { central, dir, run } = await setup(t);
    const csv = file(dir, 'bakkeskolen.csv', [HEADER, ...GOOD]);
    const before = await snapshot(central);

    const dry = await run([csv, '--dry-run']);
    t.is(dry.code, 0, dry.stderr);
    t.deepEqual(dry.json, {
      dry_run: true,
      site: 'bakkeskolen',
      rows: 4,
      created: 4,
      updated: 0,
      unchanged: 0,
      opening_balance_ore: 13_550 + 123_450 + 1_250,
      cards_added: 2,
    });
    t.deepEqual(await snapshot(central), before, 'a dry run changes nothing');

    const done = await run([csv]);
    t.is(done.code, 0, done.stderr);
    t.like(done.json, { dry_run: false, created: 4, opening_balance_ore: 138_250, cards_added: 2 });
    const c = central.service.central;
    t.like(await c.accounts.get('elev-1001'), {
      first_name: 'Emma',
      last_name: 'Jensen',
      balance_ore: 13_550,
      auto_topup_ore: 20_000,
    });
    t.like(await c.accounts.get('elev-1003'), { first_name: 'Søren', last_name: 'Ærø', balance_ore: 123_450 });
    t.deepEqual((await c.accounts.get('elev-1001'))?.limits, [
      { place_kind: 'club', period: 'day', limit_ore: 5_000 },
      { place_kind: 'school', period: 'day', limit_ore: 5_000 },
    ]);
    const after = await snapshot(central);
    t.deepEqual(after.cards, [
      { uid: '04112233445566', account_id: 'elev-1003', state: 'active', kind: 'legacy' },
      { uid: 'A1B2C3D4', account_id: 'elev-1001', state: 'active', kind: 'legacy' },
    ]);
    t.is(after.entries.length, 3, 'one opening deposit per child with money');
    t.deepEqual(await c.money.verify(), [], "central's books balance");

    // The same file again: nothing changes, not even a message to the school.
    const again = await run([csv]);
    t.is(again.code, 0, again.stderr);
    t.like(again.json, { created: 0, updated: 0, unchanged: 4, opening_balance_ore: 0, cards_added: 0 });
    t.deepEqual(await snapshot(central), after);

    // What a guardian keeps in the portal — places, denied categories, allergies, photo — is not in
    // the school's file, and a re-import that updates the child keeps it.
    await c.accounts.patch('elev-1003', {
      place_kinds: ['school'],
      denied_categories: ['slik'],
      allergies: ['gluten'],
      photo: PNG_1PX,
    });
    const kept = await c.db.query(
      "SELECT place_kinds, denied_categories, allergies, photo FROM accounts WHERE id = 'elev-1003'",
    );
    t.truthy((kept[0] as { photo: string | null }).photo);

    // A corrected file (Noah got a limit, Søren his CPR number) changes those children only.
    const corrected = file(
      dir,
      'rettet.csv',
      [
        HEADER,
        GOOD[0],
        '1002;Noah;Hansen;;0;;40;;;',
        '1003;Søren;Ærø;030317-1111;1.234,50;;;150;500;04 11 22 33 44 55 66',
        GOOD[3],
      ],
      'utf8',
    );
    const third = await run([corrected]);
    t.like(third.json, { created: 0, updated: 2, unchanged: 2, opening_balance_ore: 0 });
    // kept as its HMAC (and a sealed copy) only
    const [soren] = await central.service.central.db.query<{ cpr_hmac: Uint8Array }>(
      "SELECT cpr_hmac FROM accounts WHERE id = 'elev-1003'",
    );
    t.true(Buffer.from(soren?.cpr_hmac ?? []).equals(central.service.central.people.cpr.hmac('030317-1111')));
    t.deepEqual(
      await c.db.query("SELECT place_kinds, denied_categories, allergies, photo FROM accounts WHERE id = 'elev-1003'"),
      kept,
      "Søren's guardian's settings and photo survive the update, the photo as stored",
    );
  },
);

test.serial('bad rows are listed with their line and reason, and nothing is imported', async (t) => {
  const { central, dir, run } = await setup(t);
  const before = await snapshot(central);
  const csv = file(dir, 'fejl.csv', [
    HEADER,
    GOOD[0],
    '1005;Ida;Berg;;12,345;;;;;', // line 3
    '1006;Oscar;Lund;;10;;;;;XYZ', // line 4
    '1007;;Holm;;10;;;;;', // line 5
    '1001;Emma;Igen;;5;;;;;', // line 6: Emma twice
    '1008;Alma;Kro;;-20;50;;;;', // line 7
    ...GOOD.slice(1),
  ]);
  const res = await run([csv, '--dry-run']);
  t.is(res.code, 2);
  const { error } = JSON.parse(res.stderr.trim().split('\n').at(-1) as string);
  t.is(error.code, 'import_invalid');
  t.deepEqual(
    error.details.map((d: string) => d.split(':')[0]),
    ['line 3', 'line 4', 'line 5', 'line 7'],
    error.details.join('\n'),
  );
  t.regex(error.details[0], /saldo: "12,345" is not an amount/);
  t.regex(error.details[1], /kort_uid "XYZ"/);
  t.regex(error.details[2], /fornavn is empty/);
  t.regex(
    error.details[3],
    /saldo -20 must be at least 0 kr; automatisk_optankning 50 must be at least 1 kr|must be at least/,
  );
  t.truthy(error.action_en);

  // Only the duplicate left: central finds it (the file is otherwise sound)
  const dup = file(dir, 'dup.csv', [HEADER, GOOD[0], '1001;Emma;Igen;;5;;;;;', ...GOOD.slice(1)]);
  const dupRes = await run([dup]);
  t.is(dupRes.code, 2);
  t.deepEqual(JSON.parse(dupRes.stderr.trim()).error.details, ['line 3: account elev-1001 is also on line 2']);

  // A card that central already knows on another account: the whole file is refused.
  const c = central.service.central;
  await c.accounts.put({ id: 'elev-9999', first_name: 'Anden', sites: ['bakkeskolen'] });
  await c.cards.put({ uid: 'A1B2C3D4', kind: 'legacy' });
  await c.cards.activate('A1B2C3D4', 'elev-9999');
  const mid = await snapshot(central);
  const clash = await run([file(dir, 'ok.csv', [HEADER, ...GOOD])]);
  t.is(clash.code, 2);
  t.deepEqual(JSON.parse(clash.stderr.trim()).error.details, [
    'line 2: card A1B2C3D4 is already active on account elev-9999',
  ]);
  t.deepEqual(await snapshot(central), mid, 'nothing half-imported');
  t.notDeepEqual(mid, before);

  // Files that are not the export at all
  const wrongHeader = await run([file(dir, 'x.csv', ['navn,saldo', 'Emma,10'])]);
  t.is(wrongHeader.code, 2);
  t.regex(wrongHeader.stderr, /column elevnummer is missing/);
  const broken = await run([file(dir, 'y.csv', [HEADER, '1001;"Emma;Jensen;;10;;;;;'])]);
  t.is(broken.code, 2);
  t.regex(broken.stderr, /import_invalid/);
  const none = await run([join(dir, 'findes-ikke.csv')]);
  t.is(none.code, 2);
  t.regex(none.stderr, /cannot read/);
});

test.serial(
  'central refuses an import without its token and for an unknown school; unreachable central is coded',
  async (t) => {
    const { dir, central } = await setup(t);
    const csv = file(dir, 'a.csv', [HEADER, ...GOOD]);
    const env = { KANTINE_CENTRAL: central.http };
    const noToken = await kantine(['--json', 'import', csv, '--site', 'bakkeskolen'], { cwd: dir, env });
    t.like(JSON.parse(noToken.stderr.trim()), { error: { code: 'bad_credentials' } });
    const unknown = await kantine(['--json', 'import', csv, '--site', 'ukendt'], {
      cwd: dir,
      env: { ...env, KANTINE_CENTRAL_TOKEN: TOKEN },
    });
    t.like(JSON.parse(unknown.stderr.trim()), { error: { code: 'not_found' } });
    const away = await kantine(['--json', 'import', csv, '--site', 'bakkeskolen', '--central', 'http://127.0.0.1:9'], {
      cwd: dir,
    });
    t.like(JSON.parse(away.stderr.trim()), { error: { code: 'central_unreachable' } });
    const noCentral = await kantine(['import', csv, '--site', 'bakkeskolen'], { cwd: dir });
    t.is(noCentral.code, 2);
    t.regex(noCentral.stderr, /--central/);
  },
);

test('amounts in kroner are read as the old system wrote them', (t) => {
  t.is(parseKroner('135,50'), 13_550);
  t.is(parseKroner('1.234,50'), 123_450);
  t.is(parseKroner('135.5'), 13_550);
  t.is(parseKroner('12 kr'), 1_200);
  t.is(parseKroner(''), undefined);
  t.is(parseKroner('-3,00'), -300);
  t.like(parseKroner('12,345'), { problem: '"12,345" is not an amount in kroner (e.g. 135,50)' });
  t.like(parseKroner('abc'), { problem: '"abc" is not an amount in kroner (e.g. 135,50)' });
});
