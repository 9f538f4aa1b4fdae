/**
 * `npm start`: a whole demo on embedded defaults. Central (PGlite, its own broker, its API), one
 * site's gateway linked to it (broker, ledger, till API) and a reader on its till, driven from the
 * keyboard (or over HTTP when there is no terminal). The demo's data is made anew at every start.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LegacyUidCard, Ntag424, Ntag424Card, personalizeCard, type VirtualCard, VpcdLink } from '@kantine/card';
import { CentralService, parseCentralConfig } from '@kantine/central';
import { check, codes, type Decision } from '@kantine/protocol';
import { hashSecret, newSecret } from '@kantine/protocol/credentials';
import {
  type CardPort,
  ConsoleFeedback,
  loadNfcPcsc,
  PcscPort,
  pcscdListening,
  ReaderDaemon,
  resolveReaderConfig,
  SimulatedPort,
} from '@kantine/reader';
import pino from 'pino';
import Type from 'typebox';
import { parseGatewayConfig } from './config.ts';
import {
  demoBatch,
  demoCards,
  demoChildren,
  demoCloneKeys,
  demoProducts,
  demoReaderId,
  demoSite,
  demoStaff,
  demoTill,
  seedDemoCentral,
  seedDemoPreorder,
  seedDemoSite,
} from './demo-site.ts';
import { Gateway } from './gateway.ts';
import { localDate } from './spend-limits.ts';

const kr = (ore: number) => (ore / 100).toFixed(2).replace('.', ',');
const out = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const dataDir = process.env.KANTINE_DEMO_DIR ?? join(process.cwd(), 'data', 'demo');
  rmSync(dataDir, { recursive: true, force: true });
  const mqttPort = Number(process.env.KANTINE_MQTT_PORT ?? 8883);
  const httpPort = Number(process.env.KANTINE_HTTP_PORT ?? 8080);
  const centralMqttPort = Number(process.env.KANTINE_CENTRAL_MQTT_PORT ?? 8884);
  const centralHttpPort = Number(process.env.KANTINE_CENTRAL_HTTP_PORT ?? 8090);
  const level = process.env.LOG_LEVEL ?? 'warn';
  const log = pino({ name: 'gateway', level });
  const portsInUse = () => {
    process.stderr.write(
      `Port ${mqttPort}, ${httpPort}, ${centralMqttPort} or ${centralHttpPort} is in use. Start with other ports, e.g.\n` +
        '  KANTINE_MQTT_PORT=18883 KANTINE_HTTP_PORT=18080 KANTINE_CENTRAL_MQTT_PORT=18884 KANTINE_CENTRAL_HTTP_PORT=18090 npm start\n',
    );
    process.exit(1);
  };

  // Central first, on its embedded defaults: the site's accounts, cards and money come from it.
  const central = new CentralService({
    config: parseCentralConfig({
      database: { dir: join(dataDir, 'central') },
      mqtt: { mode: 'embedded', host: '127.0.0.1', port: centralMqttPort },
      http: { host: '127.0.0.1', port: centralHttpPort },
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

  const config = parseGatewayConfig({
    site: demoSite,
    database: join(dataDir, 'gateway.db'),
    mqtt: { mode: 'embedded', host: '127.0.0.1', port: mqttPort },
    http: { host: '127.0.0.1', port: httpPort },
    central: { url: `mqtt://127.0.0.1:${central.mqttPort}`, secret: siteSecret },
  });

  // The demo's cards are twins: kantine cards programmed here as IT would, and UID-only ones.
  const twins = new Map<string, VirtualCard>();
  for (const c of demoCards) {
    if (c.kind === 'legacy') {
      twins.set(c.key, new LegacyUidCard(c.uid));
      continue;
    }
    const twin = new Ntag424Card(c.uid);
    const keys = c.registered === false ? demoCloneKeys : demoBatch.keys;
    await personalizeCard(new Ntag424(async (apdu) => twin.transmit(apdu)), {
      ...demoBatch,
      batch: demoBatch.id,
      keys,
    });
    twins.set(c.key, twin);
  }

  // Through the real PC/SC path (pcscd with the vpcd driver) when this machine has it.
  const NFC = process.env.KANTINE_DEMO_PORT === 'sim' ? undefined : loadNfcPcsc();
  const viaPcsc = NFC !== undefined && (await vpcdAvailable());
  const port: CardPort = viaPcsc ? new PcscPort(NFC, { readerName: VPCD_READER }) : new SimulatedPort();
  let onReader: VpcdLink | undefined;
  const tapByKey = (key: string) => {
    const card = demoCards.find((c) => c.key === key);
    const twin = twins.get(key);
    if (!card || !twin) return false;
    out(`\n→ ${card.label} bipper / taps`);
    if (port instanceof SimulatedPort) {
      port.tap(twin);
    } else if (!onReader) {
      // Lay the twin on the virtual reader for a moment, as a child's tap.
      const link = new VpcdLink(twin);
      onReader = link;
      link.insert().then(
        () =>
          setTimeout(() => {
            link.remove();
            onReader = undefined;
          }, TAP_HOLD_MS),
        (err: Error) => {
          onReader = undefined;
          out(`  vpcd: ${err.message}`);
        },
      );
    }
    return true;
  };

  const gateway = new Gateway({
    config,
    log,
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
  const api = `http://127.0.0.1:${gateway.httpPort}`;

  gateway.on('decision', (d: Decision, replay) => {
    if (replay) return;
    const legacy = d.card_kind === 'legacy' ? ' [gammelt UID-kort, bør skiftes / legacy card, replace it]' : '';
    const who = `${d.first_name ? ` ${d.first_name}` : ''}${legacy}`;
    if (d.outcome === 'approved') {
      const items = (d.lines ?? []).map((l) => `${l.quantity}x ${l.name} ${kr(l.unit_price_ore)}`).join('  ');
      out(`  [kasse] SALG / SALE${who}: ${items}  -${kr(d.amount_ore ?? 0)}  saldo ${kr(d.balance_ore ?? 0)}`);
    } else if (d.outcome === 'declined') {
      const info = d.code ? codes[d.code] : undefined;
      out(`  [kasse] AFVIST / DECLINED${who}: ${info?.da ?? d.code} / ${info?.en ?? ''}`);
      if (info?.action_da) out(`          ${info.action_da}`);
    } else {
      out(`  [kasse] SALDO / BALANCE${who}: ${kr(d.balance_ore ?? 0)} kr (tom kurv / empty basket)`);
    }
  });
  gateway.on('reader', (s) => out(`  [kasse] læser ${s.reader_id}: ${s.state}${s.reason ? ` (${s.reason})` : ''}`));

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

  const showBasket = () => {
    const b = gateway.ledger.getBasket(demoTill.id);
    out(
      b
        ? `  Kurv / basket: ${b.lines.map((l) => `${l.quantity}x ${l.name}`).join(', ')} = ${kr(b.total_ore)} kr — bip et kort / tap a card`
        : '  Kurven er tom / basket empty — et bip viser saldoen / a tap shows the balance',
    );
  };

  out(`\nkantine demo — ${demoSite.name}, ${demoTill.name}`);
  out(
    `  MQTT broker:  ${readerConfig.broker.url}  (TLS, site CA in ${join(dataDir, 'tls')}; reader "${demoReaderId}" enrolled with a one-time token)`,
  );
  out(`  Overvågning / monitoring: ${api}/metrics  ${api}/readyz`);
  out(
    viaPcsc
      ? `  Kortlæser:    PC/SC via pcscd → "${VPCD_READER}" (vpcd); kortene er tvillinger / the cards are twins`
      : '  Kortlæser:    simuleret / simulated (no pcscd with the vpcd driver here); the cards are twins',
  );
  out(`  Kiosk:        ${api}/kiosk/   (åbn i en browser / open in a browser)`);
  const centralApi = `http://127.0.0.1:${central.httpPort}`;
  out(`  Central:      ${centralApi}/api/…  (broker mqtt://127.0.0.1:${central.mqttPort}; the site is linked)`);
  out(`  Personale / staff PIN: ${demoStaff.map((s) => `${s.name} ${s.pin}`).join(', ')}`);
  out(`  Data:         ${dataDir} (made anew at each start)`);
  out('\n  Varer / products:');
  for (const p of demoProducts) out(`    [${p.key}] ${p.name.padEnd(16)} ${kr(p.price_ore).padStart(6)} kr`);
  out('  Kort / cards:');
  for (const c of demoCards) {
    const account = c.account_id ? gateway.ledger.getAccount(c.account_id) : undefined;
    const kind = c.kind === 'ntag424' ? 'kantine-kort (SUN)' : 'UID-kort';
    out(`    [${c.key}] ${c.label} — ${kind}${account ? `, saldo ${kr(account.balance_ore)} kr` : ''}`);
  }

  out('  Prøv / try: Emma må bruge 40 kr om dagen og har en forudbestilling (tom kurv + [e]); Noah har kun');
  out('             4,50 kr ([2] + [n]); Freja tåler ikke nødder ([7] + [f]), må ikke købe slik ([8] + [f])');
  out('             og har automatisk optankning under 50 kr.');
  out('  Central:    spær Emmas kort / block Emma’s card, then tap [e]; indbetal / deposit:');
  out(`    curl -XPOST ${centralApi}/api/cards/${demoCards[0]?.uid}/block`);
  out(
    `    curl -XPOST ${centralApi}/api/accounts/konto-noah/deposits -H 'content-type: application/json' -d '{"amount_ore":5000}'`,
  );

  const shutdown = async () => {
    out('\nStopper / stopping…');
    await reader.stop();
    await gateway.stop();
    await central.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());

  if (process.stdin.isTTY) {
    out(
      '\n  Taster / keys: 1–8 læg vare i kurven / add to basket · c tøm kurven / clear · kort-tast bipper / card key taps · q afslut / quit\n',
    );
    process.stdin.setRawMode(true);
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (key: string) => {
      if (key === 'q' || key === '\u0003') return void shutdown();
      if (key === 'c') {
        gateway.ledger.clearBasket(demoTill.id);
        return showBasket();
      }
      const product = demoProducts.find((p) => p.key === key);
      if (product) {
        // The basket lives in the ledger (a sale consumes it); add to what is there now.
        const lines = (gateway.ledger.getBasket(demoTill.id)?.lines ?? []).map((l) => ({
          product_id: l.product_id,
          quantity: l.quantity,
        }));
        const line = lines.find((l) => l.product_id === product.id);
        if (line) line.quantity += 1;
        else lines.push({ product_id: product.id, quantity: 1 });
        gateway.ledger.setBasket(demoTill.id, lines);
        return showBasket();
      }
      tapByKey(key);
    });
  } else {
    out('\n  No terminal: sell from the kiosk in a browser, and tap cards over HTTP, e.g.');
    out(`    curl -XPOST ${api}/api/demo/tap/e      # Emma taps her card`);
    out('  or drive the till API with curl (log in first; the session is a cookie):');
    out(`    curl -c /tmp/kantine.jar -XPOST ${api}/api/kiosk/login -H 'content-type: application/json' \\`);
    out(`         -d '{"till_id":"${demoTill.id}","staff_id":"${demoStaff[0].id}","pin":"${demoStaff[0].pin}"}'`);
    out(
      `    curl -b /tmp/kantine.jar -XPUT ${api}/api/tills/${demoTill.id}/basket -H 'content-type: application/json' \\`,
    );
    out(`         -d '{"lines":[{"product_id":"ostehoeps","quantity":1},{"product_id":"yoghurt","quantity":1}]}'`);
    out('  Ctrl-C stops the demo.\n');
  }
}

const VPCD_READER = 'Virtual PCD 00 00';
const TAP_HOLD_MS = 700;

/** Waits (bounded) until every demo child's account and money have come over the link. */
async function linkedAccounts(gateway: Gateway): Promise<void> {
  const until = Date.now() + 20_000;
  const arrived = () =>
    demoChildren.every((c) => gateway.ledger.getAccount(c.id)?.balance_ore === c.ore) &&
    demoCards.every((c) => c.registered === false || c.key === 'b' || gateway.ledger.getCard(c.uid));
  while (!arrived()) {
    if (Date.now() > until) throw new Error('the demo accounts did not arrive from central within 20 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** pcscd answering on its socket, with the vpcd driver installed. */
async function vpcdAvailable(): Promise<boolean> {
  return existsSync('/usr/lib/pcsc/drivers/serial/libifdvpcd.so') && (await pcscdListening());
}

main().catch((err: unknown) => {
  process.stderr.write(`kantine demo: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
