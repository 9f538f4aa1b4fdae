import { timingSafeEqual } from 'node:crypto';
import { cbcDecrypt, ZERO_IV } from './aes.ts';
import { aesCmac, truncateMac } from './cmac.ts';

/**
 * SUN (Secure Unique NFC) verification, AN12196 §3–4: the card mirrors into its NDEF URL
 * PICCData encrypted with the SDM meta-read key, and a MAC made with a session key derived from
 * the SDM file-read key, the UID and the read counter. Only the key holder can check it.
 */
export interface SunResult {
  valid: boolean;
  uid: string;
  counter: number;
}

/** Decrypts PICCData: tag C7 (UID and counter mirrored), UID (7 bytes), counter (3 bytes, LSB first). */
export function decryptPiccData(
  metaReadKey: Uint8Array,
  piccData: Uint8Array,
): { uid: Buffer; counterLE: Buffer } | null {
  if (piccData.length !== 16) return null;
  const plain = cbcDecrypt(metaReadKey, ZERO_IV, piccData);
  // C7h = UID mirrored, counter mirrored, UID length 7. Anything else is not ours (or the wrong key).
  if (plain[0] !== 0xc7) return null;
  return { uid: plain.subarray(1, 8), counterLE: plain.subarray(8, 11) };
}

/** KSesSDMFileReadMAC = CMAC(K, 3C C3 00 01 00 80 ‖ UID ‖ SDMReadCtr). */
export function sdmMacSessionKey(fileReadKey: Uint8Array, uid: Uint8Array, counterLE: Uint8Array): Buffer {
  return aesCmac(fileReadKey, Buffer.concat([Buffer.from([0x3c, 0xc3, 0x00, 0x01, 0x00, 0x80]), uid, counterLE]));
}

export function sdmMac(fileReadKey: Uint8Array, uid: Uint8Array, counterLE: Uint8Array, macInput: Uint8Array): Buffer {
  return truncateMac(aesCmac(sdmMacSessionKey(fileReadKey, uid, counterLE), macInput));
}

/**
 * Verifies one SUN message. `macInput` is the mirrored text the MAC covers (empty when the MAC
 * directly follows the PICCData, as in kantine's URL template). The caller must also check that
 * `counter` is greater than the last one it accepted for this card (replay protection).
 */
export function verifySun(opts: {
  metaReadKey: Uint8Array;
  fileReadKey: Uint8Array;
  piccData: Uint8Array;
  mac: Uint8Array;
  macInput?: Uint8Array;
}): SunResult {
  const picc = decryptPiccData(opts.metaReadKey, opts.piccData);
  if (!picc) return { valid: false, uid: '', counter: -1 };
  const expected = sdmMac(opts.fileReadKey, picc.uid, picc.counterLE, opts.macInput ?? Buffer.alloc(0));
  const valid = opts.mac.length === 8 && timingSafeEqual(expected, opts.mac);
  return { valid, uid: picc.uid.toString('hex').toUpperCase(), counter: picc.counterLE.readUIntLE(0, 3) };
}
