import { BATCH_ID_PATTERN } from '@kantine/protocol';

/**
 * kantine's NDEF file: one URI record, `<base>?b=<batch>&p=<PICCData>&m=<MAC>`, whose `p` and `m`
 * the chip overwrites on every read (SDM mirroring, in ASCII hex). A phone that taps the card
 * opens the URL; a till reads the same file. The MAC input is empty (it starts where the MAC is):
 * the MAC's session key already binds the UID and the counter.
 */

// NFC Forum URI record prefixes (URI RTD §3.2.2) we write or read.
const PREFIXES: readonly [number, string][] = [
  [0x04, 'https://'],
  [0x03, 'http://'],
  [0x02, 'https://www.'],
  [0x01, 'http://www.'],
];

const PICC_PLACEHOLDER = '0'.repeat(32);
const MAC_PLACEHOLDER = '0'.repeat(16);

export interface SunTemplate {
  /** The whole NDEF file: NLEN (2 bytes) ‖ the NDEF message. */
  file: Buffer;
  piccDataOffset: number;
  macInputOffset: number;
  macOffset: number;
}

export function buildSunNdef(opts: { urlBase: string; batch: string }): SunTemplate {
  if (!new RegExp(BATCH_ID_PATTERN).test(opts.batch))
    throw new RangeError(`batch id ${opts.batch} is not [A-Za-z0-9-]`);
  const url = new URL(opts.urlBase);
  if (url.search || url.hash) throw new RangeError('the card URL base has no query or fragment');
  const base = url.toString();
  // The longest matching prefix goes in one byte; http(s)://www. before http(s)://.
  const [code, prefix] = [...PREFIXES]
    .sort((a, b) => b[1].length - a[1].length)
    .find(([, p]) => base.startsWith(p)) ?? [0x00, ''];
  const rest = `${base.slice(prefix.length)}?b=${opts.batch}&p=${PICC_PLACEHOLDER}&m=${MAC_PLACEHOLDER}`;
  const payload = Buffer.concat([Buffer.from([code]), Buffer.from(rest, 'ascii')]);
  if (payload.length > 255) throw new RangeError('the card URL is too long for a short NDEF record');
  const record = Buffer.concat([Buffer.from([0xd1, 0x01, payload.length, 0x55]), payload]);
  const nlen = Buffer.alloc(2);
  nlen.writeUInt16BE(record.length);
  const file = Buffer.concat([nlen, record]);
  const restStart = 2 + 4 + 1;
  const piccDataOffset = restStart + rest.indexOf(`p=${PICC_PLACEHOLDER}`) + 2;
  const macOffset = restStart + rest.indexOf(`m=${MAC_PLACEHOLDER}`) + 2;
  return { file, piccDataOffset, macInputOffset: macOffset, macOffset };
}

export interface SunMessage {
  url: string;
  batch: string;
  /** Encrypted PICCData, 16 bytes as 32 upper-case hex digits. */
  picc: string;
  /** The SDM MAC, 8 bytes as 16 upper-case hex digits. */
  mac: string;
}

/** Reads the URI record of an NDEF message (without NLEN) and its SUN parameters. */
export function parseSunNdef(message: Uint8Array): SunMessage | undefined {
  const m = Buffer.from(message);
  if (m.length < 5) return undefined;
  const header = m[0] as number;
  const shortRecord = (header & 0x10) !== 0;
  const tnf = header & 0x07;
  const hasId = (header & 0x08) !== 0;
  if (tnf !== 0x01 || !shortRecord || hasId) return undefined;
  const typeLength = m[1] as number;
  const payloadLength = m[2] as number;
  if (typeLength !== 1 || m[3] !== 0x55 || m.length < 4 + payloadLength) return undefined;
  const payload = m.subarray(4, 4 + payloadLength);
  const prefix = PREFIXES.find(([c]) => c === payload[0])?.[1] ?? '';
  const text = prefix + payload.subarray(1).toString('ascii');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  const batch = url.searchParams.get('b') ?? '';
  const picc = (url.searchParams.get('p') ?? '').toUpperCase();
  const mac = (url.searchParams.get('m') ?? '').toUpperCase();
  if (!new RegExp(BATCH_ID_PATTERN).test(batch) || !/^[0-9A-F]{32}$/.test(picc) || !/^[0-9A-F]{16}$/.test(mac)) {
    return undefined;
  }
  return { url: text, batch, picc, mac };
}
