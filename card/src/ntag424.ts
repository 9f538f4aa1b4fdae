import { randomBytes } from 'node:crypto';
import { authPart2, authPart3, type Ev2Session } from './ev2.ts';
import { decodeFileSettings, encodeFileSettings, type FileSettings, u24 } from './file-settings.ts';
import { type CommMode, changeKeyPlain, unwrapResponse, wrapCommand } from './secure-messaging.ts';
import { CardError, NATIVE_STATUS } from './status.ts';

/** Sends one command APDU to the card and returns its answer: data ‖ SW1 SW2. */
export type Transmit = (apdu: Buffer) => Promise<Buffer>;

/** The NTAG 424 DNA application's ISO DF name and its files (datasheet §8.2.2). */
export const NTAG424_AID = Buffer.from('D2760000850101', 'hex');
export const FILE = {
  cc: { no: 0x01, fid: 0xe103 },
  ndef: { no: 0x02, fid: 0xe104 },
  proprietary: { no: 0x03, fid: 0xe105 },
} as const;

const CMD = {
  authenticateEv2First: 0x71,
  additionalFrame: 0xaf,
  changeKey: 0xc4,
  getKeyVersion: 0x64,
  getFileSettings: 0xf5,
  changeFileSettings: 0x5f,
  readData: 0xad,
  writeData: 0x8d,
  getCardUid: 0x51,
} as const;

function split(response: Buffer): { data: Buffer; sw: number } {
  if (response.length < 2) throw new CardError(0, 'card answered fewer than 2 bytes');
  return { data: response.subarray(0, -2), sw: response.readUInt16BE(response.length - 2) };
}

/**
 * The host's side of an NTAG 424 DNA, over any transmit function: a PC/SC reader, the card twin,
 * a test. Keeps the EV2 session (keys, TI, command counter) after AuthenticateEV2First.
 */
export class Ntag424 {
  private session: Ev2Session | undefined;
  private authKeyNo = -1;

  constructor(private readonly transmit: Transmit) {}

  get authenticated(): boolean {
    return this.session !== undefined;
  }

  // ── ISO/IEC 7816-4 commands ────────────────────────────────────────────────────────────────

  /** The UID the card gave in anticollision, through the PC/SC pseudo-APDU GET DATA (FF CA). */
  async anticollisionUid(): Promise<Buffer> {
    return this.iso(Buffer.from([0xff, 0xca, 0x00, 0x00, 0x00]));
  }

  private async iso(apdu: Buffer): Promise<Buffer> {
    const { data, sw } = split(await this.transmit(apdu));
    if (sw !== 0x9000) throw new CardError(sw);
    return data;
  }

  /** ISO SELECT of the NTAG 424 DNA application by its DF name. */
  async selectApplication(): Promise<void> {
    this.session = undefined;
    await this.iso(
      Buffer.concat([Buffer.from([0x00, 0xa4, 0x04, 0x00, NTAG424_AID.length]), NTAG424_AID, Buffer.from([0x00])]),
    );
  }

  /** ISO SELECT of an elementary file by its file id (E103, E104, E105). */
  async selectFile(fid: number): Promise<void> {
    await this.iso(Buffer.from([0x00, 0xa4, 0x00, 0x0c, 0x02, fid >> 8, fid & 0xff]));
  }

  /** ISO READ BINARY of the selected file. */
  async readBinary(offset: number, length: number): Promise<Buffer> {
    if (offset < 0 || offset > 0x7fff || length < 1 || length > 256) throw new RangeError('READ BINARY out of range');
    return this.iso(Buffer.from([0x00, 0xb0, offset >> 8, offset & 0xff, length & 0xff]));
  }

  /** Reads the NDEF message (without its length) from the selected NDEF file. */
  async readNdefMessage(): Promise<Buffer> {
    const nlen = (await this.readBinary(0, 2)).readUInt16BE(0);
    const parts: Buffer[] = [];
    for (let at = 0; at < nlen; ) {
      const chunk = await this.readBinary(2 + at, Math.min(nlen - at, 250));
      if (chunk.length === 0) throw new CardError(0, 'the card returned no data');
      parts.push(chunk);
      at += chunk.length;
    }
    return Buffer.concat(parts).subarray(0, nlen);
  }

  // ── Native commands (ISO/IEC 7816-4 wrapped: CLA 90) ─────────────────────────────────────────

  private async send(cmd: number, field: Buffer): Promise<{ data: Buffer; sw: number }> {
    const head = Buffer.from([0x90, cmd, 0x00, 0x00]);
    const apdu = field.length
      ? Buffer.concat([head, Buffer.from([field.length]), field, Buffer.from([0x00])])
      : Buffer.concat([head, Buffer.from([0x00])]);
    const answer = split(await this.transmit(apdu));
    if (answer.sw >> 8 !== 0x91) throw new CardError(answer.sw);
    return answer;
  }

  /** One native command in a communication mode; steps the command counter as the card does. */
  private async command(
    cmd: number,
    header: Buffer,
    data: Buffer,
    modes: { command: CommMode; response: CommMode },
  ): Promise<Buffer> {
    const session = this.session;
    if (!session && (modes.command !== 'plain' || modes.response !== 'plain')) {
      throw new CardError(0x9100 | NATIVE_STATUS.PERMISSION_DENIED, 'this command needs an authenticated session');
    }
    const { data: field, sw } = await this.send(cmd, wrapCommand(session, modes.command, cmd, header, data));
    const rc = sw & 0xff;
    if (rc !== NATIVE_STATUS.OPERATION_OK) {
      // The chip forgets its session on an error; so do we.
      this.session = undefined;
      throw new CardError(sw);
    }
    if (!session) return field;
    const plain = unwrapResponse(session, modes.response, rc, field);
    if (!plain) {
      this.session = undefined;
      throw new CardError(sw, 'the response MAC does not match: not the card we authenticated, or altered');
    }
    session.cmdCtr = (session.cmdCtr + 1) & 0xffff;
    return plain;
  }

  /** AuthenticateEV2First with key `keyNo`: starts a session (TI, session keys, counter 0). */
  async authenticateEv2First(keyNo: number, key: Uint8Array, rndA: Uint8Array = randomBytes(16)): Promise<Ev2Session> {
    this.session = undefined;
    const first = await this.send(CMD.authenticateEv2First, Buffer.from([keyNo, 0x00]));
    if ((first.sw & 0xff) !== NATIVE_STATUS.ADDITIONAL_FRAME) throw new CardError(first.sw);
    const part2 = authPart2(key, first.data, rndA);
    const second = await this.send(CMD.additionalFrame, part2.response);
    if ((second.sw & 0xff) !== NATIVE_STATUS.OPERATION_OK) throw new CardError(second.sw);
    this.session = authPart3(key, rndA, part2.rndB, second.data);
    this.authKeyNo = keyNo;
    return this.session;
  }

  /**
   * ChangeKey. Changing the key the session was opened with ends the session (authenticate again
   * with the new key); any other key needs its old value.
   */
  async changeKey(keyNo: number, newKey: Uint8Array, keyVersion: number, oldKey?: Uint8Array): Promise<void> {
    const sameAsAuthKey = keyNo === this.authKeyNo;
    const plain = changeKeyPlain({ sameAsAuthKey, newKey, keyVersion, oldKey });
    const header = Buffer.from([keyNo]);
    if (!sameAsAuthKey) {
      await this.command(CMD.changeKey, header, plain, { command: 'full', response: 'mac' });
      return;
    }
    const session = this.session;
    if (!session)
      throw new CardError(0x9100 | NATIVE_STATUS.PERMISSION_DENIED, 'ChangeKey needs an authenticated session');
    const { sw } = await this.send(CMD.changeKey, wrapCommand(session, 'full', CMD.changeKey, header, plain));
    this.session = undefined;
    if ((sw & 0xff) !== NATIVE_STATUS.OPERATION_OK) throw new CardError(sw);
  }

  async getKeyVersion(keyNo: number): Promise<number> {
    const mode = this.session ? 'mac' : 'plain';
    const data = await this.command(CMD.getKeyVersion, Buffer.from([keyNo]), Buffer.alloc(0), {
      command: mode,
      response: mode,
    });
    return data[0] as number;
  }

  async getFileSettings(fileNo: number): Promise<FileSettings> {
    const mode = this.session ? 'mac' : 'plain';
    const data = await this.command(CMD.getFileSettings, Buffer.from([fileNo]), Buffer.alloc(0), {
      command: mode,
      response: mode,
    });
    const settings = decodeFileSettings(data, true);
    if (!settings) throw new CardError(0x9100, `the card's file settings do not parse: ${data.toString('hex')}`);
    return settings;
  }

  /** ChangeFileSettings, always in FULL mode (needs the file's Change key). */
  async changeFileSettings(fileNo: number, settings: FileSettings): Promise<void> {
    await this.command(CMD.changeFileSettings, Buffer.from([fileNo]), encodeFileSettings(settings), {
      command: 'full',
      response: 'mac',
    });
  }

  /** ReadData in the file's communication mode (plain when its read access is free). */
  async readData(fileNo: number, offset: number, length: number, mode: CommMode = 'plain'): Promise<Buffer> {
    const header = Buffer.concat([Buffer.from([fileNo]), u24(offset), u24(length)]);
    return this.command(CMD.readData, header, Buffer.alloc(0), {
      command: mode === 'plain' ? 'plain' : 'mac',
      response: mode,
    });
  }

  /** WriteData in the file's communication mode. */
  async writeData(fileNo: number, offset: number, data: Uint8Array, mode: CommMode = 'plain'): Promise<void> {
    const header = Buffer.concat([Buffer.from([fileNo]), u24(offset), u24(data.length)]);
    await this.command(CMD.writeData, header, Buffer.from(data), {
      command: mode,
      response: mode === 'plain' ? 'plain' : 'mac',
    });
  }

  /** GetCardUID: the real UID, FULL mode (even when the card shows a random id to the reader). */
  async getCardUid(): Promise<Buffer> {
    return this.command(CMD.getCardUid, Buffer.alloc(0), Buffer.alloc(0), { command: 'mac', response: 'full' });
  }
}
