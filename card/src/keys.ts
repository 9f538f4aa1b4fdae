import { diversifyAes128 } from './diversify.ts';

/**
 * kantine's card keys. Every key on a card is its own, diversified (AN10922) from one of two
 * batch master keys with the input keyNo ‖ UID ‖ "kantine":
 *
 *   key 0 application master (changes keys and file settings)  ← app master (IT / central only)
 *   key 1 SDM file read: the SUN MAC                           ← SDM master (also on gateways)
 *   key 2 SDM meta read: encrypts the PICCData                  ← SDM master (also on gateways)
 *   keys 3, 4 unused, changed away from the factory value      ← app master
 *
 * A gateway that must verify taps holds only the SDM master: it can check every card of a batch
 * but cannot reprogram one. A reader holds no key at all.
 */
export const KEY_NO = { appMaster: 0, sdmFileRead: 1, sdmMetaRead: 2 } as const;
export const SYSTEM_IDENTIFIER = Buffer.from('kantine', 'ascii');
export const FACTORY_KEY = Buffer.alloc(16);

export interface BatchMasterKeys {
  appMaster: Buffer;
  sdmMaster: Buffer;
}

export function cardKey(master: Uint8Array, keyNo: number, uid: Uint8Array): Buffer {
  if (master.length !== 16) throw new RangeError('a master key is 16 bytes');
  if (uid.length !== 7) throw new RangeError('an NTAG 424 DNA UID is 7 bytes');
  return diversifyAes128(master, Buffer.concat([Buffer.from([keyNo]), uid, SYSTEM_IDENTIFIER]));
}

/** The two SDM keys of one card: all a gateway derives. */
export function sdmKeys(sdmMaster: Uint8Array, uid: Uint8Array): { metaRead: Buffer; fileRead: Buffer } {
  return {
    metaRead: cardKey(sdmMaster, KEY_NO.sdmMetaRead, uid),
    fileRead: cardKey(sdmMaster, KEY_NO.sdmFileRead, uid),
  };
}

/** All five keys of one card, by key number. */
export function cardKeys(batch: BatchMasterKeys, uid: Uint8Array): Buffer[] {
  return [0, 1, 2, 3, 4].map((n) =>
    cardKey(n === KEY_NO.sdmFileRead || n === KEY_NO.sdmMetaRead ? batch.sdmMaster : batch.appMaster, n, uid),
  );
}
