import { sdmKeys } from './keys.ts';
import { verifySun } from './sun.ts';

export type SunCheck =
  | { result: 'genuine'; counter: number }
  /** The PICCData does not open with this card's keys to this card's UID: the card answers to the
   * right UID but does not hold the keys. */
  | { result: 'clone' }
  /** The PICCData is the card's own, but the MAC is not: the message was altered. */
  | { result: 'tampered' };

/**
 * Checks one SUN tap of a known card with the keys diversified for its UID (the UID the reader
 * saw in anticollision). The caller then requires `counter` to be above the last one accepted.
 */
export function checkSunTap(opts: { sdmMaster: Uint8Array; uid: string; picc: string; mac: string }): SunCheck {
  const uid = Buffer.from(opts.uid, 'hex');
  const piccData = Buffer.from(opts.picc, 'hex');
  const mac = Buffer.from(opts.mac, 'hex');
  if (uid.length !== 7 || piccData.length !== 16 || mac.length !== 8) return { result: 'tampered' };
  const keys = sdmKeys(opts.sdmMaster, uid);
  const sun = verifySun({ metaReadKey: keys.metaRead, fileReadKey: keys.fileRead, piccData, mac });
  if (sun.uid !== opts.uid.toUpperCase()) return { result: 'clone' };
  return sun.valid ? { result: 'genuine', counter: sun.counter } : { result: 'tampered' };
}
