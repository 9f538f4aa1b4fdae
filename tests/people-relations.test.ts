/**
 * Relations (issue 17): a guardian invites one by e-mail (a single-use link token, valid 7 days,
 * kept only as its SHA-256) or by the relation's CPR number (bound at their sign-in), lists them
 * and removes them at any time.
 */
import { createHash } from 'node:crypto';
import test from 'ava';
import { type DbKind, peopleCentral, schoolWithChild } from './helpers/people.ts';

const ANNE = { issuer: 'https://idp.example', sub: 'anne', name: 'Anne', cpr: '1203821564' };
const KAREN = { issuer: 'https://idp.example', sub: 'karen', name: 'Karen', cpr: '2211552348' };
const METTE = { issuer: 'https://idp.example', sub: 'mette', name: 'Mette', cpr: '0103701234' };
const DAY = 86_400_000;

const codeOf = (err: unknown) => (err as { code?: string } | undefined)?.code;

async function setup(t: Parameters<typeof peopleCentral>[0], kind: DbKind) {
  const rig = await peopleCentral(t, kind);
  await schoolWithChild(rig.central, {
    account: 'konto-emma',
    cpr: '150315-4321',
    uid: '04000000000E01',
    card_number: null,
  });
  await rig.central.people.setGuardianCprs('konto-emma', [ANNE.cpr]);
  const anne = await rig.central.people.signIn(ANNE);
  return { ...rig, anne: anne.person_id };
}

for (const kind of ['pglite', 'postgres'] as DbKind[]) {
  test(`${kind}: an e-mailed invitation is accepted once, within 7 days, and its token is kept only hashed`, async (t) => {
    const { central, db, anne, clock } = await setup(t, kind);
    const invite = await central.people.inviteByEmail('konto-emma', anne, 'mette@example.dk');
    t.regex(invite.token, /^[A-Za-z0-9_-]{43}$/);
    t.is(invite.expires_at.getTime() - clock.now().getTime(), 7 * DAY);
    const [row] = await db.query<{ token_sha256: Uint8Array }>('SELECT * FROM relation_invites');
    t.true(Buffer.from(row?.token_sha256 ?? []).equals(createHash('sha256').update(invite.token).digest()));
    t.false(JSON.stringify(await db.query('SELECT * FROM relation_invites')).includes(invite.token));
    t.deepEqual(
      (await central.people.relations('konto-emma')).invites.map((i) => i.email),
      ['mette@example.dk'],
    );

    const mette = await central.people.signIn(METTE);
    t.deepEqual(await central.people.acceptInvite(mette.person_id, invite.token), { account_id: 'konto-emma' });
    t.is(await central.people.onAccount(mette.person_id, 'konto-emma'), 'relation');
    // used: not again, not by another
    const karen = await central.people.signIn(KAREN);
    t.is(codeOf(await t.throwsAsync(central.people.acceptInvite(karen.person_id, invite.token))), 'invite_invalid');
    t.is(codeOf(await t.throwsAsync(central.people.acceptInvite(karen.person_id, 'x'.repeat(43)))), 'invite_invalid');
    // one that is 7 days old has expired
    const old = await central.people.inviteByEmail('konto-emma', anne, 'karen@example.dk');
    clock.advance(7 * DAY);
    t.is(codeOf(await t.throwsAsync(central.people.acceptInvite(karen.person_id, old.token))), 'invite_invalid');
    t.is(await central.people.onAccount(karen.person_id, 'konto-emma'), null);
    // an invitation dies with its guardian's guardianship: links kept are no way back in
    const kept = await central.people.inviteByEmail('konto-emma', anne, 'karen@example.dk');
    await central.people.setGuardianCprs('konto-emma', []);
    t.is(codeOf(await t.throwsAsync(central.people.acceptInvite(karen.person_id, kept.token))), 'invite_invalid');
    t.is(await central.people.onAccount(karen.person_id, 'konto-emma'), null);
  });

  test(`${kind}: a relation added by CPR number waits (masked in the list), known or not, and binds at their next sign-in`, async (t) => {
    const { central } = await setup(t, kind);
    const first = await central.people.signIn(KAREN); // signed in before: no difference
    const { id } = await central.people.inviteByCpr('konto-emma', '221155-2348');
    t.is(await central.people.onAccount(first.person_id, 'konto-emma'), null);
    const before = await central.people.relations('konto-emma');
    t.deepEqual(
      before.waiting.map((w) => [w.id, w.cpr_masked]),
      [[id, '221155-xxxx']],
    );
    t.deepEqual(before.people, []);
    const karen = await central.people.signIn(KAREN);
    t.is(await central.people.onAccount(karen.person_id, 'konto-emma'), 'relation');
    const after = await central.people.relations('konto-emma');
    t.deepEqual(after.waiting, []);
    t.deepEqual(
      after.people.map((p) => [p.id, p.name]),
      [[karen.person_id, 'Karen']],
    );
  });

  test(`${kind}: a guardian removes a relation (signed in, waiting or invited) at any time; never a guardian`, async (t) => {
    const { central, anne } = await setup(t, kind);
    await central.people.inviteByCpr('konto-emma', KAREN.cpr);
    const karen = await central.people.signIn(KAREN);
    const waiting = await central.people.inviteByCpr('konto-emma', METTE.cpr);
    const invite = await central.people.inviteByEmail('konto-emma', anne, 'x@example.dk');

    await central.people.removeRelation('konto-emma', karen.person_id);
    t.is(await central.people.onAccount(karen.person_id, 'konto-emma'), null);
    // gone from the record too: her next sign-in does not bring her back
    await central.people.signIn(KAREN);
    t.is(await central.people.onAccount(karen.person_id, 'konto-emma'), null);

    await central.people.removeRelation('konto-emma', waiting.id);
    const mette = await central.people.signIn(METTE);
    t.is(await central.people.onAccount(mette.person_id, 'konto-emma'), null);

    await central.people.removeRelation('konto-emma', invite.invite_id);
    t.is(codeOf(await t.throwsAsync(central.people.acceptInvite(mette.person_id, invite.token))), 'invite_invalid');

    t.deepEqual(await central.people.relations('konto-emma'), { people: [], waiting: [], invites: [] });
    t.is(codeOf(await t.throwsAsync(central.people.removeRelation('konto-emma', anne))), 'not_found');
    t.is(await central.people.onAccount(anne, 'konto-emma'), 'guardian');
    t.is(codeOf(await t.throwsAsync(central.people.removeRelation('konto-emma', 'no-one'))), 'not_found');
  });

  test(`${kind}: a guardian whose CPR number leaves the child's record is no longer the guardian`, async (t) => {
    const { central, anne } = await setup(t, kind);
    t.is(await central.people.onAccount(anne, 'konto-emma'), 'guardian');
    await central.people.setGuardianCprs('konto-emma', []);
    t.is(await central.people.onAccount(anne, 'konto-emma'), null);
    await central.people.signIn(ANNE);
    t.is(await central.people.onAccount(anne, 'konto-emma'), null);
  });
}
