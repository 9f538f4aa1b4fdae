import { type Db, migrate, openPostgres } from '@kantine/central';
import { looksLikeCpr, Mailer, MailOutbox, queueMail } from '@kantine/central/mail';
import { startMailCatcher } from '@kantine/central/mail/dev';
import test, { type ExecutionContext } from 'ava';
import { capturedLog, EACH, until } from './helpers/mail.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { freePort } from './helpers/process.ts';

const clock = { now: () => new Date() };
const FAST = { poll_ms: 20, backoff_ms: 50, backoff_max_ms: 200 };

async function database(t: ExecutionContext): Promise<{ url: string; db: Db }> {
  const url = await freshDatabase(t, 'mail');
  const db = await openPostgres(url);
  await migrate(db);
  t.teardown(() => db.close());
  return { url, db };
}

function mailerTo(port: number): Mailer {
  return new Mailer({
    smtp_url: `smtp://127.0.0.1:${port}`,
    starttls: 'if_offered',
    from: 'Kantinen <kantine@kommune.example>',
    max_attempts: 20,
  });
}

const states = (db: Db) =>
  db.query<{
    state: string;
    attempts: number;
    last_error: string | null;
    to_address: string | null;
    text_body: string | null;
  }>('SELECT state, attempts, last_error, to_address, text_body FROM mail_outbox ORDER BY created_at');

test('a mail is queued in the caller’s transaction: a rollback queues nothing, a commit queues it', async (t) => {
  const { db } = await database(t);
  await t.throwsAsync(
    db.transaction(async (sql) => {
      await queueMail(sql, new Date(), 'mor@example.dk', EACH.topup_receipt);
      throw new Error('the money transaction failed');
    }),
  );
  t.is((await states(db)).length, 0);
  const q = await db.transaction((sql) =>
    queueMail(sql, new Date(), 'mor@example.dk', EACH.topup_receipt, { key: 'r1' }),
  );
  t.is(q.state, 'queued');
  const again = await db.transaction((sql) =>
    queueMail(sql, new Date(), 'mor@example.dk', EACH.topup_receipt, { key: 'r1' }),
  );
  t.is(again.state, 'duplicate', 'the same key is queued once');
  const other = await db.transaction((sql) =>
    queueMail(sql, new Date(), 'mor@example.dk', EACH.low_balance, { key: 'r1' }),
  );
  t.is(other.state, 'queued', 'a key is per type');
  t.is((await states(db)).length, 2);
});

test('the outbox survives a catcher that is down, retries with back-off and sends once it is back', async (t) => {
  const { db } = await database(t);
  const port = await freePort();
  const lines: string[] = [];
  const mailer = mailerTo(port);
  const outbox = new MailOutbox(db, clock, mailer, capturedLog(lines), FAST);
  t.teardown(async () => {
    await outbox.stop();
    mailer.close();
  });
  await db.transaction(async (sql) => {
    await queueMail(sql, new Date(), 'mor@example.dk', EACH.topup_receipt);
    await queueMail(sql, new Date(), 'far@example.dk', EACH.low_balance);
  });
  outbox.start();
  await until(async () => (await states(db)).every((r) => r.attempts >= 2), 'two failed tries each');
  for (const r of await states(db)) {
    t.is(r.state, 'queued');
    t.is(r.last_error, 'ESOCKET', 'only the error code is kept');
  }
  t.true(lines.some((l) => l.includes('will retry')));

  const catcher = await startMailCatcher({ smtpPort: port, httpPort: false });
  t.teardown(() => catcher.close());
  const mails = await catcher.waitFor(2);
  await until(async () => (await states(db)).every((r) => r.state === 'sent'), 'both marked sent');
  t.deepEqual(mails.map((m) => m.envelope.to[0]).sort(), ['far@example.dk', 'mor@example.dk']);
  for (const r of await states(db)) {
    t.is(r.to_address, null, 'a sent mail keeps no recipient');
    t.is(r.text_body, null, 'nor its content');
  }
  await outbox.stop();
  t.is(catcher.mails().length, 2, 'each sent once');
  const logged = lines.join('');
  t.false(logged.includes('mor@'), 'logs name the domain, never the address');
  t.true(logged.includes('"to_domain":"example.dk"'));
  t.false(logged.includes('Freja'), 'nor the content');
});

test('two workers on one table do not send a mail twice', async (t) => {
  const { url, db } = await database(t);
  const catcher = await startMailCatcher({ httpPort: false });
  t.teardown(() => catcher.close());
  const db2 = await openPostgres(url);
  t.teardown(() => db2.close());
  const N = 40;
  await db.transaction(async (sql) => {
    for (let i = 0; i < N; i++) await queueMail(sql, new Date(), `guardian${i}@example.dk`, EACH.low_balance);
  });
  const lines: string[] = [];
  const workers = [db, db2].map((d) => {
    const mailer = mailerTo(catcher.smtpPort);
    const outbox = new MailOutbox(d, clock, mailer, capturedLog(lines), { ...FAST, batch: 1, poll_ms: 1 });
    return { mailer, outbox };
  });
  t.teardown(async () => {
    for (const w of workers) {
      await w.outbox.stop();
      w.mailer.close();
    }
  });
  for (const w of workers) w.outbox.start();
  await until(async () => (await states(db)).every((r) => r.state === 'sent'), 'all sent', 30_000);
  for (const w of workers) await w.outbox.stop();
  const to = catcher.mails().map((m) => m.envelope.to[0]);
  t.is(to.length, N);
  t.is(new Set(to).size, N, 'each recipient got exactly one');
  t.is(lines.filter((l) => l.includes('"msg":"mail sent"')).length, N);
});

test('a relay’s 5xx is final; a worker that died mid-send leaves its mail to another after the lease', async (t) => {
  const { db } = await database(t);
  const catcher = await startMailCatcher({ httpPort: false, refuse: (a) => a.startsWith('nobody@') });
  t.teardown(() => catcher.close());
  await db.transaction(async (sql) => {
    await queueMail(sql, new Date(), 'nobody@example.dk', EACH.low_balance);
  });
  const lines: string[] = [];
  const mailer = mailerTo(catcher.smtpPort);
  t.teardown(() => mailer.close());
  const outbox = new MailOutbox(db, clock, mailer, capturedLog(lines), FAST);
  t.is(await outbox.round(), 1);
  const [refused] = await states(db);
  t.is(refused?.state, 'failed');
  t.is(refused?.last_error, 'EENVELOPE 550');
  t.is(await outbox.round(), 0, 'not tried again');

  // A worker claims a mail and never finishes (its send hangs, as if the process died).
  await db.transaction((sql) => queueMail(sql, new Date(), 'mor@example.dk', EACH.topup_receipt));
  const hung = new MailOutbox(db, clock, { send: () => new Promise(() => {}), close() {} }, capturedLog(lines), {
    ...FAST,
    lease_ms: 300,
  });
  void hung.round();
  await until(
    async () =>
      (await db.query("SELECT 1 FROM mail_outbox WHERE claim_id IS NOT NULL AND state = 'queued'")).length === 1,
    'claimed',
  );
  t.is(await outbox.round(), 0, 'a claimed mail is not another worker’s while the lease lasts');
  await until(async () => (await outbox.round()) === 1, 'the lease ran out and another worker took it');
  await catcher.waitFor(1);
  t.is(catcher.mails().length, 1);
});

test('no mail configured: each mail is logged as not sent, by type and domain only', async (t) => {
  const { db } = await database(t);
  const lines: string[] = [];
  const outbox = new MailOutbox(db, clock, new Mailer(undefined), capturedLog(lines), FAST);
  await db.transaction((sql) => queueMail(sql, new Date(), 'mor@example.dk', EACH.relation_invite));
  t.is(await outbox.round(), 1);
  const [row] = await states(db);
  t.is(row?.state, 'not_sent');
  t.is(row?.text_body, null, 'the invitation link is not kept');
  const line = lines.find((l) => l.includes('not sent: no mail configured'));
  t.truthy(line);
  t.like(JSON.parse(line as string), { type: 'relation_invite', to_domain: 'example.dk' });
  t.false(lines.join('').includes('mor@'));
  t.false(lines.join('').includes('invitation/'), 'nor the link');
});

test('a CPR number never goes out: a mail that holds one is refused when queued, and no log line carries it', async (t) => {
  const { db } = await database(t);
  const catcher = await startMailCatcher({ httpPort: false });
  t.teardown(() => catcher.close());
  const lines: string[] = [];
  const mailer = mailerTo(catcher.smtpPort);
  t.teardown(() => mailer.close());
  const outbox = new MailOutbox(db, clock, mailer, capturedLog(lines), FAST);
  const cpr = '010203-1234';
  const results = await db.transaction(async (sql) => [
    await queueMail(sql, new Date(), 'mor@example.dk', { ...EACH.low_balance, child_name: `Freja ${cpr}` } as never),
    await queueMail(sql, new Date(), 'mor@example.dk', { ...EACH.payout_receipt, to_account: '0102031234' } as never),
    await queueMail(sql, new Date(), '0102031234@example.dk', EACH.low_balance),
    await queueMail(sql, new Date(), 'not an address', EACH.low_balance),
    await queueMail(sql, new Date(), 'mor@example.dk', { ...EACH.card_expiring, card_last4: 'x' } as never),
    await queueMail(sql, new Date(), 'mor@example.dk', EACH.topup_receipt),
  ]);
  t.deepEqual(
    results.map((r) => r.reason ?? r.state),
    ['cpr_in_content', 'cpr_in_content', 'cpr_in_content', 'bad_address', 'render_failed', 'queued'],
  );
  while ((await outbox.round()) > 0);
  t.is(catcher.mails().length, 1, 'only the clean mail went out');
  t.is(lines.filter((l) => l.includes('refused when queued')).length, 5);
  for (const l of lines) t.false(looksLikeCpr(l), `no CPR number in ${l}`);
  for (const m of catcher.mails()) t.false(looksLikeCpr(m.raw));
  const stored = JSON.stringify(await db.query('SELECT * FROM mail_outbox'));
  t.false(looksLikeCpr(stored), 'nor in the outbox table');
});
