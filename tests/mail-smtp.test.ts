import { parseCentralConfig } from '@kantine/central';
import { looksLikeCpr, MAIL_TYPES, Mailer, renderMail } from '@kantine/central/mail';
import { startMailCatcher } from '@kantine/central/mail/dev';
import { KantineError } from '@kantine/protocol';
import test from 'ava';

// One at a time: central's start (its TLS keys) can hold this process's event loop long enough
// for a concurrent SMTP client's timer to fire before the greeting is read.
import { startCentral } from './helpers/central.ts';
import { EACH, until } from './helpers/mail.ts';
import { freePort, spawnService } from './helpers/process.ts';

test.serial(
  'central’s Mailer sends every template over SMTP to the catcher process, which shows them as JSON and a page',
  async (t) => {
    const [smtpPort, httpPort] = [await freePort(), await freePort()];
    const child = await spawnService(
      'central/bin/kantine-mailcatcher.mjs',
      ['--smtp-port', String(smtpPort), '--http-port', String(httpPort)],
      'ready',
    );
    t.teardown(() => {
      child.kill('SIGTERM');
    });
    const mailer = new Mailer({
      smtp_url: `smtp://127.0.0.1:${smtpPort}`,
      starttls: 'if_offered',
      from: 'Kantinen <kantine@kommune.example>',
      reply_to: 'skolen@kommune.example',
      max_attempts: 3,
    });
    t.teardown(() => mailer.close());
    for (const type of MAIL_TYPES) {
      const result = await mailer.send({ to: `${type}@example.dk`, ...renderMail(EACH[type]) });
      t.true(result.sent);
    }
    const res = await fetch(`http://127.0.0.1:${httpPort}/mails.json`);
    // biome-ignore lint/suspicious/noExplicitAny: the catcher's JSON, read field by field
    const mails = (await res.json()) as any[];
    t.is(mails.length, MAIL_TYPES.length);
    for (const type of MAIL_TYPES) {
      const m = mails.find((x) => x.envelope.to[0] === `${type}@example.dk`);
      const sent = renderMail(EACH[type]);
      t.is(m.subject, sent.subject, `${type}: the subject (both languages) arrives whole`);
      t.is(m.text.trim(), sent.text.trim(), `${type}: the plain text arrives whole`);
      t.is(m.html.trim(), sent.html.trim(), `${type}: the HTML arrives whole`);
      t.regex(m.from, /kantine@kommune\.example/);
      t.is(m.headers['reply-to'], 'skolen@kommune.example');
      t.is(m.headers['auto-submitted'], 'auto-generated');
      t.false(looksLikeCpr(JSON.stringify(m)));
    }
    const receipt = mails.find((x) => x.envelope.to[0] === 'topup_receipt@example.dk');
    t.true(receipt.text.replace(/\u00a0/g, ' ').includes('Beløb: 1.234,50 kr.'));
    const page = await (await fetch(`http://127.0.0.1:${httpPort}/`)).text();
    t.true(page.includes('Kvittering for indbetaling / Receipt for your top-up'));
    t.true(page.includes('<html lang="da">'));
  },
);

test.serial('the mail section: plain SMTP beyond this machine is refused unless STARTTLS is required', (t) => {
  const mail = (m: Record<string, unknown>) => parseCentralConfig({ mail: { from: 'kantine@kommune.example', ...m } });
  const refused = t.throws(() => mail({ smtp_url: 'smtp://relay.kommune.example:587' }), { instanceOf: KantineError });
  t.is((refused as KantineError).code, 'mail_insecure');
  t.truthy(mail({ smtp_url: 'smtp://relay.kommune.example:587', starttls: 'required' }).mail);
  t.truthy(mail({ smtp_url: 'smtps://relay.kommune.example' }).mail);
  t.truthy(mail({ smtp_url: 'smtp://127.0.0.1:2525' }).mail);
  for (const bad of [
    { smtp_url: 'http://relay.kommune.example' },
    { smtp_url: 'smtps://relay.kommune.example', from: 'kantine@kommune.example\r\nBcc: x@y' },
    { smtp_url: 'smtps://relay.kommune.example', extra: 1 },
  ]) {
    const err = t.throws(() => mail(bad), { instanceOf: KantineError });
    t.is((err as KantineError).code, 'config_invalid');
  }
  t.is(parseCentralConfig({}).mail, undefined, 'the section is optional');
});

test.serial(
  'a guardian’s invitation by e-mail is queued in the invite’s transaction and sent by central’s outbox',
  async (t) => {
    const catcher = await startMailCatcher({ httpPort: false });
    t.teardown(() => catcher.close());
    const c = await startCentral(t, {
      mail: { smtp_url: `smtp://127.0.0.1:${catcher.smtpPort}`, from: 'Kantinen <kantine@kommune.example>' },
      identity: {
        issuer: 'http://127.0.0.1:9/',
        client_id: 'kantine',
        client_secret: 'not used here',
        public_url: 'https://kantine.kommune.example',
      },
    });
    const central = c.service.central;
    await central.db.query("INSERT INTO accounts (id, first_name, last_name) VALUES ('acc-freja', 'Freja', 'Hansen')");
    const { person_id } = await central.people.signIn({
      issuer: 'https://idp.example',
      sub: 'anne',
      name: 'Anne Hansen',
      email: 'anne@example.dk',
      cpr: '0101801234',
    });
    const invite = await central.people.inviteByEmail('acc-freja', person_id, 'moster@example.dk');
    const [mail] = await catcher.waitFor(1);
    t.deepEqual(mail?.envelope.to, ['moster@example.dk']);
    t.true(mail?.text.includes(`https://kantine.kommune.example/invitation/${invite.token}`));
    t.true(mail?.text.includes('Anne Hansen har inviteret dig til at følge og fylde op på Frejas kantinekort.'));
    t.true(mail?.text.includes("Anne Hansen has invited you to follow and top up Freja's canteen card."));
    t.false(looksLikeCpr(mail?.raw ?? ''));
    await until(
      async () =>
        (await central.db.query("SELECT 1 FROM mail_outbox WHERE state = 'sent' AND text_body IS NULL")).length === 1,
      'marked sent',
    );
    t.is(catcher.mails().length, 1);
  },
);

test.serial(
  'with starttls "required", a relay that offers no STARTTLS gets no mail; a missing password file stops central’s start',
  async (t) => {
    const catcher = await startMailCatcher({ httpPort: false });
    t.teardown(() => catcher.close());
    const mailer = new Mailer({
      smtp_url: `smtp://127.0.0.1:${catcher.smtpPort}`,
      starttls: 'required',
      from: 'kantine@kommune.example',
      max_attempts: 1,
    });
    t.teardown(() => mailer.close());
    await t.throwsAsync(mailer.send({ to: 'mor@example.dk', ...renderMail(EACH.low_balance) }));
    t.is(catcher.mails().length, 0, 'nothing went out in the clear');

    const { CentralService } = await import('@kantine/central');
    const service = new CentralService({
      config: parseCentralConfig({
        database: { dir: 'memory://' },
        mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0, tls: 'off' },
        http: { host: '127.0.0.1', port: 0 },
        mail: {
          smtp_url: 'smtps://relay.kommune.example',
          from: 'kantine@kommune.example',
          password_file: '/nonexistent/smtp-password',
        },
      }),
    });
    const err = await t.throwsAsync(service.start(), { instanceOf: KantineError });
    t.is((err as KantineError).code, 'config_invalid');
    t.true(err?.details.some((d) => d.startsWith('/mail/password_file')));
    await service.stop();
  },
);
