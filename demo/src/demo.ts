/**
 * `npm start`: a whole demo on embedded defaults. Central (PGlite, its own broker, its API and the
 * guardians' sign-in), a development identity provider in MitID's place with the demo people, one
 * site's gateway linked to central (broker, ledger, till API) and a reader on its till, driven from
 * the keyboard (or over HTTP when there is no terminal). The demo's data is made anew at every start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CentralService, parseCentralConfig, seedDemoPeople } from '@kantine/central';
import { startMailCatcher } from '@kantine/central/mail/dev';
import { Gateway, localDate, parseGatewayConfig } from '@kantine/gateway';
import { DEMO_CHILDREN, DEMO_PEOPLE, startDevIdp } from '@kantine/idp';
import { check } from '@kantine/protocol';
import { hashSecret, newSecret } from '@kantine/protocol/credentials';
import { ConsoleFeedback, ReaderDaemon, resolveReaderConfig } from '@kantine/reader';
import pino from 'pino';
import Type from 'typebox';
import { seedDemoAgreement } from './autotopup.ts';
import { cardTapper, demoPort, makeTwins, VPCD_READER } from './cards.ts';
import {
  demoCards,
  demoChildren,
  demoReaderId,
  demoSite,
  demoStaff,
  demoTill,
  seedDemoCentral,
  seedDemoPreorder,
  seedDemoSite,
} from './demo-site.ts';
import { driveFromKeyboard, out, showDecision, showHttpDriving, showIntro, showReader } from './terminal.ts';

async function main(): Promise<void> {
  const dataDir = process.env.KANTINE_DEMO_DIR ?? join(process.cwd(), 'data', 'demo');
  rmSync(dataDir, { recursive: true, force: true });
  const mqttPort = Number(process.env.KANTINE_MQTT_PORT ?? 8883);
  const httpPort = Number(process.env.KANTINE_HTTP_PORT ?? 8080);
  const centralMqttPort = Number(process.env.KANTINE_CENTRAL_MQTT_PORT ?? 8884);
  const centralHttpPort = Number(process.env.KANTINE_CENTRAL_HTTP_PORT ?? 8090);
  const idpPort = Number(process.env.KANTINE_IDP_PORT ?? 8091);
  const mailPort = Number(process.env.KANTINE_MAIL_PORT ?? 8025);
  const mailSmtpPort = Number(process.env.KANTINE_MAIL_SMTP_PORT ?? mailPort + 1);
  const pspPort = Number(process.env.KANTINE_PSP_PORT ?? 8097);
  const level = process.env.LOG_LEVEL ?? 'warn';
  const log = pino({ name: 'gateway', level });
  const portsInUse = () => {
    process.stderr.write(
      `Port ${mqttPort}, ${httpPort}, ${centralMqttPort}, ${centralHttpPort}, ${idpPort}, ${mailPort}, ${mailSmtpPort} or ${pspPort} is in use. Start with other ports, e.g.\n` +
        '  KANTINE_MQTT_PORT=18883 KANTINE_HTTP_PORT=18080 KANTINE_CENTRAL_MQTT_PORT=18884 KANTINE_CENTRAL_HTTP_PORT=18090 KANTINE_IDP_PORT=18091 KANTINE_MAIL_PORT=18025 KANTINE_MAIL_SMTP_PORT=18026 KANTINE_PSP_PORT=18097 npm start\n',
    );
    process.exit(1);
  };

  // The development identity provider stands where a MitID broker stands in production: central
  // sends people to it to sign in, and it answers with their CPR number as MitID's broker would.
  const portal = `http://127.0.0.1:${centralHttpPort}`;
  const idpClient = { client_id: 'kantine-demo', client_secret: randomBytes(24).toString('base64url') };
  let idp: Awaited<ReturnType<typeof startDevIdp>>;
  try {
    idp = await startDevIdp({
      host: '127.0.0.1',
      port: idpPort,
      clients: [
        {
          ...idpClient,
          redirect_uris: [`${portal}/login/callback`],
          post_logout_redirect_uris: [`${portal}/`],
        },
      ],
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') portsInUse();
    throw err;
  }

  // Mail to guardians goes to a catcher that delivers nowhere and shows what it caught on a page
  // (SMTP on the port after the page's, unless KANTINE_MAIL_SMTP_PORT says another).
  let mail: Awaited<ReturnType<typeof startMailCatcher>>;
  try {
    mail = await startMailCatcher({ httpPort: mailPort, smtpPort: mailSmtpPort });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') portsInUse();
    throw err;
  }

  // The fake payment provider, its own process as a real provider is its own service: guardians
  // top up through its card page, and its webhooks come to central (keys made anew each start).
  const pspKeys = {
    api_key: randomBytes(24).toString('base64url'),
    webhook_secret: randomBytes(24).toString('base64url'),
  };
  let psp: { child: ChildProcess; url: string };
  try {
    psp = await startFakePsp(pspPort, `${portal}/payments/webhook`, pspKeys);
  } catch (err) {
    if ((err as Error).message.includes('EADDRINUSE')) portsInUse();
    throw err;
  }

  // Central first, on its embedded defaults: the site's accounts, cards and money come from it.
  const central = new CentralService({
    config: parseCentralConfig({
      database: { dir: join(dataDir, 'central') },
      // The link over TLS with central's own CA, which the site pins (as IT gives it to a site).
      mqtt: { mode: 'embedded', host: '127.0.0.1', port: centralMqttPort, tls_dir: join(dataDir, 'central-tls') },
      http: { host: '127.0.0.1', port: centralHttpPort },
      identity: {
        issuer: idp.issuer,
        ...idpClient,
        public_url: portal,
        cpr_key_file: join(dataDir, 'central-keys', 'cpr.key'),
      },
      mail: { smtp_url: `smtp://127.0.0.1:${mail.smtpPort}`, from: 'Kantinen (demo) <kantine@demo.invalid>' },
      // The municipality's account payouts leave from (made up), for finance's pain.001 file.
      payouts: { debtor: { name: 'Demo Kommune', reg_nr: '1234', account_nr: '0001234567' } },
      // Top-up by card through the fake provider (docs/operations/payments.md has Nexi's section).
      payments: {
        provider: 'fake',
        api_url: psp.url,
        ...pspKeys,
        terms_url: `${portal}/tilgaengelighed`,
        check_after_s: 10,
      },
    }),
    log: pino({ name: 'central', level }),
  });
  try {
    await central.start();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') portsInUse();
    throw err;
  }
  const siteSecret = newSecret();
  await seedDemoCentral(central.central, await hashSecret(siteSecret));
  // The demo people's places, by CPR number as a municipality's records give them: Anne and Peter
  // guardians, Karen a relation of Emma, Lone at the school office, Jens administrator, Mette finance.
  await seedDemoPeople(central.central, { people: DEMO_PEOPLE, children: DEMO_CHILDREN, office_site: demoSite.id });
  // — autotopup — Peter's agreement for Freja (200 kr when a purchase leaves her under 50 kr),
  // made while the site starts.
  const peter = DEMO_PEOPLE.find((p) => p.key === 'peter');
  const agreed = peter ? seedDemoAgreement(central.central, peter, idp.issuer, 'konto-freja', 20_000) : undefined;
  // Central's API takes no request without a token, the demo's included: one per scope the curl
  // lines need, made anew each start (as `kantine-central token add` makes them).
  const tokens = {
    admin: (await central.central.tokens.add('admin', 'demo-admin')).token,
    it: (await central.central.tokens.add('it', 'demo-it')).token,
    finance: (await central.central.tokens.add('finance', 'demo-finance')).token,
  };

  const config = parseGatewayConfig({
    site: demoSite,
    database: join(dataDir, 'gateway.db'),
    mqtt: { mode: 'embedded', host: '127.0.0.1', port: mqttPort },
    http: { host: '127.0.0.1', port: httpPort },
    central: { url: `mqtts://127.0.0.1:${central.mqttPort}`, secret: siteSecret, ca_file: central.linkCaFile },
  });

  // The demo's cards are twins, laid on the real PC/SC path (pcscd with vpcd) when this machine has it.
  const twins = await makeTwins();
  const { port, viaPcsc } = await demoPort();
  const tapByKey = cardTapper(port, twins);

  const gateway = new Gateway({
    config,
    log,
    demo: true,
    routes: (app) => {
      // Demo only: tap a demo card without a keyboard, e.g. curl -XPOST …/api/demo/tap/e
      const P = Type.Object({ key: Type.String({ pattern: '^[a-z]$' }) });
      app.post('/api/demo/tap/:key', async (req, reply) => {
        const { key } = check(P, req.params, 'invalid_request');
        if (!tapByKey(key))
          return reply.status(404).send({ code: 'not_found', message: `no demo card ${key}`, details: [] });
        return reply.status(202).send({ tapped: key });
      });
    },
  });
  try {
    await gateway.start();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') portsInUse();
    throw err;
  }
  const pinHashes = Object.fromEntries(await Promise.all(demoStaff.map(async (s) => [s.id, await hashSecret(s.pin)])));
  seedDemoSite(gateway.ledger, pinHashes);
  // The children arrive over the link (a moment); then Emma's pre-order can name her account.
  await linkedAccounts(gateway);
  seedDemoPreorder(gateway.ledger, localDate(new Date()));
  // HTTPS with the site CA (the gateway's default), as a real site: browsers and curl trust tls/site-ca.pem.
  const api = gateway.httpUrl;

  gateway.on('decision', showDecision);
  gateway.on('reader', showReader);

  // The reader is set up as IT sets up a new one: a one-time enrolment token in its reader.json;
  // on start it enrols, gets its secret and the site CA, and talks MQTT over TLS from then on.
  const { token } = gateway.enrolments.create({ till_id: demoTill.id, reader_id: demoReaderId, hours: 1 });
  const readerJson = join(dataDir, 'reader.json');
  writeFileSync(
    readerJson,
    JSON.stringify({
      enrol: { url: api, token },
      state_dir: join(dataDir, 'reader'),
      port: viaPcsc ? { kind: 'pcsc', reader_name: VPCD_READER } : { kind: 'sim' },
    }),
  );
  const readerConfig = await resolveReaderConfig(readerJson);
  const reader = new ReaderDaemon({
    config: readerConfig,
    port,
    feedback: new ConsoleFeedback(),
    log: pino({ name: 'reader', level: process.env.LOG_LEVEL ?? 'warn' }),
  });
  await reader.start();
  await agreed;

  showIntro({
    site: demoSite.name,
    till: demoTill.name,
    brokerUrl: readerConfig.broker.url,
    dataDir,
    tlsDir: join(dataDir, 'tls'),
    readerId: demoReaderId,
    api,
    centralApi: `http://127.0.0.1:${central.httpPort}`,
    centralMqttPort: central.mqttPort,
    centralTokens: tokens,
    portal,
    idp: idp.issuer,
    mail: `http://127.0.0.1:${mail.httpPort}/`,
    psp: psp.url,
    people: DEMO_PEOPLE.map((p) => ({ name: p.name, about: p.about_da })),
    viaPcsc,
    vpcdReader: VPCD_READER,
    ledger: gateway.ledger,
  });

  const shutdown = async () => {
    out('\nStopper / stopping…');
    await reader.stop();
    await gateway.stop();
    await central.stop();
    await idp.stop();
    await mail.close();
    await stopChild(psp.child);
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());

  if (process.stdin.isTTY) driveFromKeyboard(gateway.ledger, tapByKey, () => void shutdown());
  else showHttpDriving(api, join(dataDir, 'tls'));
}

/** `kantine-fake-psp` as its own process; resolves with its address once it answers (bounded: 20 s). */
function startFakePsp(
  port: number,
  webhookUrl: string,
  keys: { api_key: string; webhook_secret: string },
): Promise<{ child: ChildProcess; url: string }> {
  const bin = fileURLToPath(new URL('../bin/kantine-fake-psp.mjs', import.meta.resolve('@kantine/payments')));
  const child = spawn(process.execPath, [bin, '--port', String(port), '--webhook-url', webhookUrl], {
    env: {
      ...process.env,
      KANTINE_FAKE_PSP_API_KEY: keys.api_key,
      KANTINE_FAKE_PSP_WEBHOOK_SECRET: keys.webhook_secret,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The demo ends with its provider (a crash of the demo's process too: the child is not orphaned for long).
  process.once('exit', () => child.kill('SIGTERM'));
  let out = '';
  let err = '';
  child.stderr?.on('data', (b: Buffer) => {
    err += b.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kantine-fake-psp did not start within 20 s\n${err}`)), 20_000);
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /^url (\S+)$/m.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve({ child, url: m[1] });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(
        new Error(`kantine-fake-psp exited with ${code}: ${err.includes('EADDRINUSE') ? 'EADDRINUSE ' : ''}${err}`),
      );
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Waits (bounded) until every demo child's account and money have come over the link. */
async function linkedAccounts(gateway: Gateway): Promise<void> {
  const until = Date.now() + 20_000;
  const arrived = () =>
    demoChildren.every((c) => gateway.ledger.accounts.getAccount(c.id)?.balance_ore === c.ore) &&
    demoCards.every((c) => c.registered === false || c.key === 'b' || gateway.ledger.accounts.getCard(c.uid));
  while (!arrived()) {
    if (Date.now() > until) throw new Error('the demo accounts did not arrive from central within 20 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`kantine demo: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
