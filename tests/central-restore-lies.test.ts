/**
 * A site that claims central was restored gains nothing by it (docs/replication.md §Restore, "A
 * site that claims a restore"). A raw login with the site's secret says central acknowledged more
 * of its log than central holds: central resyncs it, and in the resync books the site's old sales
 * only from money that is free — what the site could have asked for anyway — and refuses every
 * report its own record refutes, as always.
 */
import type { LinkDown, UpChange } from '@kantine/protocol';
import test from 'ava';
import { siteLogin, startCentral } from './helpers/central.ts';
import { until } from './helpers/wait.ts';

const LIAR = 'luskeskolen';
const OTHER = 'andenskolen';

test('a site claiming central forgot its log is resynced, but its old sales are booked only from free money and every lie is refused', async (t) => {
  t.timeout(60_000);
  const central = await startCentral(t);
  const { secret } = await central.addSite(LIAR);
  await central.addSite(OTHER);
  const ok = (r: { status: number; body: unknown }, status: number) => t.is(r.status, status, JSON.stringify(r.body));
  ok(await central.api('PUT', '/api/accounts/acc-ida', { first_name: 'Ida', sites: [LIAR] }), 204);
  ok(await central.api('POST', '/api/accounts/acc-ida/deposits', { amount_ore: 1_000 }), 201);
  ok(await central.api('PUT', '/api/accounts/acc-ole', { first_name: 'Ole', sites: [OTHER] }), 204);
  ok(await central.api('POST', '/api/accounts/acc-ole/deposits', { amount_ore: 1_000 }), 201);
  const db = central.service.central.db;
  const { client, got } = await siteLogin(t, central, LIAR, secret);
  const up = (msg: unknown) => client.publishAsync(`kantine/link/${LIAR}/up`, JSON.stringify(msg), { qos: 1 });

  // "Central acknowledged my log up to 5": central holds none of it, so it resyncs the site.
  await up({ v: 1, t: 'hello', down_cursor: 0, up_seq: 5, up_acked: 5 });
  const reset = await until(
    async () => {
      for (const m of got)
        if (m.t === 'changes')
          for (const c of m.changes) if (c.kind === 'reset') return c as Extract<typeof c, { kind: 'reset' }>;
      return undefined;
    },
    'the reset',
    30_000,
  );
  t.is(reset.up_cursor, 5, 'central continues after what the site says it acknowledged');
  const [resync] = await db.query<{ reason: string }>('SELECT reason FROM link_resyncs WHERE site_id = $1', [LIAR]);
  t.regex(resync?.reason ?? '', /acknowledged/);

  const now = new Date().toISOString();
  const sale = (seq: number, id: string, account: string, amount: number): UpChange => ({
    seq,
    kind: 'entry',
    entry: {
      id,
      account_id: account,
      kind: 'purchase',
      amount_ore: -amount,
      place_kind: 'school',
      budgets: ['balance'],
      created_at: now,
    },
  });
  const changes: UpChange[] = [
    sale(6, 'loegn-for-meget', 'acc-ida', 5_000), // more than is free: refused
    sale(7, 'loegn-andres-barn', 'acc-ole', 100), // not this site's child: refused
    { seq: 8, kind: 'return', account_id: 'acc-ole', budget: 'balance', amount_ore: 100 }, // a share it never had
    {
      seq: 9,
      kind: 'entry',
      entry: {
        id: 'loegn-annullering',
        account_id: 'acc-ida',
        kind: 'void',
        amount_ore: 300,
        place_kind: 'school',
        budgets: ['balance'],
        voids_entry_id: 'aldrig-solgt',
        reason: 'x',
        created_at: now,
      },
    }, // a void of a sale never made: refused
    {
      seq: 10,
      kind: 'note',
      mark: '0123456789abcdef',
      note: {
        what: 'entry',
        entry: {
          id: 'opdigtet',
          account_id: 'acc-ida',
          kind: 'deposit',
          amount_ore: 99_999,
          origin: 'central',
          created_at: now,
        },
      },
    }, // a note for a resync that never was: not kept
    sale(11, 'gammelt-salg', 'acc-ida', 500), // an old sale whose money is free: booked
  ];
  await up({ v: 1, t: 'changes', changes, up_acked: 5 });
  await until(
    async () => (got.some((m: LinkDown) => m.t === 'ack' && m.up_cursor === 11) ? true : undefined),
    'central took the changes',
    30_000,
  );

  const refused = await db.query<{ seq: number; code: string }>(
    'SELECT seq, code FROM refused_up WHERE site_id = $1 ORDER BY seq',
    [LIAR],
  );
  t.deepEqual(
    refused.map((r) => [Number(r.seq), r.code]),
    [
      [6, 'link_share_exceeded'],
      [7, 'link_account_not_served'],
      [8, 'link_share_exceeded'],
      [9, 'link_void_mismatch'],
    ],
  );
  t.deepEqual(await db.query('SELECT * FROM restore_notes'), [], 'a note of no resync is not kept');
  const balance = async (a: string) => (await central.api('GET', `/api/accounts/${a}`)).body.balance_ore as number;
  t.is(await balance('acc-ida'), 500, 'only the sale central had the money for');
  t.is(await balance('acc-ole'), 1_000, "another site's child is untouched");
  const oleShares = await db.query('SELECT 1 FROM shares WHERE account_id = $1 AND site_id = $2', ['acc-ole', LIAR]);
  t.is(oleShares.length, 0, 'no share was made that would open another site’s child to the liar');
  const report = (await central.api('GET', '/api/restore-report')).body;
  t.deepEqual(report.regranted, [{ site: LIAR, budget: 'balance', amount_ore: 500, entries: 1 }]);
  t.is(report.refused.length, 4, 'the report lists every refusal');

  // A `resynced` of another mark ends nothing; the reset's own ends the resync.
  await up({ v: 1, t: 'changes', changes: [{ seq: 12, kind: 'resynced', mark: '0123456789abcdef' }], up_acked: 5 });
  await up({ v: 1, t: 'changes', changes: [{ seq: 13, kind: 'resynced', mark: reset.mark }], up_acked: 5 });
  await until(
    async () => {
      const [row] = await db.query<{ recover_mark: string | null }>('SELECT recover_mark FROM sites WHERE id = $1', [
        LIAR,
      ]);
      return row && row.recover_mark === null ? true : undefined;
    },
    'the resync ended',
    30_000,
  );
  // Now every report is checked as always: a sale beyond the site's share is refused.
  await up({ v: 1, t: 'changes', changes: [sale(14, 'loegn-efter', 'acc-ida', 600)], up_acked: 5 });
  await until(
    async () => {
      const rows = await db.query<{ code: string }>('SELECT code FROM refused_up WHERE site_id = $1 AND seq = 14', [
        LIAR,
      ]);
      return rows[0]?.code === 'link_share_exceeded' ? true : undefined;
    },
    'the later lie refused',
    30_000,
  );
  t.is(await balance('acc-ida'), 500);
  t.deepEqual(await central.service.central.money.verify(), []);
});
