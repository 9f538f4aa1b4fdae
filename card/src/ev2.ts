import { randomBytes } from 'node:crypto';
import { cbcDecrypt, cbcEncrypt, ZERO_IV } from './aes.ts';
import { aesCmac } from './cmac.ts';

/**
 * AuthenticateEV2First from the host's side (NT4H2421Gx datasheet §9.1.5, AN12196 §5): the
 * card sends E(K, RndB); the host answers E(K, RndA ‖ RndB<<8); the card answers
 * E(K, TI ‖ RndA<<8 ‖ PDcap2 ‖ PCDcap2). Both then derive the session keys.
 */
export function rotateLeft(b: Uint8Array): Buffer {
  return Buffer.concat([b.subarray(1), b.subarray(0, 1)]);
}

export interface Ev2Part2 {
  rndB: Buffer;
  /** The 32 bytes to send in the second frame. */
  response: Buffer;
}

export function authPart2(key: Uint8Array, encRndB: Uint8Array, rndA: Uint8Array = randomBytes(16)): Ev2Part2 {
  if (encRndB.length !== 16 || rndA.length !== 16) throw new RangeError('RndA and E(RndB) are 16 bytes');
  const rndB = cbcDecrypt(key, ZERO_IV, encRndB);
  const response = cbcEncrypt(key, ZERO_IV, Buffer.concat([rndA, rotateLeft(rndB)]));
  return { rndB, response };
}

export interface Ev2Session {
  ti: Buffer;
  encKey: Buffer;
  macKey: Buffer;
  /** Command counter, starts at 0 after authentication. */
  cmdCtr: number;
}

/** Checks the card's last frame (it must return our RndA rotated) and derives the session. */
export function authPart3(key: Uint8Array, rndA: Uint8Array, rndB: Uint8Array, encPart3: Uint8Array): Ev2Session {
  if (encPart3.length !== 32) throw new RangeError('the card answers 32 bytes');
  const plain = cbcDecrypt(key, ZERO_IV, encPart3);
  const ti = plain.subarray(0, 4);
  if (!plain.subarray(4, 20).equals(rotateLeft(rndA))) throw new Error('card did not prove the key: RndA mismatch');
  return { ti: Buffer.from(ti), ...sessionKeys(key, rndA, rndB), cmdCtr: 0 };
}

/**
 * Session vectors SV1/SV2 (datasheet §9.1.7): label ‖ 00 01 00 80 ‖ RndA[15..14] ‖
 * (RndA[13..8] ⊕ RndB[15..10]) ‖ RndB[9..0] ‖ RndA[7..0], with byte 15 the most significant.
 */
export function sessionKeys(key: Uint8Array, rndA: Uint8Array, rndB: Uint8Array): { encKey: Buffer; macKey: Buffer } {
  const tail = Buffer.alloc(26);
  Buffer.from(rndA.subarray(0, 2)).copy(tail, 0);
  for (let i = 0; i < 6; i++) tail[2 + i] = (rndA[2 + i] as number) ^ (rndB[i] as number);
  Buffer.from(rndB.subarray(6, 16)).copy(tail, 8);
  Buffer.from(rndA.subarray(8, 16)).copy(tail, 18);
  const sv = (label: number[]) => Buffer.concat([Buffer.from([...label, 0x00, 0x01, 0x00, 0x80]), tail]);
  return { encKey: aesCmac(key, sv([0xa5, 0x5a])), macKey: aesCmac(key, sv([0x5a, 0xa5])) };
}
