/**
 * A site that says it is ahead of central is believed: that is how a restore from an older backup
 * is repaired (central resyncs the site, sending it every account it serves whole). A site lying
 * about it on every message would make central do that work each time. Central resyncs a site at
 * most once a minute (`LinkService.resyncMinIntervalMs`); a diverging message within that minute is
 * held — nothing of it applied or acknowledged, so an honest site loses nothing and its own
 * re-sending brings it back — and counted (`kantine_central_link_refused_total{code="link_resync_held"}`).
 */
import type { LinkDown } from '@kantine/protocol';
import test from 'ava';
import { siteLogin, startCentral } from '../helpers/central.ts';
import { until } from '../helpers/wait.ts';

const LIAR = 'luskeskolen';

test('a site claiming central forgot its log again and again is resynced once a minute, not on every message', async (t) => {
  t.timeout(60_000);
  const central = await startCentral(t);
  const { secret } = await central.addSite(LIAR);
  t.is((await central.api('PUT', '/api/accounts/acc-ida', { first_name: 'Ida', sites: [LIAR] })).status, 204);
  const db = central.service.central.db;
  const link = central.service.central.link;
  const { client, got } = await siteLogin(t, central, LIAR, secret);
  const up = (msg: unknown) => client.publishAsync(`kantine/link/${LIAR}/up`, JSON.stringify(msg), { qos: 1 });
  const resyncs = async () =>
    Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM link_resyncs WHERE site_id = $1', [LIAR]))[0]?.n);
  const resets = () => got.filter((m: LinkDown) => m.t === 'changes' && m.changes.some((c) => c.kind === 'reset'));

  // The first claim is a restore as far as central can tell: it resyncs the site.
  await up({ v: 1, t: 'hello', down_cursor: 0, up_seq: 5, up_acked: 5 });
  await until(async () => ((await resyncs()) === 1 ? true : undefined), 'the first resync', 30_000);
  await until(async () => (resets().length === 1 ? true : undefined), 'the reset sent', 30_000);

  // The same lie at once, as a hello, an ack and a message of changes: each held, none resynced.
  const held = () => link.refused.get('link_resync_held') ?? 0;
  await up({ v: 1, t: 'hello', down_cursor: 0, up_seq: 9, up_acked: 9 });
  await until(async () => (held() === 1 ? true : undefined), 'the hello held', 30_000);
  await up({ v: 1, t: 'ack', down_cursor: 0, up_acked: 12 });
  await until(async () => (held() === 2 ? true : undefined), 'the ack held', 30_000);
  const [before] = await db.query<{ up_cursor: number }>('SELECT up_cursor FROM sites WHERE id = $1', [LIAR]);
  await up({
    v: 1,
    t: 'changes',
    up_acked: 20,
    changes: [{ seq: 21, kind: 'return', account_id: 'acc-ida', budget: 'balance', amount_ore: 100 }],
  });
  await until(async () => (held() === 3 ? true : undefined), 'the changes held', 30_000);
  t.is(await resyncs(), 1, 'no second resync within the minute');
  const [after] = await db.query<{ up_cursor: number }>('SELECT up_cursor FROM sites WHERE id = $1', [LIAR]);
  t.is(after?.up_cursor, before?.up_cursor, "nothing of a held message moved the site's cursor");
  const metrics = await fetch(`${central.http}/metrics`, {
    headers: { authorization: `Bearer ${await central.tokenFor('admin')}` },
  });
  t.regex(await metrics.text(), /kantine_central_link_refused_total\{code="link_resync_held"\} 3/);

  // Once the interval is over (here: made zero), the site's next diverging message resyncs it again.
  link.resyncMinIntervalMs = 0;
  await up({ v: 1, t: 'hello', down_cursor: 0, up_seq: 30, up_acked: 30 });
  await until(async () => ((await resyncs()) === 2 ? true : undefined), 'the second resync', 30_000);
  t.is(held(), 3);
});
