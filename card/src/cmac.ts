import { BLOCK, cbcEncrypt, ZERO_IV } from './aes.ts';

/** Doubling in GF(2^128) as RFC 4493 §2.3 derives the CMAC subkeys. */
function double(block: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i++) {
    out[i] = (((block[i] as number) << 1) | ((block[i + 1] ?? 0) >> 7)) & 0xff;
  }
  if (((block[0] as number) & 0x80) !== 0) out[BLOCK - 1] = (out[BLOCK - 1] as number) ^ 0x87;
  return out;
}

export function cmacSubkeys(key: Uint8Array): { k1: Buffer; k2: Buffer } {
  const l = cbcEncrypt(key, ZERO_IV, Buffer.alloc(BLOCK));
  const k1 = double(l);
  return { k1, k2: double(k1) };
}

function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) ^ (b[i] as number);
  return out;
}

/**
 * The CMAC core over an already-laid-out message: the last block is XORed with K1 (`padded`
 * false) or K2 (`padded` true). AN10922 pads to a length of its own choosing, so it needs this.
 */
export function cmacCore(key: Uint8Array, blocks: Uint8Array, padded: boolean): Buffer {
  if (blocks.length === 0 || blocks.length % BLOCK !== 0) throw new RangeError('CMAC core takes whole blocks');
  const { k1, k2 } = cmacSubkeys(key);
  const last = blocks.length - BLOCK;
  const msg = Buffer.from(blocks);
  xor(msg.subarray(last), padded ? k2 : k1).copy(msg, last);
  return cbcEncrypt(key, ZERO_IV, msg).subarray(last);
}

/** AES-CMAC (RFC 4493, NIST SP 800-38B). */
export function aesCmac(key: Uint8Array, message: Uint8Array): Buffer {
  const complete = message.length > 0 && message.length % BLOCK === 0;
  if (complete) return cmacCore(key, message, false);
  const padded = Buffer.alloc((Math.floor(message.length / BLOCK) + 1) * BLOCK);
  padded.set(message);
  padded[message.length] = 0x80;
  return cmacCore(key, padded, true);
}

/** NTAG 424 DNA's 8-byte MAC: the odd-indexed bytes (1, 3, …, 15) of the full CMAC. */
export function truncateMac(full: Uint8Array): Buffer {
  const out = Buffer.alloc(8);
  for (let i = 0; i < 8; i++) out[i] = full[2 * i + 1] as number;
  return out;
}
