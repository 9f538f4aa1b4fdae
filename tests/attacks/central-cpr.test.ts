/**
 * CPR numbers at central (issue 16, finding 14): a CPR number taken is a coded refusal that names
 * no one, and no CPR number reaches an answer or a log line, whatever the flow.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { attackedCentral } from '../helpers/attacked-central.ts';
import { kantine } from '../helpers/cli.ts';
import { CPR_ANYWHERE } from '../helpers/people.ts';

test.serial(
  'a duplicate CPR number is a coded 409 that names no one, and no CPR number is in any log line or answer',
  async (t) => {
    // debug: everything central would ever log
    const central = await attackedCentral(t, { LOG_LEVEL: 'debug' });
    const admin = await central.token('admin');
    const it = await central.token('it');
    const answers: unknown[] = [];
    const call = async (method: string, path: string, token: string, body?: unknown) => {
      const res = await central.call(method, path, token, body);
      answers.push(res.body);
      return res;
    };
    // Refused without a token (central logs the refusal, never the body)
    t.is(
      (await call('PUT', '/api/accounts/acc-x', '', { first_name: 'X', cpr: '050505-5555', sites: [] })).status,
      401,
    );
    t.is((await call('PUT', '/api/sites/skole', it, { name: 'Skole', place_kinds: ['school'] })).status, 204);
    t.is(
      (await call('PUT', '/api/accounts/acc-ida', admin, { first_name: 'Ida', cpr: '010115-1234', sites: ['skole'] }))
        .status,
      204,
    );
    // Another child with Ida's CPR number (with or without the dash): refused, whose it is unsaid.
    for (const cpr of ['010115-1234', '0101151234']) {
      const dup = await call('PUT', '/api/accounts/acc-ole', admin, { first_name: 'Ole', cpr, sites: ['skole'] });
      t.is(dup.status, 409, JSON.stringify(dup.body));
      t.is(dup.body.code, 'cpr_taken');
      t.notRegex(JSON.stringify(dup.body), /acc-ida/);
    }
    t.is((await call('GET', '/api/accounts/acc-ole', admin)).status, 404, 'nothing made');
    // Ida herself may be put again with her own number.
    t.is(
      (await call('PUT', '/api/accounts/acc-ida', admin, { first_name: 'Ida', cpr: '0101151234', sites: ['skole'] }))
        .status,
      204,
    );
    // Her guardians' CPR numbers on her record: in, and out only masked.
    t.is((await call('PUT', '/api/accounts/acc-ida/guardian-cprs', admin, { cprs: ['020280-4321'] })).status, 204);
    const guardians = await call('GET', '/api/accounts/acc-ida/guardian-cprs', admin);
    t.deepEqual(guardians.body.guardians, [{ cpr_masked: '020280-xxxx', person_id: null }]);

    // An import whose file holds Ida's CPR number on another child, and one number twice.
    const dir = mkdtempSync(join(tmpdir(), 'kantine-cpr-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const csv = join(dir, 'skole.csv');
    writeFileSync(
      csv,
      [
        'Elevnummer;Fornavn;Efternavn;CPR;Saldo;Automatisk optankning;Maks dag;Maks uge;Maks måned;Kort UID',
        '2001;Ole;Berg;010115-1234;10;;;;;',
        '2002;Eva;Lund;030303-3333;10;;;;;',
        '2003;Bo;Lund;0303033333;10;;;;;',
      ].join('\r\n'),
    );
    const env = { KANTINE_CENTRAL: central.http, KANTINE_CENTRAL_TOKEN: it };
    const twice = await kantine(['--json', 'import', csv, '--site', 'skole', '--dry-run'], { cwd: dir, env });
    t.is(twice.code, 2);
    t.regex(twice.stderr, /import_invalid/);
    t.notRegex(twice.stderr, CPR_ANYWHERE, 'the answer names no CPR number');
    writeFileSync(
      csv,
      [
        'Elevnummer;Fornavn;Efternavn;CPR;Saldo;Automatisk optankning;Maks dag;Maks uge;Maks måned;Kort UID',
        '2001;Ole;Berg;010115-1234;10;;;;;',
      ].join('\r\n'),
    );
    const taken = await kantine(['--json', 'import', csv, '--site', 'skole', '--dry-run'], { cwd: dir, env });
    t.is(taken.code, 2);
    const { error } = JSON.parse(taken.stderr.trim().split('\n').at(-1) as string);
    t.is(error.code, 'import_invalid');
    t.deepEqual(error.details, ['line 2: the CPR number already belongs to another account']);
    t.notRegex(taken.stderr, /acc-ida/, 'nor whose it is');

    for (const a of answers) t.notRegex(JSON.stringify(a) ?? '', CPR_ANYWHERE);
    // central logged something (at debug), and none of it is a CPR number
    await new Promise((r) => setTimeout(r, 200));
    const logs = central.logs();
    t.regex(logs, /request without a valid token/, 'central logged, so the scan below reads something');
    const leaks = logs.split('\n').filter((l) => CPR_ANYWHERE.test(l));
    t.deepEqual(leaks, [], 'no log line holds a CPR number');
  },
);
