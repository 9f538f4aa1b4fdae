import type { CommMode } from './secure-messaging.ts';

/**
 * File settings of an NTAG 424 DNA standard data file (datasheet §10.7.1–10.7.2), with Secure
 * Dynamic Messaging. An access condition is a key number 0–4, `E` (free) or `F` (never).
 */
export type Access = 0 | 1 | 2 | 3 | 4 | 0xe | 0xf;
export const FREE: Access = 0xe;
export const NEVER: Access = 0xf;

export interface AccessRights {
  read: Access;
  write: Access;
  readWrite: Access;
  change: Access;
}

export interface SdmSettings {
  /** Mirror the UID / the read counter (both are in the encrypted PICCData when metaRead is a key). */
  uidMirror: boolean;
  readCtrMirror: boolean;
  /** Mirror in ASCII hex (kantine always does: the mirror goes into a URL). */
  ascii: boolean;
  /** Key that may read the counter with GetFileCounters, or E / F. */
  ctrRet: Access;
  /** Key that encrypts PICCData (0–4), or E for a plain mirror, F for none. */
  metaRead: Access;
  /** Key the MAC's session key is derived from (0–4), or F for no MAC. */
  fileRead: Access;
  /** Byte offsets in the file (only those the options need). */
  piccDataOffset?: number;
  uidOffset?: number;
  readCtrOffset?: number;
  macInputOffset?: number;
  macOffset?: number;
}

export interface FileSettings {
  commMode: CommMode;
  access: AccessRights;
  /** Only in GetFileSettings' answer; ChangeFileSettings cannot change it. */
  size?: number;
  sdm?: SdmSettings;
}

const MODE_BITS: Record<CommMode, number> = { plain: 0, mac: 1, full: 3 };

export function commModeOf(bits: number): CommMode {
  switch (bits & 0x03) {
    case 1:
      return 'mac';
    case 3:
      return 'full';
    default:
      return 'plain';
  }
}

/** A 3-byte little-endian number, as offsets, lengths and sizes go on the wire. */
export function u24(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffff) throw new RangeError(`offset ${n} does not fit 3 bytes`);
  const b = Buffer.alloc(3);
  b.writeUIntLE(n, 0, 3);
  return b;
}

function isKey(a: Access): boolean {
  return a <= 4;
}

/** The fields ChangeFileSettings sends (FileOption ‖ AccessRights ‖ SDM…), before encryption. */
export function encodeFileSettings(s: FileSettings): Buffer {
  const a = s.access;
  const parts: Buffer[] = [
    Buffer.from([(s.sdm ? 0x40 : 0) | MODE_BITS[s.commMode], (a.readWrite << 4) | a.change, (a.read << 4) | a.write]),
  ];
  const sdm = s.sdm;
  if (sdm) {
    const options = (sdm.uidMirror ? 0x80 : 0) | (sdm.readCtrMirror ? 0x40 : 0) | (sdm.ascii ? 0x01 : 0);
    parts.push(Buffer.from([options, 0xf0 | sdm.ctrRet, (sdm.metaRead << 4) | sdm.fileRead]));
    const need = (name: keyof SdmSettings, value: number | undefined): Buffer => {
      if (value === undefined) throw new RangeError(`SDM settings need ${name}`);
      return u24(value);
    };
    if (sdm.metaRead === FREE) {
      if (sdm.uidMirror) parts.push(need('uidOffset', sdm.uidOffset));
      if (sdm.readCtrMirror) parts.push(need('readCtrOffset', sdm.readCtrOffset));
    } else if (isKey(sdm.metaRead)) {
      parts.push(need('piccDataOffset', sdm.piccDataOffset));
    }
    if (sdm.fileRead !== NEVER) {
      parts.push(need('macInputOffset', sdm.macInputOffset), need('macOffset', sdm.macOffset));
    }
  }
  return Buffer.concat(parts);
}

/** Reads FileOption ‖ AccessRights ‖ [FileSize] ‖ [SDM…]; undefined when the bytes do not add up. */
export function decodeFileSettings(bytes: Uint8Array, withTypeAndSize: boolean): FileSettings | undefined {
  let i = 0;
  const take = (n: number): Buffer | undefined => {
    if (i + n > bytes.length) return undefined;
    const out = Buffer.from(bytes.subarray(i, i + n));
    i += n;
    return out;
  };
  if (withTypeAndSize && take(1)?.[0] !== 0x00) return undefined; // standard data file
  const head = take(3);
  if (!head) return undefined;
  const [option, rwc, rw] = head as unknown as [number, number, number];
  const access: AccessRights = {
    readWrite: (rwc >> 4) as Access,
    change: (rwc & 0x0f) as Access,
    read: (rw >> 4) as Access,
    write: (rw & 0x0f) as Access,
  };
  const settings: FileSettings = { commMode: commModeOf(option), access };
  if (withTypeAndSize) {
    const size = take(3);
    if (!size) return undefined;
    settings.size = size.readUIntLE(0, 3);
  }
  if ((option & 0x40) === 0) return i === bytes.length ? settings : undefined;
  const sdmHead = take(3);
  if (!sdmHead) return undefined;
  const [options, ctr, keys] = sdmHead as unknown as [number, number, number];
  const sdm: SdmSettings = {
    uidMirror: (options & 0x80) !== 0,
    readCtrMirror: (options & 0x40) !== 0,
    ascii: (options & 0x01) !== 0,
    ctrRet: (ctr & 0x0f) as Access,
    metaRead: (keys >> 4) as Access,
    fileRead: (keys & 0x0f) as Access,
  };
  const offset = (): number | undefined => take(3)?.readUIntLE(0, 3);
  if (sdm.metaRead === FREE) {
    if (sdm.uidMirror) sdm.uidOffset = offset();
    if (sdm.readCtrMirror) sdm.readCtrOffset = offset();
  } else if (isKey(sdm.metaRead)) {
    sdm.piccDataOffset = offset();
  }
  if (sdm.fileRead !== NEVER) {
    sdm.macInputOffset = offset();
    sdm.macOffset = offset();
  }
  settings.sdm = sdm;
  const complete = Object.values(sdm).every((v) => v !== undefined);
  return complete && i === bytes.length ? settings : undefined;
}
