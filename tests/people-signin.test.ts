/**
 * Signing in (issue 17): a person is keyed by (issuer, sub), their CPR number kept only as an
 * HMAC and a sealed copy; guardianships, relations and staff roles waiting under their CPR
 * number bind when they sign in.
 */
import test from 'ava';
import { CPR_ANYWHERE, type DbKind, peopleCentral, schoolWithChild } from './helpers/people.ts';

const ANNE = {
  issuer: 'http://127.0.0.1:1/idp',
  sub: 'sub-anne',
  uuid: 'uuid-anne',
  name: 'Anne Hansen',
  email: 'anne@example.dk',
  cpr: '0101801234',
};
const EMMA = { account: 'konto-emma', cpr: '150315-4321', uid: '04000000000E01', card_number: '9208-7K3M-Q2VX' };

for (const kind of ['pglite', 'postgres'] as DbKind[]) {
  test(`${kind}: a first sign-in makes a person; the next finds them by issuer and subject`, async (t) => {
    const { central, db } = await peopleCentral(t, kind);
    const first = await central.people.signIn(ANNE);
    const again = await central.people.signIn({ ...ANNE, name: 'Anne H. Hansen', cpr: '010180-1234' });
    t.is(again.person_id, first.person_id);
    const me = await central.people.person(first.person_id);
    t.deepEqual(me, { name: 'Anne H. Hansen', staff: [], office_sites: [] });
    const profile = await central.people.profile(first.person_id);
    t.is(profile.cpr_masked, '010180-xxxx');
    // the raw row: no CPR number in any column
    const rows = await db.query('SELECT * FROM people');
    t.is(rows.length, 1);
    t.notRegex(
      JSON.stringify(rows, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v)),
      /0101801234|010180-1234/,
    );
    t.notRegex(JSON.stringify(rows), CPR_ANYWHERE);
  });

  test(`${kind}: the same CPR number through another subject is the same person; another CPR on a known subject is refused`, async (t) => {
    const { central } = await peopleCentral(t, kind);
    const a = await central.people.signIn(ANNE);
    const b = await central.people.signIn({ ...ANNE, issuer: 'https://broker.example', sub: 'other' });
    t.is(b.person_id, a.person_id);
    const err = await t.throwsAsync(
      central.people.signIn({ ...ANNE, issuer: 'https://broker.example', sub: 'other', cpr: '0202801234' }),
    );
    t.is((err as { code?: string }).code, 'cpr_mismatch');
    t.notRegex(String(err?.message), CPR_ANYWHERE);
  });

  test(`${kind}: guardianship and staff roles set by CPR number before the first sign-in bind at it`, async (t) => {
    const { central } = await peopleCentral(t, kind);
    await schoolWithChild(central, EMMA);
    await central.people.setGuardianCprs(EMMA.account, [ANNE.cpr]);
    await central.people.grantRole(ANNE.cpr, 'office', 'sondervang');
    await central.people.grantRole('0101801234', 'admin');
    const { person_id } = await central.people.signIn(ANNE);
    t.is(await central.people.onAccount(person_id, EMMA.account), 'guardian');
    t.deepEqual(await central.people.person(person_id), {
      name: ANNE.name,
      staff: ['admin'],
      office_sites: ['sondervang'],
    });
    t.is(await central.people.onAccount(person_id, 'konto-ingen'), null);
  });

  test(`${kind}: a person who is gone is bad_credentials`, async (t) => {
    const { central } = await peopleCentral(t, kind);
    const err = await t.throwsAsync(central.people.person('no-such-person'));
    t.is((err as { code?: string }).code, 'bad_credentials');
  });

  test(`${kind}: a sign-in without a CPR number of ten digits is refused and makes no one`, async (t) => {
    const { central, db } = await peopleCentral(t, kind);
    for (const cpr of ['', '12345', '0101801234x', '01018012345']) {
      const err = await t.throwsAsync(central.people.signIn({ ...ANNE, cpr }));
      t.is((err as { code?: string }).code, 'invalid_request');
    }
    t.deepEqual(await db.query('SELECT id FROM people'), []);
  });
}
