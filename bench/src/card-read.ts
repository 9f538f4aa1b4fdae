/**
 * npm run bench:card -- --seconds 5 --laps 10 --json
 *
 * How fast the reader reads a kantine card through the real PC/SC path — nfc-pcsc's Reader →
 * libpcsclite → pcscd → vsmartcard-vpcd → our NTAG 424 DNA twin — on our own PC/SC layer
 * (reader/src/pcsc/pcsc-lite.ts, libpcsclite through koffi). Beside it, in the same run and on the same
 * card: the same reads on nfc-pcsc's own native binding (@pokusew/pcsclite, which pcsc-lite.ts
 * replaced), and the twin answering the same read in-process with no PC/SC at all (the floor).
 *
 * Two figures per layer: `read` — one tap's read (select, read the NDEF file with the SUN data)
 * while the card lies on the reader, back to back; `detect` — from the card entering the vpcd slot
 * to nfc-pcsc's `card` event, card lifted and laid again each lap. pcscd polls vpcd's slot, so
 * detection is bounded by pcscd's polling, not by the layer.
 *
 * Needs a running pcscd with the vpcd driver (`apt install pcscd vsmartcard-vpcd`, then `pcscd`),
 * nfc-pcsc built (libpcsclite-dev at `npm ci`), and vpcd's first slot free.
 */
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { Ntag424, Ntag424Card, personalizeCard, readCard, VpcdLink } from '@kantine/card';
import { loadNfcPcsc, pcscdListening } from '@kantine/reader';
import { summarize } from './stats.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    laps: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const laps = Number(values.laps);
if (!Number.isFinite(seconds) || seconds < 1 || seconds > 600) throw new Error('--seconds must be 1..600');
if (!Number.isInteger(laps) || laps < 1 || laps > 1000) throw new Error('--laps must be 1..1000');
const say = (line: string) => {
  if (!values.json) process.stderr.write(`${line}\n`);
};

const VPCD_READER = 'Virtual PCD 00 00';
const MAX_RESPONSE = 258;

interface NfcReader extends EventEmitter {
  name: string;
  autoProcessing: boolean;
  transmit(data: Buffer, max: number): Promise<Buffer>;
  close(): void;
}
interface Nfc extends EventEmitter {
  close(): void;
}
type NfcConstructor = new () => Nfc;

if (!(await pcscdListening())) throw new Error('pcscd is not running (start it: pcscd)');
const ours = loadNfcPcsc() as NfcConstructor | undefined;
if (!ours) throw new Error('the PC/SC layer did not load (install libpcsclite-dev, then npm ci)');
const theirs = (createRequire(import.meta.url)('nfc-pcsc') as { NFC: NfcConstructor }).NFC;

// A card as IT programs it, read as a till reads it.
const card = new Ntag424Card('04B0000000C0DE');
const keys = { appMaster: Buffer.alloc(16, 0x21), sdmMaster: Buffer.alloc(16, 0x22) };
await personalizeCard(new Ntag424(async (apdu) => card.transmit(apdu)), {
  batch: 'BENCH-01',
  keys,
  urlBase: 'https://kort.kantine.example/t',
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads back to back for the run's seconds (after one second of warm-up); latencies in ms. */
async function readLoop(transmit: (apdu: Buffer) => Promise<Buffer>): Promise<number[]> {
  const warmUntil = performance.now() + 1_000;
  while (performance.now() < warmUntil) await readCard(transmit);
  const samples: number[] = [];
  const until = performance.now() + seconds * 1_000;
  while (performance.now() < until) {
    const start = performance.now();
    await readCard(transmit);
    samples.push(performance.now() - start);
  }
  return samples;
}

async function measure(NFC: NfcConstructor) {
  const nfc = new NFC();
  nfc.on('error', () => undefined);
  try {
    const reader = await new Promise<NfcReader>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no PC/SC reader "${VPCD_READER}"`)), 10_000);
      nfc.on('reader', (r: NfcReader) => {
        if (r.name !== VPCD_READER) return;
        clearTimeout(timer);
        r.autoProcessing = false;
        r.on('error', () => undefined);
        resolve(r);
      });
    });
    const link = new VpcdLink(card);
    const detect: number[] = [];
    for (let lap = 0; lap < laps; lap++) {
      const seen = new Promise((resolve) => reader.once('card', resolve));
      const start = performance.now();
      await link.insert();
      await seen;
      detect.push(performance.now() - start);
      const off = new Promise((resolve) => reader.once('card.off', resolve));
      link.remove();
      await off;
      await sleep(50);
    }
    const seen = new Promise((resolve) => reader.once('card', resolve));
    await link.insert();
    await seen;
    const reads = await readLoop((apdu) => reader.transmit(apdu, MAX_RESPONSE));
    link.remove();
    await sleep(500);
    reader.close();
    return { read: summarize(reads, seconds), detect: summarize(detect, laps) };
  } finally {
    nfc.close();
  }
}

say(`reading a kantine card through pcscd and vpcd, ${seconds} s per layer, ${laps} detection laps…`);
const layer = await measure(ours);
say('the same through nfc-pcsc’s own binding (@pokusew/pcsclite)…');
const binding = await measure(theirs);
card.reset();
const direct = summarize(await readLoop(async (apdu) => card.transmit(apdu)), seconds);

const result = {
  seconds,
  laps,
  read_per_s: layer.read.per_s,
  read_p50_ms: layer.read.p50_ms,
  read_p99_ms: layer.read.p99_ms,
  detect_p50_ms: layer.detect.p50_ms,
  detect_p99_ms: layer.detect.p99_ms,
  binding_read_per_s: binding.read.per_s,
  binding_read_p50_ms: binding.read.p50_ms,
  binding_read_p99_ms: binding.read.p99_ms,
  binding_detect_p50_ms: binding.detect.p50_ms,
  binding_detect_p99_ms: binding.detect.p99_ms,
  direct_read_per_s: direct.per_s,
  direct_read_p50_ms: direct.p50_ms,
  read_ratio: Math.round((layer.read.per_s / binding.read.per_s) * 100) / 100,
};
if (values.json) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  const row = (name: string, r: { per_s: number; p50_ms: number; p99_ms: number }, d?: { p50_ms: number }) =>
    say(
      `${name.padEnd(34)} ${String(r.per_s).padStart(6)} reads/s  p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms${d ? `  detect p50 ${d.p50_ms} ms` : ''}`,
    );
  row('our layer (koffi → libpcsclite)', layer.read, layer.detect);
  row('nfc-pcsc binding (@pokusew)', binding.read, binding.detect);
  row('twin in-process (no PC/SC)', direct);
  say(`read ratio (ours / binding): ${result.read_ratio}`);
}
// @pokusew/pcsclite's closed context can keep native handles alive: the figures are out, leave.
process.exit(0);
