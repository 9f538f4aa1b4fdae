/**
 * A deposit's id makes a retry harmless (issue 16, finding 15): it is bound to its account, kind
 * and amount, so the same id used for anything else is refused, never "201 and nothing booked".
 */
import test from 'ava';
import { attackedCentral } from '../helpers/attacked-central.ts';

test.serial(
  'a deposit id reused on another account, or for another amount, is a coded 409; the same deposit again is the same answer',
  async (t) => {
    const central = await attackedCentral(t);
    const admin = await central.token('admin');
    const finance = await central.token('finance');
    for (const id of ['acc-a', 'acc-b'])
      t.is((await central.call('PUT', `/api/accounts/${id}`, admin, { first_name: id, sites: [] })).status, 204);
    const balance = async (id: string) => (await central.call('GET', `/api/accounts/${id}`, admin)).body.balance_ore;

    const first = await central.call('POST', '/api/accounts/acc-a/deposits', finance, {
      id: 'bet-1',
      amount_ore: 5_000,
    });
    t.is(first.status, 201);
    t.deepEqual(first.body, { entry_id: 'bet-1' });

    // The same id on another account: refused, not "201" with nothing booked.
    const other = await central.call('POST', '/api/accounts/acc-b/deposits', finance, {
      id: 'bet-1',
      amount_ore: 5_000,
    });
    t.is(other.status, 409, JSON.stringify(other.body));
    t.is(other.body.code, 'entry_id_reused');
    // Another amount, or a withdrawal, under the same id: refused too.
    const more = await central.call('POST', '/api/accounts/acc-a/deposits', finance, {
      id: 'bet-1',
      amount_ore: 9_000,
    });
    t.is(more.status, 409);
    t.is(more.body.code, 'entry_id_reused');
    const out = await central.call('POST', '/api/accounts/acc-a/withdrawals', finance, {
      id: 'bet-1',
      amount_ore: 5_000,
    });
    t.is(out.status, 409);
    t.is(out.body.code, 'entry_id_reused');

    // The very same deposit again: the same answer, booked once.
    const again = await central.call('POST', '/api/accounts/acc-a/deposits', finance, {
      id: 'bet-1',
      amount_ore: 5_000,
    });
    t.is(again.status, 201);
    t.deepEqual(again.body, first.body);
    t.is(await balance('acc-a'), 5_000);
    t.is(await balance('acc-b'), 0);

    // A withdrawal's id is bound the same way.
    t.is(
      (await central.call('POST', '/api/accounts/acc-a/withdrawals', finance, { id: 'ud-1', amount_ore: 1_000 }))
        .status,
      201,
    );
    t.is(
      (await central.call('POST', '/api/accounts/acc-a/withdrawals', finance, { id: 'ud-1', amount_ore: 1_000 }))
        .status,
      201,
    );
    const feeInstead = await central.call('POST', '/api/accounts/acc-a/withdrawals', finance, {
      id: 'ud-1',
      amount_ore: 1_000,
      kind: 'fee',
    });
    t.is(feeInstead.status, 409);
    t.is(await balance('acc-a'), 4_000);
  },
);
