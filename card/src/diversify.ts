import { BLOCK } from './aes.ts';
import { cmacCore } from './cmac.ts';

/**
 * AES-128 key diversification, NXP AN10922 §2.2: the card key is CMAC(master, 01h ‖ M) where
 * M is the diversification input (here UID ‖ AID ‖ system identifier, 1–31 bytes). Unlike
 * plain CMAC, the input is always padded to 32 bytes (and K2 used) when shorter than that.
 */
export function diversifyAes128(master: Uint8Array, input: Uint8Array): Buffer {
  if (input.length < 1 || input.length > 31) throw new RangeError('AN10922 input M is 1 to 31 bytes');
  const d = Buffer.alloc(2 * BLOCK);
  d[0] = 0x01;
  d.set(input, 1);
  const padded = input.length < 31;
  if (padded) d[1 + input.length] = 0x80;
  return cmacCore(master, d, padded);
}
