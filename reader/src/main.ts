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
import { KantineError } from '@kantine/protocol';
import pino from 'pino';
import type { CardPort } from './card-port.ts';
import { ReaderDaemon } from './daemon.ts';
import { resolveReaderConfig } from './enrol.ts';
import { Acr122uFeedback, ConsoleFeedback, type Feedback } from './feedback.ts';
import { loadNfcPcsc, PcscPort } from './pcsc-port.ts';
import { SimulatedPort } from './sim-port.ts';

const log = pino({ name: 'reader', level: process.env.LOG_LEVEL ?? 'info' });

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' } } });
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
    log.info('using the PC/SC card reader (nfc-pcsc)');
  } else {
    if (config.port.kind === 'pcsc') {
      throw new KantineError(
        'config_invalid',
        'port.kind is "pcsc" but nfc-pcsc is not installed (needs libpcsclite-dev)',
      );
    }
    const sim = new SimulatedPort();
    port = sim;
    feedback = new ConsoleFeedback();
    log.info('using the simulated card reader: type a card UID and Enter to tap it');
    createInterface({ input: process.stdin }).on('line', (line) => {
      const uid = line.trim().toUpperCase();
      if (/^([0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$/.test(uid)) sim.tap(uid);
      else if (uid) process.stdout.write('  a UID is 8, 14 or 20 hex digits\n');
    });
  }

  const daemon = new ReaderDaemon({ config, port, feedback, log });
  await daemon.start();
  const shutdown = () => {
    void daemon.stop().finally(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
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
