/**
 * CPR numbers at rest (issue 17): only a keyed HMAC and an AES-GCM copy are stored, the key comes
 * from KANTINE_CPR_KEY or a 0600 key file made on first start, a database sealed with another key
 * is refused at start with a coded error, and an older database's plaintext is sealed and dropped.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Central,
  CentralService,
  CprCrypto,
  loadCentralConfig,
  loadCprKey,
  maskCpr,
  migrate,
  migrations,
  openPglite,
  openPostgres,
} from '@kantine/central';
import test, { type ExecutionContext } from 'ava';
import { CPR_ANYWHERE, type DbKind, peopleCentral } from './helpers/people.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { repoRoot } from './helpers/process.ts';
import { silent } from './helpers/site.ts';

function tmp(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-cpr-key-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const codeOf = (err: unknown) => (err as { code?: string } | undefined)?.code;

test('the key file is made on first use with mode 0600 and read back the same; the environment wins over it', (t) => {
  const file = join(tmp(t), 'keys', 'cpr.key');
  const made = loadCprKey({ file });
  t.is(made.from, 'new-file');
  t.is(statSync(file).mode & 0o777, 0o600);
  const again = loadCprKey({ file });
  t.is(again.from, 'file');
  t.true(again.key.equals(made.key));
  const env = randomBytes(32);
  const fromEnv = loadCprKey({ env: env.toString('base64'), file });
  t.is(fromEnv.from, 'env');
  t.true(fromEnv.key.equals(env));
});

test('a key that is not 32 bytes of base64, or a key file others may read, is refused with cpr_key_invalid', (t) => {
  const dir = tmp(t);
  for (const env of ['short', randomBytes(16).toString('base64'), `${randomBytes(32).toString('base64')}!`]) {
    t.is(codeOf(t.throws(() => loadCprKey({ env, file: join(dir, 'none') }))), 'cpr_key_invalid');
  }
  const open = join(dir, 'open.key');
  writeFileSync(open, randomBytes(32).toString('base64'), { mode: 0o644 });
  const err = t.throws(() => loadCprKey({ file: open }));
  t.is(codeOf(err), 'cpr_key_invalid');
  t.regex((err as unknown as { details: string[] }).details.join(' '), /chmod 600/);
  const bad = join(dir, 'bad.key');
  writeFileSync(bad, 'not a key', { mode: 0o600 });
  t.is(codeOf(t.throws(() => loadCprKey({ file: bad }))), 'cpr_key_invalid');
});

test('the HMAC is the same with or without the dash; the sealed copy opens only with its key; the mask hides the last four', (t) => {
  const a = new CprCrypto(randomBytes(32));
  const b = new CprCrypto(randomBytes(32));
  t.true(a.hmac('010190-1234').equals(a.hmac('0101901234')));
  t.false(a.hmac('0101901234').equals(b.hmac('0101901234')));
  const sealed = a.seal('010190-1234');
  t.false(sealed.toString('latin1').includes('0101901234'));
  t.false(a.seal('0101901234').equals(sealed), 'a random IV each time');
  t.is(a.open(sealed), '0101901234');
  t.is(codeOf(t.throws(() => b.open(sealed))), 'cpr_key_wrong');
  t.is(maskCpr('0101901234'), '010190-xxxx');
  t.is(a.maskSealed(sealed), '010190-xxxx');
  const err = t.throws(() => a.hmac('01019012345'));
  t.is(codeOf(err), 'invalid_request');
  t.notRegex(err?.message ?? '', CPR_ANYWHERE);
});

for (const kind of ['pglite', 'postgres'] as DbKind[]) {
  test(`${kind}: a database sealed with one key is refused at start with another (cpr_key_wrong), and opens with its own`, async (t) => {
    const { db, key } = await peopleCentral(t, kind);
    const other = new Central(db, { now: () => new Date() }, () => {}, { cpr: new CprCrypto(randomBytes(32)) });
    const err = await t.throwsAsync(other.migrate());
    t.is(codeOf(err), 'cpr_key_wrong');
    const same = new Central(db, { now: () => new Date() }, () => {}, { cpr: new CprCrypto(key) });
    await t.notThrowsAsync(same.migrate());
  });

  test(`${kind}: an older database's plaintext CPR numbers are sealed at start, the plaintext columns and the guardians table dropped`, async (t) => {
    const db = kind === 'pglite' ? await openPglite() : await openPostgres(await freshDatabase(t, 'people'));
    t.teardown(() => db.close());
    // the schema before people (found by its table, so that renumbering the migrations keeps this true)
    await migrate(
      db,
      migrations.findIndex((m) => m.includes('CREATE TABLE people')),
    );
    await db.query(
      `INSERT INTO accounts (id, first_name, cpr) VALUES ('acc-ida', 'Ida', '010115-1234'), ('acc-bo', 'Bo', NULL)`,
    );
    await db.query(
      `INSERT INTO guardians (id, name, cpr) VALUES ('mor', 'Mor', '020280-4321'), ('far', 'Far', NULL), ('mormor', 'Inge', '0303501111')`,
    );
    await db.query(
      `INSERT INTO account_guardians (account_id, guardian_id, role) VALUES ('acc-ida', 'mor', 'guardian'), ('acc-ida', 'far', 'guardian'), ('acc-ida', 'mormor', 'relation')`,
    );
    const key = randomBytes(32);
    const central = new Central(db, { now: () => new Date() }, () => {}, { cpr: new CprCrypto(key) });
    await central.migrate();

    t.deepEqual(
      await db.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'cpr'",
      ),
      [],
    );
    t.deepEqual(
      await db.query("SELECT to_regclass('guardians')::text AS t, to_regclass('legacy_account_guardians')::text AS l"),
      [{ t: null, l: null }],
    );
    // every table, every row: no CPR number in plain text anywhere
    const tables = await db.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    for (const { table_name } of tables) {
      const rows = await db.query(`SELECT * FROM ${table_name}`);
      const text = JSON.stringify(rows, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v));
      t.notRegex(text, CPR_ANYWHERE, table_name);
    }
    const [ida] = await db.query<{ cpr_hmac: Uint8Array; cpr_enc: Uint8Array }>(
      "SELECT cpr_hmac, cpr_enc FROM accounts WHERE id = 'acc-ida'",
    );
    t.true(Buffer.from(ida?.cpr_hmac ?? []).equals(central.people.cpr.hmac('0101151234')));
    t.is(central.people.cpr.open(ida?.cpr_enc ?? new Uint8Array()), '0101151234');
    // The old ties wait on Ida's record under the CPR numbers; they bind at sign-in.
    t.deepEqual(await central.people.guardianCprs('acc-ida'), [{ cpr_masked: '020280-xxxx', person_id: null }]);
    const mor = await central.people.signIn({ issuer: 'https://idp', sub: 'mor', name: 'Mor', cpr: '0202804321' });
    const mormor = await central.people.signIn({
      issuer: 'https://idp',
      sub: 'mormor',
      name: 'Inge',
      cpr: '030350-1111',
    });
    t.is(await central.people.onAccount(mor.person_id, 'acc-ida'), 'guardian');
    t.is(await central.people.onAccount(mormor.person_id, 'acc-ida'), 'relation');
    // and a second start changes nothing
    await t.notThrowsAsync(central.migrate());
  });
}

test.serial(
  "central (and its commands) with another KANTINE_CPR_KEY than its database's refuses to start, with the code",
  async (t) => {
    const dir = tmp(t);
    const data = join(dir, 'central');
    const config = join(dir, 'central.json');
    writeFileSync(
      config,
      JSON.stringify({
        database: { dir: data },
        mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0, tls: 'off' },
        http: { host: '127.0.0.1', port: 0 },
      }),
    );
    const run = (env: Record<string, string>) =>
      spawnSync(
        process.execPath,
        [join(repoRoot, 'central/bin/kantine-central.mjs'), 'role', 'list', '--config', config],
        {
          env: { ...process.env, ...env },
          encoding: 'utf8',
          timeout: 120_000,
        },
      );
    // the first use makes the key file beside the database folder, 0600
    const first = run({ KANTINE_CPR_KEY: '' });
    t.is(first.status, 0, first.stderr);
    const file = `${data}-keys/cpr.key`;
    t.is(statSync(file).mode & 0o777, 0o600);
    t.is(run({ KANTINE_CPR_KEY: readFileSync(file, 'utf8').trim() }).status, 0, 'the same key from the environment');
    const wrong = run({ KANTINE_CPR_KEY: randomBytes(32).toString('base64') });
    t.is(wrong.status, 1);
    t.regex(wrong.stderr, /^kantine-central: cpr_key_wrong: /m);
    // the worker itself: its start stops at the key check
    const before = process.env.KANTINE_CPR_KEY;
    process.env.KANTINE_CPR_KEY = randomBytes(32).toString('base64');
    const service = new CentralService({ config: loadCentralConfig(config), log: silent });
    try {
      t.is(codeOf(await t.throwsAsync(service.start())), 'cpr_key_wrong');
    } finally {
      if (before === undefined) delete process.env.KANTINE_CPR_KEY;
      else process.env.KANTINE_CPR_KEY = before;
      await service.stop();
    }
    const invalid = run({ KANTINE_CPR_KEY: 'nonsense' });
    t.is(invalid.status, 1);
    t.regex(invalid.stderr, /^kantine-central: cpr_key_invalid: /m);
  },
);
