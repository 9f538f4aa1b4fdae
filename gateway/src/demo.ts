/**
 * `npm start`: a whole demo site on embedded defaults. Gateway (broker, ledger, till API) and a
 * simulated reader on its till, driven from the keyboard (or over HTTP when there is no
 * terminal). The demo ledger is made anew at every start.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LegacyUidCard, Ntag424, Ntag424Card, personalizeCard, type VirtualCard, VpcdLink } from '@kantine/card';
import { check, codes, type Decision } from '@kantine/protocol';
import {
  type CardPort,
  ConsoleFeedback,
  loadNfcPcsc,
  PcscPort,
  parseReaderConfig,
  pcscdListening,
  ReaderDaemon,
  SimulatedPort,
} from '@kantine/reader';
import pino from 'pino';
import Type from 'typebox';
import { parseGatewayConfig } from './config.ts';
import { hashSecret } from './credentials.ts';
import {
  demoBatch,
  demoCards,
  demoCloneKeys,
  demoProducts,
  demoReaderId,
  demoSite,
  demoStaff,
  demoTill,
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
  const log = pino({ name: 'gateway', level: process.env.LOG_LEVEL ?? 'warn' });

  const config = parseGatewayConfig({
    site: demoSite,
    database: join(dataDir, 'gateway.db'),
    mqtt: { mode: 'embedded', host: '127.0.0.1', port: mqttPort },
    http: { host: '127.0.0.1', port: httpPort },
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
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') {
      process.stderr.write(
        `Port ${mqttPort} or ${httpPort} is in use. Start with other ports, e.g.\n  KANTINE_MQTT_PORT=18883 KANTINE_HTTP_PORT=18080 npm start\n`,
      );
      process.exit(1);
    }
    throw err;
  }
  const pinHashes = Object.fromEntries(await Promise.all(demoStaff.map(async (s) => [s.id, await hashSecret(s.pin)])));
  seedDemoSite(gateway.ledger, pinHashes, localDate(new Date()));
  const secret = await gateway.addReader(demoReaderId, demoTill.id);

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

  const reader = new ReaderDaemon({
    config: parseReaderConfig({
      reader_id: demoReaderId,
      site: demoSite.id,
      broker: { url: `mqtt://127.0.0.1:${gateway.mqttPort}`, secret },
      port: viaPcsc ? { kind: 'pcsc', reader_name: VPCD_READER } : { kind: 'sim' },
    }),
    port,
    feedback: new ConsoleFeedback(),
    log: pino({ name: 'reader', level: process.env.LOG_LEVEL ?? 'warn' }),
  });
  await reader.start();

  const api = `http://127.0.0.1:${gateway.httpPort}`;
  const showBasket = () => {
    const b = gateway.ledger.getBasket(demoTill.id);
    out(
      b
        ? `  Kurv / basket: ${b.lines.map((l) => `${l.quantity}x ${l.name}`).join(', ')} = ${kr(b.total_ore)} kr — bip et kort / tap a card`
        : '  Kurven er tom / basket empty — et bip viser saldoen / a tap shows the balance',
    );
  };

  out(`\nkantine demo — ${demoSite.name}, ${demoTill.name}`);
  out(`  MQTT broker:  mqtt://127.0.0.1:${gateway.mqttPort}  (reader "${demoReaderId}")`);
  out(
    viaPcsc
      ? `  Kortlæser:    PC/SC via pcscd → "${VPCD_READER}" (vpcd); kortene er tvillinger / the cards are twins`
      : '  Kortlæser:    simuleret / simulated (no pcscd with the vpcd driver here); the cards are twins',
  );
  out(`  Kiosk:        ${api}/kiosk/   (åbn i en browser / open in a browser)`);
  out(`  Personale / staff PIN: ${demoStaff.map((s) => `${s.name} ${s.pin}`).join(', ')}`);
  out(`  Ledger:       ${config.database} (made anew at each start)`);
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

  const shutdown = async () => {
    out('\nStopper / stopping…');
    await reader.stop();
    await gateway.stop();
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

/** pcscd answering on its socket, with the vpcd driver installed. */
async function vpcdAvailable(): Promise<boolean> {
  return existsSync('/usr/lib/pcsc/drivers/serial/libifdvpcd.so') && (await pcscdListening());
}

main().catch((err: unknown) => {
  process.stderr.write(`kantine demo: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
