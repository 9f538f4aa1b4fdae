import { randomBytes } from 'node:crypto';
import { cbcDecrypt, cbcEncrypt, ZERO_IV } from '../aes.ts';
import { aesCmac, truncateMac } from '../cmac.ts';
import { type Ev2Session, rotateLeft, sessionKeys } from '../ev2.ts';
import {
  type Access,
  decodeFileSettings,
  encodeFileSettings,
  type FileSettings,
  FREE,
  NEVER,
  u24,
} from '../file-settings.ts';
import { FILE, NTAG424_AID } from '../ntag424.ts';
import { type CommMode, crc32nk, unwrapCommand, wrapResponse } from '../secure-messaging.ts';
import { ISO_STATUS, NATIVE_STATUS } from '../status.ts';
import { sdmMacSessionKey } from '../sun.ts';
import type { VirtualCard } from './vpcd-link.ts';

// What an ISO 14443-4 card looks like behind a PC/SC contactless reader; nfc-pcsc reports it as
// TAG_ISO_14443_4 (facts.md).
const ATR_14443_4 = Buffer.from('3B8180018080', 'hex');
// The capability container an NTAG 424 DNA leaves the factory with (NFC Forum Type 4 Tag):
// mapping version 2.0, NDEF file E104 of 256 bytes free to read and write, proprietary file E105.
const FACTORY_CC = Buffer.from('001720010000ff0406e104010000000506e10500808283000000000000000000', 'hex');

interface TwinFile {
  fid: number;
  data: Buffer;
  settings: FileSettings;
}

/** What a twin remembers between runs of the CLI: everything the chip keeps in its EEPROM. */
export interface Ntag424State {
  uid: string;
  keys: string[];
  keyVersions: number[];
  files: Record<string, { data: string; settings: FileSettings }>;
  sdmReadCtr: number;
}

const rights = (read: Access, write: Access, readWrite: Access, change: Access) => ({ read, write, readWrite, change });

function sw(status: number): Buffer {
  return Buffer.from([status >> 8, status & 0xff]);
}
function native(rc: number, data: Uint8Array = Buffer.alloc(0)): Buffer {
  return Buffer.concat([data, Buffer.from([0x91, rc])]);
}
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();

/**
 * A software NTAG 424 DNA, written from the datasheet: factory keys (all zero, version 00), the
 * three standard files, AuthenticateEV2First, secure messaging, ChangeKey, Get/ChangeFileSettings,
 * ReadData/WriteData, GetKeyVersion, GetCardUID, ISO SELECT / READ BINARY, and Secure Dynamic
 * Messaging: each read of the NDEF file (after selecting it) counts up SDMReadCtr and mirrors fresh
 * PICCData and MAC into it. Errors answer with the chip's status words and end any session.
 */
export class Ntag424Card implements VirtualCard {
  readonly atr = ATR_14443_4;
  readonly uid: Buffer;
  private keys: Buffer[];
  private keyVersions: number[];
  private files = new Map<number, TwinFile>();
  private sdmReadCtr = 0;

  // Volatile: gone on reset (the card left the field).
  private appSelected = false;
  private selectedFile: number | undefined;
  private mirrored: Buffer | undefined;
  private pending: { keyNo: number; rndB: Buffer } | undefined;
  private session: (Ev2Session & { keyNo: number }) | undefined;

  constructor(uidHex: string, state?: Omit<Ntag424State, 'uid'>) {
    if (!/^[0-9A-Fa-f]{14}$/.test(uidHex)) throw new RangeError('an NTAG 424 DNA has a 7-byte UID');
    this.uid = Buffer.from(uidHex, 'hex');
    this.keys = state
      ? state.keys.map((k) => Buffer.from(k, 'hex'))
      : Array.from({ length: 5 }, () => Buffer.alloc(16));
    this.keyVersions = state ? [...state.keyVersions] : [0, 0, 0, 0, 0];
    if (state) {
      for (const [no, f] of Object.entries(state.files)) {
        const fid = Object.values(FILE).find((x) => x.no === Number(no))?.fid ?? 0;
        this.files.set(Number(no), { fid, data: Buffer.from(f.data, 'hex'), settings: f.settings });
      }
      this.sdmReadCtr = state.sdmReadCtr;
    } else {
      const cc = Buffer.alloc(32);
      FACTORY_CC.copy(cc);
      this.files.set(FILE.cc.no, {
        fid: FILE.cc.fid,
        data: cc,
        settings: { commMode: 'plain', access: rights(FREE, 0, 0, 0), size: 32 },
      });
      this.files.set(FILE.ndef.no, {
        fid: FILE.ndef.fid,
        data: Buffer.alloc(256),
        settings: { commMode: 'plain', access: rights(FREE, FREE, FREE, 0), size: 256 },
      });
      this.files.set(FILE.proprietary.no, {
        fid: FILE.proprietary.fid,
        data: Buffer.alloc(128),
        settings: { commMode: 'full', access: rights(2, 3, 3, 0), size: 128 },
      });
    }
  }

  /** A copy of what the chip keeps, for saving between runs. */
  toJSON(): Ntag424State {
    const files: Ntag424State['files'] = {};
    for (const [no, f] of this.files) files[no] = { data: f.data.toString('hex'), settings: f.settings };
    return {
      uid: hex(this.uid),
      keys: this.keys.map((k) => k.toString('hex')),
      keyVersions: [...this.keyVersions],
      files,
      sdmReadCtr: this.sdmReadCtr,
    };
  }

  static fromJSON(state: Ntag424State): Ntag424Card {
    return new Ntag424Card(state.uid, state);
  }

  /** The SDM read counter (as GetFileCounters would show it). */
  get readCounter(): number {
    return this.sdmReadCtr;
  }

  reset(): void {
    this.appSelected = false;
    this.selectedFile = undefined;
    this.mirrored = undefined;
    this.pending = undefined;
    this.session = undefined;
  }

  transmit(apdu: Buffer): Buffer {
    if (apdu.length < 4) return sw(ISO_STATUS.WRONG_LENGTH);
    const [cla, ins, p1, p2] = apdu as unknown as [number, number, number, number];
    if (cla === 0xff && ins === 0xca && p1 === 0x00 && p2 === 0x00) return Buffer.concat([this.uid, sw(ISO_STATUS.OK)]);
    if (cla === 0x00) return this.isoCommand(ins, p1, p2, apdu);
    if (cla === 0x90) {
      const lc = apdu.length > 5 ? (apdu[4] as number) : 0;
      if (apdu.length > 5 && apdu.length < 5 + lc) return native(NATIVE_STATUS.LENGTH_ERROR);
      return this.nativeCommand(ins, apdu.subarray(5, 5 + lc));
    }
    return sw(ISO_STATUS.CLA_NOT_SUPPORTED);
  }

  // ── ISO/IEC 7816-4 ─────────────────────────────────────────────────────────────────────────

  private isoCommand(ins: number, p1: number, p2: number, apdu: Buffer): Buffer {
    if (ins === 0xa4) {
      const lc = apdu[4] ?? 0;
      const data = apdu.subarray(5, 5 + lc);
      this.mirrored = undefined;
      if (p1 === 0x04) {
        if (!data.equals(NTAG424_AID)) return sw(ISO_STATUS.FILE_NOT_FOUND);
        this.appSelected = true;
        this.selectedFile = undefined;
        this.session = undefined;
        return sw(ISO_STATUS.OK);
      }
      if (p1 === 0x00 && data.length === 2 && this.appSelected) {
        const fid = data.readUInt16BE(0);
        const no = [...this.files].find(([, f]) => f.fid === fid)?.[0];
        if (no === undefined) return sw(ISO_STATUS.FILE_NOT_FOUND);
        this.selectedFile = no;
        return sw(ISO_STATUS.OK);
      }
      return p1 === 0x00 ? sw(ISO_STATUS.FILE_NOT_FOUND) : sw(ISO_STATUS.WRONG_P1P2);
    }
    if (ins === 0xb0) {
      if (p1 & 0x80) return sw(ISO_STATUS.WRONG_P1P2); // short file ids: not used by kantine
      const file = this.selectedFile === undefined ? undefined : this.files.get(this.selectedFile);
      if (!file) return sw(ISO_STATUS.FILE_NOT_FOUND);
      if (file.settings.access.read !== FREE) return sw(ISO_STATUS.SECURITY_STATUS_NOT_SATISFIED);
      const offset = (p1 << 8) | p2;
      const le = apdu.length > 4 ? (apdu[4] as number) || 256 : 256;
      if (offset > file.data.length) return sw(ISO_STATUS.WRONG_P1P2);
      let content: Buffer;
      try {
        content = this.readable(this.selectedFile as number, file);
      } catch (err) {
        if (err instanceof Refusal) return sw(ISO_STATUS.SECURITY_STATUS_NOT_SATISFIED);
        throw err;
      }
      return Buffer.concat([content.subarray(offset, Math.min(offset + le, content.length)), sw(ISO_STATUS.OK)]);
    }
    return sw(ISO_STATUS.INS_NOT_SUPPORTED);
  }

  // ── Native commands ────────────────────────────────────────────────────────────────────────

  private nativeCommand(ins: number, field: Buffer): Buffer {
    if (!this.appSelected) return native(NATIVE_STATUS.PERMISSION_DENIED);
    if (ins !== 0xaf) this.pending = undefined;
    let answer: { rc: number; data?: Buffer };
    try {
      answer = this.dispatch(ins, field);
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      answer = { rc: err.rc };
    }
    if (answer.rc !== NATIVE_STATUS.OPERATION_OK && answer.rc !== NATIVE_STATUS.ADDITIONAL_FRAME) {
      this.session = undefined; // the chip leaves the authenticated state on an error
    }
    return native(answer.rc, answer.data);
  }

  private dispatch(ins: number, field: Buffer): { rc: number; data?: Buffer } {
    switch (ins) {
      case 0x71:
        return this.authenticateFirst(field);
      case 0xaf:
        return this.authenticatePart2(field);
      case 0xc4:
        return this.changeKey(field);
      case 0x64: {
        const { header } = this.unwrap(ins, this.macIfAuthenticated(), 1, field);
        const keyNo = header[0] as number;
        if (keyNo > 4) throw new Refusal(NATIVE_STATUS.NO_SUCH_KEY);
        return this.ok(this.macIfAuthenticated(), Buffer.from([this.keyVersions[keyNo] as number]));
      }
      case 0xf5: {
        const { header } = this.unwrap(ins, this.macIfAuthenticated(), 1, field);
        const file = this.file(header[0] as number);
        const s = encodeFileSettings(file.settings);
        const data = Buffer.concat([Buffer.from([0x00]), s.subarray(0, 3), u24(file.data.length), s.subarray(3)]);
        return this.ok(this.macIfAuthenticated(), data);
      }
      case 0x5f:
        return this.changeFileSettings(field);
      case 0xad:
        return this.readData(field);
      case 0x8d:
        return this.writeData(field);
      case 0x51: {
        if (!this.session) throw new Refusal(NATIVE_STATUS.PERMISSION_DENIED);
        this.unwrap(ins, 'mac', 0, field);
        return this.ok('full', this.uid);
      }
      default:
        throw new Refusal(NATIVE_STATUS.ILLEGAL_COMMAND_CODE);
    }
  }

  private macIfAuthenticated(): CommMode {
    return this.session ? 'mac' : 'plain';
  }

  /** Checks (and decrypts) an incoming command in a mode; a wrong MAC is INTEGRITY_ERROR. */
  private unwrap(ins: number, mode: CommMode, headerLength: number, field: Buffer): { header: Buffer; data: Buffer } {
    if (field.length < headerLength) throw new Refusal(NATIVE_STATUS.LENGTH_ERROR);
    if (!this.session) return { header: field.subarray(0, headerLength), data: field.subarray(headerLength) };
    const unwrapped = unwrapCommand(this.session, mode, ins, headerLength, field);
    if (!unwrapped) throw new Refusal(NATIVE_STATUS.INTEGRITY_ERROR);
    return unwrapped;
  }

  /** A successful answer: wrapped for the session (counter stepped) or plain without one. */
  private ok(mode: CommMode, data: Buffer = Buffer.alloc(0)): { rc: number; data: Buffer } {
    const session = this.session;
    if (!session) return { rc: NATIVE_STATUS.OPERATION_OK, data };
    const wrapped = wrapResponse(session, mode, NATIVE_STATUS.OPERATION_OK, data);
    session.cmdCtr = (session.cmdCtr + 1) & 0xffff;
    return { rc: NATIVE_STATUS.OPERATION_OK, data: wrapped };
  }

  private file(no: number): TwinFile {
    const file = this.files.get(no);
    if (!file) throw new Refusal(NATIVE_STATUS.FILE_NOT_FOUND);
    return file;
  }

  private authenticateFirst(field: Buffer): { rc: number; data?: Buffer } {
    this.session = undefined;
    if (field.length < 2) throw new Refusal(NATIVE_STATUS.LENGTH_ERROR);
    const keyNo = field[0] as number;
    if (keyNo > 4) throw new Refusal(NATIVE_STATUS.NO_SUCH_KEY);
    const rndB = randomBytes(16);
    this.pending = { keyNo, rndB };
    return { rc: NATIVE_STATUS.ADDITIONAL_FRAME, data: cbcEncrypt(this.keys[keyNo] as Buffer, ZERO_IV, rndB) };
  }

  private authenticatePart2(field: Buffer): { rc: number; data?: Buffer } {
    const pending = this.pending;
    this.pending = undefined;
    if (!pending) throw new Refusal(NATIVE_STATUS.ILLEGAL_COMMAND_CODE);
    if (field.length !== 32) throw new Refusal(NATIVE_STATUS.LENGTH_ERROR);
    const key = this.keys[pending.keyNo] as Buffer;
    const plain = cbcDecrypt(key, ZERO_IV, field);
    const rndA = plain.subarray(0, 16);
    // The host proves the key by returning RndB rotated; a wrong key cannot.
    if (!plain.subarray(16).equals(rotateLeft(pending.rndB))) throw new Refusal(NATIVE_STATUS.AUTHENTICATION_ERROR);
    const ti = randomBytes(4);
    const answer = cbcEncrypt(key, ZERO_IV, Buffer.concat([ti, rotateLeft(rndA), Buffer.alloc(12)]));
    this.session = { ti, ...sessionKeys(key, rndA, pending.rndB), cmdCtr: 0, keyNo: pending.keyNo };
    return { rc: NATIVE_STATUS.OPERATION_OK, data: answer };
  }

  private changeKey(field: Buffer): { rc: number; data?: Buffer } {
    const session = this.session;
    if (!session) throw new Refusal(NATIVE_STATUS.AUTHENTICATION_ERROR);
    const { header, data } = this.unwrap(0xc4, 'full', 1, field);
    const keyNo = header[0] as number;
    if (keyNo > 4) throw new Refusal(NATIVE_STATUS.NO_SUCH_KEY);
    // Every key of the application is changed with the application master key (key 0).
    if (session.keyNo !== 0) throw new Refusal(NATIVE_STATUS.PERMISSION_DENIED);
    if (keyNo === session.keyNo) {
      if (data.length !== 17) throw new Refusal(NATIVE_STATUS.LENGTH_ERROR);
      this.keys[keyNo] = Buffer.from(data.subarray(0, 16));
      this.keyVersions[keyNo] = data[16] as number;
      this.session = undefined; // the session's key is gone: authenticate again
      return { rc: NATIVE_STATUS.OPERATION_OK };
    }
    if (data.length !== 21) throw new Refusal(NATIVE_STATUS.LENGTH_ERROR);
    const old = this.keys[keyNo] as Buffer;
    const newKey = Buffer.alloc(16);
    for (let i = 0; i < 16; i++) newKey[i] = (data[i] as number) ^ (old[i] as number);
    if (!crc32nk(newKey).equals(data.subarray(17, 21))) throw new Refusal(NATIVE_STATUS.INTEGRITY_ERROR);
    this.keys[keyNo] = newKey;
    this.keyVersions[keyNo] = data[16] as number;
    return this.ok('mac');
  }

  /** May the current state use an access condition? Free always; a key only in its own session. */
  private allowed(access: Access): boolean {
    return access === FREE || (access !== NEVER && this.session?.keyNo === access);
  }

  /** The access condition that lets this state read (or write): the right itself or RW; else refused. */
  private access(right: Access, readWrite: Access): Access {
    const access = this.allowed(right) ? right : readWrite;
    if (!this.allowed(access)) throw new Refusal(NATIVE_STATUS.PERMISSION_DENIED);
    return access;
  }

  private changeFileSettings(field: Buffer): { rc: number; data?: Buffer } {
    const file = this.file(field[0] ?? 0xff);
    if (!this.allowed(file.settings.access.change)) throw new Refusal(NATIVE_STATUS.PERMISSION_DENIED);
    const mode: CommMode = file.settings.access.change === FREE ? 'plain' : 'full';
    const { header, data } = this.unwrap(0x5f, mode, 1, field);
    const settings = decodeFileSettings(data, false);
    if (!settings) throw new Refusal(NATIVE_STATUS.PARAMETER_ERROR);
    const sdm = settings.sdm;
    if (sdm) {
      // SDM lives on the NDEF file only, and every mirror must fit inside it.
      const fits = (offset: number | undefined, length: number) =>
        offset === undefined || offset + length <= file.data.length;
      const ok =
        header[0] === FILE.ndef.no &&
        fits(sdm.piccDataOffset, 32) &&
        fits(sdm.uidOffset, 14) &&
        fits(sdm.readCtrOffset, 6) &&
        fits(sdm.macOffset, 16) &&
        (sdm.macInputOffset ?? 0) <= (sdm.macOffset ?? 0);
      if (!ok) throw new Refusal(NATIVE_STATUS.PARAMETER_ERROR);
    }
    file.settings = { ...settings, size: file.data.length };
    return this.ok('mac');
  }

  private readData(field: Buffer): { rc: number; data?: Buffer } {
    if (field.length < 7) throw new Refusal(NATIVE_STATUS.LENGTH_ERROR);
    const no = field[0] as number;
    const file = this.file(no);
    const free = this.access(file.settings.access.read, file.settings.access.readWrite) === FREE;
    const { header } = this.unwrap(0xad, free ? 'plain' : 'mac', 7, field);
    const offset = header.readUIntLE(1, 3);
    const length = header.readUIntLE(4, 3) || file.data.length - offset;
    if (offset + length > file.data.length) throw new Refusal(NATIVE_STATUS.BOUNDARY_ERROR);
    const content = this.readable(no, file);
    return this.ok(free ? 'plain' : file.settings.commMode, content.subarray(offset, offset + length));
  }

  private writeData(field: Buffer): { rc: number; data?: Buffer } {
    if (field.length < 7) throw new Refusal(NATIVE_STATUS.LENGTH_ERROR);
    const file = this.file(field[0] as number);
    const free = this.access(file.settings.access.write, file.settings.access.readWrite) === FREE;
    const { header, data } = this.unwrap(0x8d, free ? 'plain' : file.settings.commMode, 7, field);
    const offset = header.readUIntLE(1, 3);
    const length = header.readUIntLE(4, 3);
    if (length !== data.length) throw new Refusal(NATIVE_STATUS.LENGTH_ERROR);
    if (offset + length > file.data.length) throw new Refusal(NATIVE_STATUS.BOUNDARY_ERROR);
    data.copy(file.data, offset);
    this.mirrored = undefined;
    return this.ok(free ? 'plain' : 'mac');
  }

  /**
   * The file as a reader sees it. For the NDEF file with SDM, outside a session, the first read
   * after selecting counts up SDMReadCtr and mirrors fresh PICCData and MAC; later reads of the
   * same selection see the same mirror (so a reader may read in pieces).
   */
  private readable(no: number, file: TwinFile): Buffer {
    const sdm = file.settings.sdm;
    if (!sdm || this.session) return file.data;
    if (this.mirrored && this.selectedFile === no) return this.mirrored;
    if (this.sdmReadCtr >= 0xffffff) throw new Refusal(NATIVE_STATUS.PERMISSION_DENIED);
    this.sdmReadCtr += 1;
    const ctrLE = Buffer.alloc(3);
    ctrLE.writeUIntLE(this.sdmReadCtr, 0, 3);
    const out = Buffer.from(file.data);
    const put = (offset: number | undefined, text: string) => {
      if (offset !== undefined) out.write(text, offset, 'ascii');
    };
    if (sdm.metaRead <= 4) {
      const plain = Buffer.concat([Buffer.from([0xc7]), this.uid, ctrLE, randomBytes(5)]);
      put(sdm.piccDataOffset, hex(cbcEncrypt(this.keys[sdm.metaRead] as Buffer, ZERO_IV, plain)));
    } else if (sdm.metaRead === FREE) {
      if (sdm.uidMirror) put(sdm.uidOffset, hex(this.uid));
      if (sdm.readCtrMirror) put(sdm.readCtrOffset, hex(Buffer.from(ctrLE).reverse()));
    }
    if (sdm.fileRead <= 4 && sdm.macOffset !== undefined) {
      const sessionKey = sdmMacSessionKey(this.keys[sdm.fileRead] as Buffer, this.uid, ctrLE);
      const input = out.subarray(sdm.macInputOffset ?? sdm.macOffset, sdm.macOffset);
      put(sdm.macOffset, hex(truncateMac(aesCmac(sessionKey, input))));
    }
    if (this.selectedFile === no) this.mirrored = out;
    return out;
  }
}

/** A command the chip refuses, with its status byte. */
class Refusal extends Error {
  constructor(readonly rc: number) {
    super(`refused: ${rc.toString(16)}`);
  }
}
