import { createCipheriv, createDecipheriv } from 'node:crypto';

export const BLOCK = 16;

function checkKey(key: Uint8Array): void {
  if (key.length !== 16) throw new RangeError(`an AES-128 key is 16 bytes, not ${key.length}`);
}

/** AES-128-CBC without padding (NTAG 424 DNA pads itself, ISO 9797-1 method 2). */
export function cbcEncrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  checkKey(key);
  if (data.length % BLOCK !== 0) throw new RangeError('CBC input must be whole blocks');
  const c = createCipheriv('aes-128-cbc', key, iv).setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

export function cbcDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  checkKey(key);
  if (data.length % BLOCK !== 0) throw new RangeError('CBC input must be whole blocks');
  const d = createDecipheriv('aes-128-cbc', key, iv).setAutoPadding(false);
  return Buffer.concat([d.update(data), d.final()]);
}

export const ZERO_IV = Buffer.alloc(BLOCK);

/** ISO/IEC 9797-1 padding method 2: `80` then zeros to a whole number of blocks (at least one byte). */
export function padM2(data: Uint8Array): Buffer {
  const len = (Math.floor(data.length / BLOCK) + 1) * BLOCK;
  const out = Buffer.alloc(len);
  out.set(data);
  out[data.length] = 0x80;
  return out;
}
