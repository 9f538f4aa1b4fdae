/**
 * Adding a child's account (issue 17): the child's CPR number + the card's printed number +
 * the person's own CPR number listed as a guardian on the child's record. Every failure is the
 * same `account_not_matched`, counted per person and per source address; too many is
 * `too_many_attempts` with the seconds to wait.
 */
import { CARD_NUMBER_ALPHABET, typedCardNumber } from '@kantine/protocol';
import { newCardNumber, validCardNumber } from '@kantine/provisioning';
import test from 'ava';
import { type DbKind, peopleCentral, schoolWithChild } from './helpers/people.ts';

const EMMA_CPR = '150315-4321';
const ANNE = { issuer: 'https://idp.example', sub: 'anne', name: 'Anne', cpr: '1203821564' };
const KAREN = { issuer: 'https://idp.example', sub: 'karen', name: 'Karen', cpr: '2211552348' };

/** What a guardian types: the eight characters after the issuer's digits. */
const typed = (printed: string) => printed.slice(5);

/** The printed number with another, wrong check character. */
function wrongCheck(printed: string): string {
  const last = printed.at(-1) as string;
  const other = CARD_NUMBER_ALPHABET[(CARD_NUMBER_ALPHABET.indexOf(last) + 1) % 31] as string;
  return `${printed.slice(0, -1)}${other}`;
}

async function setup(t: Parameters<typeof peopleCentral>[0], kind: DbKind) {
  const rig = await peopleCentral(t, kind);
  const card = newCardNumber('9208');
  await schoolWithChild(rig.central, {
    account: 'konto-emma',
    cpr: EMMA_CPR,
    uid: '04000000000E01',
    card_number: card,
  });
  // a second child with its own card, for "right card, wrong CPR"
  const other = newCardNumber('9208');
  await schoolWithChild(rig.central, {
    account: 'konto-bo',
    cpr: '010116-1111',
    uid: '04000000000B01',
    card_number: other,
  });
  return { ...rig, card, other };
}

const codeOf = (err: unknown) => (err as { code?: string } | undefined)?.code;

test('the typed card number is read as printed: any case, dash and spaces optional, O and I/L as 0 and 1; the check character verified', (t) => {
  for (let i = 0; i < 50; i++) {
    const printed = newCardNumber('9208');
    t.true(validCardNumber(printed), 'provisioning checks with the shared rule');
    const code = typed(printed);
    t.is(typedCardNumber(code), code);
    t.is(typedCardNumber(code.toLowerCase().replace('-', '')), code);
    t.is(typedCardNumber(` ${code.slice(0, 2)} ${code.slice(2)} `), code);
    t.is(typedCardNumber(code.replace(/0/g, 'O').replace(/1/g, 'l')), code);
    t.is(typedCardNumber(typed(wrongCheck(printed))), undefined);
    t.false(validCardNumber(wrongCheck(printed)));
  }
  for (const bad of ['', 'ABCD-EFG', 'ABCD-EFGHJ', 'ABCU-EFGH', 'x'.repeat(100)])
    t.is(typedCardNumber(bad), undefined, bad);
});

for (const kind of ['pglite', 'postgres'] as DbKind[]) {
  test(`${kind}: a listed guardian adds the child's account by CPR number and card number (any case, dash or not)`, async (t) => {
    const { central, card } = await setup(t, kind);
    const { person_id } = await central.people.signIn(ANNE);
    // listed after Anne signed in: she is not yet the guardian…
    await central.people.setGuardianCprs('konto-emma', [ANNE.cpr]);
    t.is(await central.people.onAccount(person_id, 'konto-emma'), null);
    // …until she adds the account
    const added = await central.people.addChild(person_id, '10.0.0.1', {
      cpr: '1503154321',
      card_number: typed(card).toLowerCase().replace('-', ''),
    });
    t.deepEqual(added, { account_id: 'konto-emma' });
    t.is(await central.people.onAccount(person_id, 'konto-emma'), 'guardian');
    // again: the same answer, nothing doubled
    t.deepEqual(await central.people.addChild(person_id, '10.0.0.1', { cpr: EMMA_CPR, card_number: typed(card) }), {
      account_id: 'konto-emma',
    });
  });

  test(`${kind}: wrong card number, wrong check character, right card wrong CPR, not a listed guardian: all the same answer`, async (t) => {
    const { central, card, other } = await setup(t, kind);
    await central.people.setGuardianCprs('konto-emma', [ANNE.cpr]);
    const anne = await central.people.signIn(ANNE);
    const karen = await central.people.signIn(KAREN);
    const answers: unknown[] = [];
    const attempts: [string, { cpr: string; card_number: string }][] = [
      [anne.person_id, { cpr: EMMA_CPR, card_number: typed(other) }], // another child's card
      [anne.person_id, { cpr: EMMA_CPR, card_number: typed(wrongCheck(card)) }], // a typing slip
      [anne.person_id, { cpr: '010116-1111', card_number: typed(card) }], // right card, another child's CPR
      [anne.person_id, { cpr: '999999-9999', card_number: typed(card) }], // a CPR number no one has
      [anne.person_id, { cpr: 'not a cpr', card_number: 'nonsense' }],
      [karen.person_id, { cpr: EMMA_CPR, card_number: typed(card) }], // all right, but Karen is not listed
    ];
    for (const [person, body] of attempts) {
      const err = await t.throwsAsync(central.people.addChild(person, `10.0.0.${answers.length}`, body));
      answers.push((err as unknown as { toJSON(): unknown }).toJSON());
    }
    for (const a of answers) t.deepEqual(a, answers[0]);
    t.is((answers[0] as { code: string }).code, 'account_not_matched');
    t.is(await central.people.onAccount(karen.person_id, 'konto-emma'), null);
  });

  test(`${kind}: a relation cannot become the child's guardian, by adding the account or by any relation path`, async (t) => {
    const { central, card } = await setup(t, kind);
    await central.people.setGuardianCprs('konto-emma', [ANNE.cpr]);
    const anne = await central.people.signIn(ANNE);
    await central.people.inviteByCpr('konto-emma', KAREN.cpr);
    const karen = await central.people.signIn(KAREN);
    t.is(await central.people.onAccount(karen.person_id, 'konto-emma'), 'relation');
    const err = await t.throwsAsync(
      central.people.addChild(karen.person_id, '10.0.0.9', { cpr: EMMA_CPR, card_number: typed(card) }),
    );
    t.is(codeOf(err), 'account_not_matched');
    // an invitation accepted, a CPR relation added again: still a relation
    const invite = await central.people.inviteByEmail('konto-emma', anne.person_id, 'karen@example.dk');
    await central.people.acceptInvite(karen.person_id, invite.token);
    await central.people.inviteByCpr('konto-emma', KAREN.cpr);
    await central.people.signIn(KAREN);
    t.is(await central.people.onAccount(karen.person_id, 'konto-emma'), 'relation');
    // and a guardian made a "relation" stays a guardian
    await central.people.inviteByCpr('konto-emma', ANNE.cpr);
    const invite2 = await central.people.inviteByEmail('konto-emma', anne.person_id, 'anne@example.dk');
    // (her own invitation is not for her)
    t.is(codeOf(await t.throwsAsync(central.people.acceptInvite(anne.person_id, invite2.token))), 'invite_invalid');
    t.is(await central.people.onAccount(anne.person_id, 'konto-emma'), 'guardian');
  });

  test(`${kind}: failed attempts are limited per person and per source; too many is too_many_attempts with the wait`, async (t) => {
    const { central, card, clock } = await setup(t, kind);
    const anne = await central.people.signIn({ ...ANNE, sub: 'anne-limit' });
    await central.people.setGuardianCprs('konto-emma', [ANNE.cpr]); // listed after her sign-in: not bound yet
    const bad = { cpr: EMMA_CPR, card_number: typed(wrongCheck(card)) };
    for (let i = 0; i < 5; i++) {
      t.is(
        codeOf(await t.throwsAsync(central.people.addChild(anne.person_id, `10.1.0.${i}`, bad))),
        'account_not_matched',
      );
      clock.advance(1000);
    }
    // the sixth, even the right one, waits: the person's window is full
    const limited = await t.throwsAsync(
      central.people.addChild(anne.person_id, '10.1.0.99', { cpr: EMMA_CPR, card_number: typed(card) }),
    );
    t.is(codeOf(limited), 'too_many_attempts');
    const wait = (limited as unknown as { retry_after_s: number }).retry_after_s;
    t.true(wait > 0 && wait <= 15 * 60, String(wait));
    t.is(await central.people.onAccount(anne.person_id, 'konto-emma'), null, 'nothing bound');
    // once the window has passed, the right answer works
    clock.advance(wait * 1000);
    t.deepEqual(
      await central.people.addChild(anne.person_id, '10.1.0.99', { cpr: EMMA_CPR, card_number: typed(card) }),
      {
        account_id: 'konto-emma',
      },
    );

    // one source address (many people behind it) gets 30 failures in the window
    const source = '10.2.0.1';
    for (let i = 0; i < 30; i++) {
      const p = await central.people.signIn({
        issuer: 'https://idp.example',
        sub: `p${i}`,
        name: 'P',
        cpr: `0101${String(i).padStart(2, '0')}0000`,
      });
      t.is(codeOf(await t.throwsAsync(central.people.addChild(p.person_id, source, bad))), 'account_not_matched');
    }
    const fromSource = await t.throwsAsync(central.people.addChild(anne.person_id, source, bad));
    t.is(codeOf(fromSource), 'too_many_attempts');
    // another source is not held back by it
    t.is(codeOf(await t.throwsAsync(central.people.addChild(anne.person_id, '10.3.0.1', bad))), 'account_not_matched');
  });
}
