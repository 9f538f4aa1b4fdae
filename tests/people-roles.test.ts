/**
 * Staff roles by CPR number (issue 17): `kantine-central role grant|revoke|list` reads the CPR
 * number from stdin (never the command line), audits the change as the operator's, lists masked;
 * the role binds when the person signs in.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Central, CprCrypto, openPglite } from '@kantine/central';
import test from 'ava';
import { type DbKind, peopleCentral } from './helpers/people.ts';
import { repoRoot } from './helpers/process.ts';

const codeOf = (err: unknown) => (err as { code?: string } | undefined)?.code;

function central(
  args: string[],
  stdin: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'central/bin/kantine-central.mjs'), ...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

test('kantine-central role grant reads the CPR number from stdin, lists it masked, audits it, and it binds at sign-in', async (t) => {
  t.timeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), 'kantine-roles-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'central.json');
  const data = join(dir, 'central');
  writeFileSync(config, JSON.stringify({ database: { dir: data } }));
  const key = randomBytes(32);
  const env = { KANTINE_CPR_KEY: key.toString('base64') };
  // the school must exist for an office role
  {
    const db = await openPglite(data);
    const c = new Central(db, { now: () => new Date() }, () => {}, { cpr: new CprCrypto(key) });
    await c.migrate();
    await c.sites.put({ id: 'sondervang', name: 'Søndervang', place_kinds: ['school'] });
    await db.close();
  }
  const office = await central(
    ['role', 'grant', '--role', 'office', '--site', 'sondervang', '--config', config],
    '140988-3146\n',
    env,
  );
  t.is(office.code, 0, office.stderr);
  t.is(office.stdout, 'office sondervang\tgranted\n');
  t.is((await central(['role', 'grant', '--role', 'admin', '--config', config], '1409883146\n', env)).code, 0);
  // refusals: no CPR number, a bad one, an unknown role or school, an office without a school
  for (const [args, stdin, code] of [
    [['role', 'grant', '--role', 'admin'], '', 'invalid_request'],
    [['role', 'grant', '--role', 'admin'], '14098831\n', 'invalid_request'],
    [['role', 'grant', '--role', 'boss'], '1409883146\n', 'invalid_request'],
    [['role', 'grant', '--role', 'office', '--site', 'ingen'], '1409883146\n', 'not_found'],
    [['role', 'grant', '--role', 'office'], '1409883146\n', 'invalid_request'],
  ] as const) {
    const res = await central([...args, '--config', config], stdin, env);
    t.is(res.code, 1, `${args.join(' ')}: ${res.stdout}`);
    t.regex(res.stderr, new RegExp(`^kantine-central: ${code}: `, 'm'), args.join(' '));
    t.notRegex(res.stderr, /1409883146|140988-3146/);
  }
  const list = await central(['role', 'list', '--config', config], '', env);
  t.is(list.code, 0, list.stderr);
  t.deepEqual(list.stdout.trim().split('\n'), [
    '140988-xxxx\tadmin\t-\t(not signed in yet)',
    '140988-xxxx\toffice\tsondervang\t(not signed in yet)',
  ]);
  const revoke = await central(['role', 'revoke', '--role', 'admin', '--config', config], '1409883146\n', env);
  t.is(revoke.stdout, 'admin\trevoked\n');

  const db = await openPglite(data);
  t.teardown(() => db.close());
  const c = new Central(db, { now: () => new Date() }, () => {}, { cpr: new CprCrypto(key) });
  await c.migrate();
  const audit = (await c.audit.list()).filter((e) => e.action.startsWith('role '));
  t.deepEqual(
    audit.map((e) => [e.scope, e.action, e.target]),
    [
      ['operator', 'role grant', { role: 'office', site: 'sondervang' }],
      ['operator', 'role grant', { role: 'admin' }],
      ['operator', 'role revoke', { role: 'admin' }],
    ],
  );
  const lone = await c.people.signIn({ issuer: 'https://idp', sub: 'lone', name: 'Lone Madsen', cpr: '1409883146' });
  t.deepEqual(await c.people.person(lone.person_id), { name: 'Lone Madsen', staff: [], office_sites: ['sondervang'] });
});

for (const kind of ['pglite', 'postgres'] as DbKind[]) {
  test(`${kind}: roles granted after sign-in hold at once, revoked ones end at once; office needs a school, admin none`, async (t) => {
    const { central: c } = await peopleCentral(t, kind);
    await c.sites.put({ id: 'sondervang', name: 'S', place_kinds: ['school'] });
    const jens = await c.people.signIn({ issuer: 'https://idp', sub: 'jens', name: 'Jens', cpr: '3001751129' });
    t.deepEqual(await c.people.roles(jens.person_id), { staff: [], office_sites: [] });
    await c.people.grantRole('300175-1129', 'admin');
    await c.people.grantRole('300175-1129', 'finance');
    await c.people.grantRole('300175-1129', 'admin'); // twice is once
    t.deepEqual(await c.people.roles(jens.person_id), { staff: ['admin', 'finance'], office_sites: [] });
    t.true(await c.people.revokeRole('3001751129', 'admin'));
    t.false(await c.people.revokeRole('3001751129', 'admin'));
    t.deepEqual(await c.people.roles(jens.person_id), { staff: ['finance'], office_sites: [] });
    t.is(codeOf(await t.throwsAsync(c.people.grantRole('3001751129', 'office'))), 'invalid_request');
    t.is(codeOf(await t.throwsAsync(c.people.grantRole('3001751129', 'admin', 'sondervang'))), 'invalid_request');
    t.is(codeOf(await t.throwsAsync(c.people.grantRole('3001751129', 'office', 'ingen'))), 'not_found');
    const listed = await c.people.listRoles();
    t.deepEqual(
      listed.map((r) => [r.cpr_masked, r.role, r.site_id, r.name]),
      [['300175-xxxx', 'finance', null, 'Jens']],
    );
  });
}
