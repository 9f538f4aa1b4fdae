import { createConnection, type Socket } from 'node:net';

/**
 * A card as the vpcd driver sees it (vsmartcard's virtual smart-card protocol). Only the card's
 * behaviour lives behind this; the framing is VpcdLink's.
 */
export interface VirtualCard {
  readonly atr: Buffer;
  /** The UID it gives in anticollision. */
  readonly uid: Buffer;
  /** Power off, power on or reset: the card forgets any session. */
  reset(): void;
  /** One command APDU in, one response (data ‖ SW1 SW2) out. */
  transmit(apdu: Buffer): Buffer;
}

// vpcd control messages (one byte): vsmartcard's vpcd protocol.
const POWER_OFF = 0x00;
const POWER_ON = 0x01;
const RESET = 0x02;
const GET_ATR = 0x04;

/** The first slot of a vpcd reader ("Virtual PCD 00 00"); slot n listens on 35963 + n. */
export const VPCD_PORT = 35963;

/**
 * Puts a virtual card into a vpcd slot: connecting is laying the card on the reader, closing is
 * taking it away. Framing both ways: a 2-byte big-endian length, then the payload; vpcd speaks
 * first and the card only answers.
 */
export class VpcdLink {
  private socket: Socket | undefined;
  private buffer = Buffer.alloc(0);
  private apdusLeft: number | undefined;

  constructor(
    private readonly card: VirtualCard,
    private readonly port = VPCD_PORT,
    private readonly host = '127.0.0.1',
  ) {}

  get inserted(): boolean {
    return this.socket !== undefined;
  }

  insert(): Promise<void> {
    if (this.socket) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const socket = createConnection({ port: this.port, host: this.host }, () => {
        socket.off('error', reject);
        socket.on('error', () => this.drop(socket));
        resolve();
      });
      socket.once('error', reject);
      socket.setNoDelay(true);
      socket.on('data', (chunk) => this.onData(socket, chunk));
      socket.on('close', () => this.drop(socket));
      this.socket = socket;
      this.buffer = Buffer.alloc(0);
      this.card.reset();
    });
  }

  /**
   * The card leaves the field after answering `apdus` more command APDUs: the next one gets no
   * answer. A child pulling the card away mid-read, for tests and for trying it by hand.
   */
  pullAwayAfter(apdus: number): void {
    this.apdusLeft = apdus;
  }

  remove(): void {
    const socket = this.socket;
    if (!socket) return;
    this.drop(socket);
    socket.destroy();
  }

  private drop(socket: Socket): void {
    if (this.socket === socket) this.socket = undefined;
  }

  private onData(socket: Socket, chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 2) {
      const length = this.buffer.readUInt16BE(0);
      if (this.buffer.length < 2 + length) return;
      const message = this.buffer.subarray(2, 2 + length);
      this.buffer = this.buffer.subarray(2 + length);
      if (message.length > 1 && this.apdusLeft !== undefined) {
        if (this.apdusLeft === 0) {
          this.apdusLeft = undefined;
          this.remove();
          return;
        }
        this.apdusLeft -= 1;
      }
      const reply = this.handle(message);
      if (reply && !socket.destroyed) {
        const header = Buffer.alloc(2);
        header.writeUInt16BE(reply.length);
        socket.write(Buffer.concat([header, reply]));
      }
    }
  }

  private handle(message: Buffer): Buffer | undefined {
    if (message.length === 1) {
      switch (message[0]) {
        case POWER_OFF:
        case POWER_ON:
        case RESET:
          this.card.reset(); // no reply to these
          return undefined;
        case GET_ATR:
          return this.card.atr;
        default:
          return undefined;
      }
    }
    return this.card.transmit(message);
  }
}
