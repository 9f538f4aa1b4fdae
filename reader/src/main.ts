#!/usr/bin/env -S node --import=tsx
/**
 * kantine-reader --config /etc/kantine/reader.json
 *
 * A config with an `enrol` token (and no broker) enrols at the gateway on first start and keeps
 * its credentials and the site CA in `state_dir` (/var/lib/kantine-reader).
 * Port `auto` uses the PC/SC reader when nfc-pcsc is installed and the simulated one otherwise,
 * saying which. With the simulated port, type a card UID (hex) and Enter to tap it.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { CARD_UID_PATTERN, KantineError } from '@kantine/protocol';
import pino from 'pino';
import type { CardPort } from './card-port.ts';
import type { ReaderFileConfig } from './config.ts';
import { READER_VERSION, ReaderDaemon } from './daemon.ts';
import { resolveReaderConfig } from './enrol.ts';
import { Acr122uFeedback, ConsoleFeedback, type Feedback } from './feedback.ts';
import { loadNfcPcsc, PcscPort } from './pcsc/index.ts';
import { SimulatedPort } from './sim-port.ts';
import { Updater } from './updater.ts';

const HELP = `Usage: kantine-reader [--config <file>]

kantine's card reader daemon at one till: reads cards through PC/SC (or a simulated reader:
type a card UID and Enter), sends each tap to the school's gateway over MQTT and shows the
answer on the reader's LED and buzzer. Runs until SIGINT/SIGTERM.

Options:
  -c, --config <file>  the config file (env: KANTINE_READER_CONFIG; default: /etc/kantine/reader.json)
  -h, --help           show this help
`;

const log = pino({ name: 'reader', level: process.env.LOG_LEVEL ?? 'info' });

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const configPath = values.config ?? process.env.KANTINE_READER_CONFIG ?? '/etc/kantine/reader.json';
  const config = await resolveReaderConfig(configPath, (c) =>
    log.info({ reader_id: c.reader_id, till_id: c.till_id, broker: c.broker_url }, 'enrolled at the gateway'),
  );

  let port: CardPort;
  let feedback: Feedback;
  const NFC = config.port.kind === 'sim' ? undefined : loadNfcPcsc();
  if (NFC) {
    const pcsc = new PcscPort(NFC, config.port.reader_name ? { readerName: config.port.reader_name } : {});
    port = pcsc;
    feedback = new Acr122uFeedback(
      () => pcsc.escape(),
      (err) => log.warn({ err: err.message }, 'feedback failed'),
    );
    log.info('using the PC/SC card reader (nfc-pcsc over libpcsclite)');
  } else {
    if (config.port.kind === 'pcsc') {
      throw new KantineError(
        'config_invalid',
        'port.kind is "pcsc" but the PC/SC layer is missing: install pcscd and libpcsclite-dev, then npm install (nfc-pcsc, koffi)',
      );
    }
    const sim = new SimulatedPort();
    port = sim;
    feedback = new ConsoleFeedback();
    log.info('using the simulated card reader: type a card UID and Enter to tap it');
    createInterface({ input: process.stdin }).on('line', (line) => {
      const uid = line.trim().toUpperCase();
      if (new RegExp(CARD_UID_PATTERN).test(uid)) sim.tap(uid);
      else if (uid) process.stdout.write('  a UID is 8, 14 or 20 hex digits\n');
    });
  }

  const daemon = new ReaderDaemon({ config, port, feedback, log });
  const shutdown = () => {
    void daemon.stop().finally(() => process.exit(0));
  };
  startUpdater(config, daemon, shutdown);
  await daemon.start();
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

// An update not confirmed this long after start counts as failed: exit, and launch.sh counts it.
const HEALTH_DEADLINE_MS = 30_000;

/** Self-update from the gateway, on a Pi set up by install.sh (two slots, a release key). */
function startUpdater(config: ReaderFileConfig, daemon: ReaderDaemon, restart: () => void): void {
  const base = process.env.KANTINE_READER_BASE ?? '/opt/kantine-reader';
  const why = config.gateway_http
    ? Updater.unavailable({ base, publicKeyFile: config.release_key_file })
    : 'no gateway_http (enrol, or set it in reader.json)';
  if (why) {
    log.info({ why }, 'updates from the gateway are off');
    return;
  }
  const updater = new Updater({
    base,
    state: config.state_dir,
    publicKeyFile: config.release_key_file,
    gatewayHttp: config.gateway_http as string,
    caFile: config.broker.ca_file,
    version: READER_VERSION,
    log,
    restart,
  });
  updater.clearStale();
  if (updater.pending === READER_VERSION) {
    log.info({ version: READER_VERSION }, 'started after an update: waiting to be connected and configured');
    setTimeout(() => {
      if (updater.pending !== READER_VERSION) return;
      log.error({ version: READER_VERSION }, 'not healthy in time after the update: exiting (launch.sh rolls back)');
      process.exit(1);
    }, HEALTH_DEADLINE_MS).unref();
  }
  daemon.on('config', (cfg) => {
    updater.confirm();
    updater.apply(cfg).then(
      (outcome) => {
        if (outcome === 'failed_before')
          log.warn({ version: cfg.release?.version }, 'this release failed here before: not tried again');
      },
      (err: unknown) => {
        const e = err as KantineError;
        log.warn({ code: e.code, err: e.message, details: e.details }, 'update refused');
      },
    );
  });
}

main().catch((err: unknown) => {
  if (err instanceof KantineError) {
    process.stderr.write(`kantine-reader: ${err.code}: ${err.message}\n`);
    for (const d of err.details) process.stderr.write(`  ${d}\n`);
  } else {
    process.stderr.write(`kantine-reader: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
});
