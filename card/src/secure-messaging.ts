import { cbcEncrypt, padM2, ZERO_IV } from './aes.ts';
import { aesCmac, truncateMac } from './cmac.ts';
import type { Ev2Session } from './ev2.ts';

/** The command counter as it goes on the wire and into MACs: 2 bytes, least significant first. */
function ctrLE(cmdCtr: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(cmdCtr);
  return b;
}

/** IV for a command in FULL mode: E(KSesAuthENC, A5 5A ‖ TI ‖ CmdCtr ‖ 00…00). */
export function commandIv(session: Ev2Session): Buffer {
  const ivInput = Buffer.concat([Buffer.from([0xa5, 0x5a]), session.ti, ctrLE(session.cmdCtr), Buffer.alloc(8)]);
  return cbcEncrypt(session.encKey, ZERO_IV, ivInput);
}

/** MACt over Cmd ‖ CmdCtr ‖ TI ‖ CmdHeader ‖ CmdData (MAC and FULL modes). */
export function commandMac(session: Ev2Session, cmd: number, header: Uint8Array, data: Uint8Array): Buffer {
  const input = Buffer.concat([Buffer.from([cmd]), ctrLE(session.cmdCtr), session.ti, header, data]);
  return truncateMac(aesCmac(session.macKey, input));
}

/** Encrypts command data for FULL mode (padding method 2 always adds at least one byte). */
export function encryptCommandData(session: Ev2Session, data: Uint8Array): Buffer {
  return cbcEncrypt(session.encKey, commandIv(session), padM2(data));
}

/**
 * ChangeKey (C4h) of the key used to authenticate (datasheet §10.6.1, case 1): the data is
 * NewKey ‖ KeyVer, encrypted, then MACed. Returns the data field of the APDU.
 */
export function changeSameKeyData(session: Ev2Session, keyNo: number, newKey: Uint8Array, keyVersion: number): Buffer {
  if (newKey.length !== 16) throw new RangeError('a key is 16 bytes');
  const cryptogram = encryptCommandData(session, Buffer.concat([newKey, Buffer.from([keyVersion])]));
  const header = Buffer.from([keyNo]);
  return Buffer.concat([header, cryptogram, commandMac(session, 0xc4, header, cryptogram)]);
}
