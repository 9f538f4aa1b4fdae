import type { VirtualCard } from './vpcd-link.ts';

// ATR of an ISO 14443-3 (UID-only) card behind a PC/SC contactless reader (PC/SC part 3 §3.1.3.2.3);
// nfc-pcsc reports it as TAG_ISO_14443_3.
const ATR_14443_3 = Buffer.from('3B8F8001804F0CA0000003060300030000000068', 'hex');
const SW_OK = Buffer.from([0x90, 0x00]);
const SW_INS_NOT_SUPPORTED = Buffer.from([0x6d, 0x00]);

/**
 * A card of the kind in children's pockets today: all it has is its UID. It answers the PC/SC
 * pseudo-APDU GET DATA (FF CA 00 00 00) itself, as every APDU reaches the card through vpcd.
 */
export class LegacyUidCard implements VirtualCard {
  readonly atr = ATR_14443_3;
  readonly uid: Buffer;

  constructor(uidHex: string) {
    if (!/^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{14}|[0-9A-Fa-f]{20})$/.test(uidHex)) {
      throw new RangeError('a UID is 4, 7 or 10 bytes');
    }
    this.uid = Buffer.from(uidHex, 'hex');
  }

  reset(): void {}

  transmit(apdu: Buffer): Buffer {
    const isGetUid = apdu.length >= 4 && apdu[0] === 0xff && apdu[1] === 0xca && apdu[2] === 0x00 && apdu[3] === 0x00;
    return isGetUid ? Buffer.concat([this.uid, SW_OK]) : SW_INS_NOT_SUPPORTED;
  }
}
