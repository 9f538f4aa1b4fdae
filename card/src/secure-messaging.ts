import { crc32 } from 'node:zlib';
import { cbcDecrypt, cbcEncrypt, padM2, ZERO_IV } from './aes.ts';
import { aesCmac, truncateMac } from './cmac.ts';
import type { Ev2Session } from './ev2.ts';

/**
 * EV2 secure messaging (NT4H2421Gx datasheet §9.1.9–9.1.10, AN12196 §4): after
 * AuthenticateEV2First every native command carries the command counter; MAC mode adds an 8-byte
 * MAC, FULL mode also encrypts the data. Both the host (ntag424.ts) and the card twin use these.
 */
export type CommMode = 'plain' | 'mac' | 'full';

/** The command counter as it goes on the wire and into MACs: 2 bytes, least significant first. */
function ctrLE(cmdCtr: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(cmdCtr);
  return b;
}

function ivFor(session: Ev2Session, label: readonly [number, number], cmdCtr: number): Buffer {
  const ivInput = Buffer.concat([Buffer.from(label), session.ti, ctrLE(cmdCtr), Buffer.alloc(8)]);
  return cbcEncrypt(session.encKey, ZERO_IV, ivInput);
}

/** IV for a command in FULL mode: E(KSesAuthENC, A5 5A ‖ TI ‖ CmdCtr ‖ 00…00). */
export function commandIv(session: Ev2Session): Buffer {
  return ivFor(session, [0xa5, 0x5a], session.cmdCtr);
}

/** IV for a response in FULL mode: E(KSesAuthENC, 5A A5 ‖ TI ‖ CmdCtr+1 ‖ 00…00). */
export function responseIv(session: Ev2Session): Buffer {
  return ivFor(session, [0x5a, 0xa5], (session.cmdCtr + 1) & 0xffff);
}

/** MACt over Cmd ‖ CmdCtr ‖ TI ‖ CmdHeader ‖ CmdData (MAC and FULL modes). */
export function commandMac(session: Ev2Session, cmd: number, header: Uint8Array, data: Uint8Array): Buffer {
  const input = Buffer.concat([Buffer.from([cmd]), ctrLE(session.cmdCtr), session.ti, header, data]);
  return truncateMac(aesCmac(session.macKey, input));
}

/** MACt over RC ‖ CmdCtr+1 ‖ TI ‖ RespData (RC is the status byte, 00 for success). */
export function responseMac(session: Ev2Session, rc: number, data: Uint8Array): Buffer {
  const input = Buffer.concat([Buffer.from([rc]), ctrLE((session.cmdCtr + 1) & 0xffff), session.ti, data]);
  return truncateMac(aesCmac(session.macKey, input));
}

/** Encrypts command data for FULL mode (padding method 2 always adds at least one byte). */
export function encryptCommandData(session: Ev2Session, data: Uint8Array): Buffer {
  return cbcEncrypt(session.encKey, commandIv(session), padM2(data));
}

/** Removes ISO/IEC 9797-1 method 2 padding; undefined when there is none (wrong key or data). */
export function unpadM2(padded: Uint8Array): Buffer | undefined {
  for (let i = padded.length - 1; i >= 0; i--) {
    if (padded[i] === 0x80) return Buffer.from(padded.subarray(0, i));
    if (padded[i] !== 0x00) return undefined;
  }
  return undefined;
}

/**
 * Lays out the data field of a command APDU in the given mode: header ‖ data (plain),
 * header ‖ data ‖ MACt (MAC), header ‖ E(data) ‖ MACt (FULL). The caller steps the counter once
 * the response has been checked.
 */
export function wrapCommand(
  session: Ev2Session | undefined,
  mode: CommMode,
  cmd: number,
  header: Uint8Array,
  data: Uint8Array,
): Buffer {
  if (mode === 'plain' || !session) return Buffer.concat([header, data]);
  const body = mode === 'full' && data.length > 0 ? encryptCommandData(session, data) : Buffer.from(data);
  return Buffer.concat([header, body, commandMac(session, cmd, header, body)]);
}

/**
 * The card's side of `wrapCommand`: checks the MAC and decrypts. Returns undefined when the MAC
 * is wrong (the chip answers INTEGRITY_ERROR then).
 */
export function unwrapCommand(
  session: Ev2Session,
  mode: CommMode,
  cmd: number,
  headerLength: number,
  field: Uint8Array,
): { header: Buffer; data: Buffer } | undefined {
  const header = Buffer.from(field.subarray(0, headerLength));
  if (mode === 'plain') return { header, data: Buffer.from(field.subarray(headerLength)) };
  if (field.length < headerLength + 8) return undefined;
  const body = field.subarray(headerLength, field.length - 8);
  const mac = field.subarray(field.length - 8);
  if (!commandMac(session, cmd, header, body).equals(mac)) return undefined;
  if (mode === 'mac' || body.length === 0) return { header, data: Buffer.from(body) };
  if (body.length % 16 !== 0) return undefined;
  const data = unpadM2(cbcDecrypt(session.encKey, commandIv(session), body));
  return data ? { header, data } : undefined;
}

/** The card's response data field in a mode: data (plain), data ‖ MACt (MAC), E(data) ‖ MACt (FULL). */
export function wrapResponse(session: Ev2Session, mode: CommMode, rc: number, data: Uint8Array): Buffer {
  if (mode === 'plain') return Buffer.from(data);
  const body =
    mode === 'full' && data.length > 0
      ? cbcEncrypt(session.encKey, responseIv(session), padM2(data))
      : Buffer.from(data);
  return Buffer.concat([body, responseMac(session, rc, body)]);
}

/** The host's side of `wrapResponse`; undefined when the MAC or the padding is wrong. */
export function unwrapResponse(session: Ev2Session, mode: CommMode, rc: number, field: Uint8Array): Buffer | undefined {
  if (mode === 'plain') return Buffer.from(field);
  if (field.length < 8) return undefined;
  const body = field.subarray(0, field.length - 8);
  if (!responseMac(session, rc, body).equals(field.subarray(field.length - 8))) return undefined;
  if (mode === 'mac' || body.length === 0) return Buffer.from(body);
  if (body.length % 16 !== 0) return undefined;
  return unpadM2(cbcDecrypt(session.encKey, responseIv(session), body));
}

/**
 * CRC32 as the chip computes it for ChangeKey: IEEE 802.3's polynomial and initial value, without
 * the final inversion (the JAMCRC variant), least significant byte first.
 */
export function crc32nk(data: Uint8Array): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(~crc32(data) >>> 0);
  return out;
}

/**
 * The plain CmdData of ChangeKey (C4h, datasheet §10.6.1). Changing the key the session was
 * authenticated with: NewKey ‖ KeyVer. Any other key: (NewKey ⊕ OldKey) ‖ KeyVer ‖ CRC32(NewKey),
 * so the card can check the old key was known and the new one arrived whole.
 */
export function changeKeyPlain(opts: {
  sameAsAuthKey: boolean;
  newKey: Uint8Array;
  keyVersion: number;
  oldKey?: Uint8Array;
}): Buffer {
  if (opts.newKey.length !== 16) throw new RangeError('a key is 16 bytes');
  const version = Buffer.from([opts.keyVersion & 0xff]);
  if (opts.sameAsAuthKey) return Buffer.concat([opts.newKey, version]);
  const old = opts.oldKey ?? Buffer.alloc(16);
  if (old.length !== 16) throw new RangeError('a key is 16 bytes');
  const xored = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) xored[i] = (opts.newKey[i] as number) ^ (old[i] as number);
  return Buffer.concat([xored, version, crc32nk(opts.newKey)]);
}

/**
 * ChangeKey (C4h) of the key used to authenticate (datasheet §10.6.1, case 1): the data is
 * NewKey ‖ KeyVer, encrypted, then MACed. Returns the data field of the APDU.
 */
export function changeSameKeyData(session: Ev2Session, keyNo: number, newKey: Uint8Array, keyVersion: number): Buffer {
  const plain = changeKeyPlain({ sameAsAuthKey: true, newKey, keyVersion });
  return wrapCommand(session, 'full', 0xc4, Buffer.from([keyNo]), plain);
}
