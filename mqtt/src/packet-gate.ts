import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/** Why a gate closed its socket. */
export type GateRefusal = 'packet_too_large' | 'malformed_length';

/**
 * A socket as aedes sees it, with a bound on every packet. aedes (through mqtt-packet) keeps a
 * packet's bytes until the whole packet has come, however large its fixed header says it is:
 * four connections claiming 100 MB each cost the gateway 250 MB before any login. The gate reads
 * each packet's fixed header as the bytes pass, and closes the socket as soon as a packet claims
 * more than the bound: `before_login_bytes_max` until the owner calls `loggedIn()` (a CONNECT
 * with a user name, a password and a will is a few hundred bytes), the broker's message bound
 * after. Bytes are passed on unchanged and with backpressure: what aedes has not read stays in
 * the kernel, not here.
 */
export class PacketGate extends Duplex {
  private bytesMax: number;
  // The fixed header being read [MQTT-2.2]: the type byte, then 1–4 bytes of remaining length.
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private lengthBytes = 0;
  private bodyLeft = 0;
  /** The remote address (kept: a closed socket forgets it). */
  readonly source: string;

  constructor(
    readonly socket: Socket,
    before_login_bytes_max: number,
    private readonly after_login_bytes_max: number,
    private readonly onRefused: (why: GateRefusal, claimed_bytes: number) => void,
  ) {
    super({ allowHalfOpen: false });
    this.bytesMax = before_login_bytes_max;
    this.source = socket.remoteAddress ?? 'unknown';
    socket.on('data', (chunk: Buffer) => {
      if (this.destroyed || !this.inspect(chunk)) return;
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  /** The client has logged in: from now on a packet may be as large as the broker's message bound. */
  loggedIn(): void {
    this.bytesMax = this.after_login_bytes_max;
  }

  /** Follows the fixed headers through `chunk`; false (and the socket closed) on a packet over the bound. */
  private inspect(chunk: Buffer): boolean {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const n = Math.min(this.bodyLeft, chunk.length - i);
        this.bodyLeft -= n;
        i += n;
        if (this.bodyLeft === 0) this.state = 'type';
        continue;
      }
      if (this.state === 'type') {
        this.state = 'length';
        this.length = 0;
        this.lengthBytes = 0;
        i += 1;
        continue;
      }
      const byte = chunk[i] as number;
      i += 1;
      this.length += (byte & 0x7f) * 128 ** this.lengthBytes;
      this.lengthBytes += 1;
      if (byte & 0x80) {
        // At most four length bytes [MQTT-2.2.3].
        if (this.lengthBytes === 4) return this.refuse('malformed_length', this.length);
        continue;
      }
      // The fixed header counts too: 1 type byte + the length bytes.
      if (1 + this.lengthBytes + this.length > this.bytesMax) return this.refuse('packet_too_large', this.length);
      this.bodyLeft = this.length;
      this.state = this.length === 0 ? 'type' : 'body';
    }
    return true;
  }

  private refuse(why: GateRefusal, claimed: number): false {
    this.onRefused(why, claimed);
    this.socket.destroy();
    this.destroy();
    return false;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    // The socket buffers and reports its own backpressure through 'drain'; aedes waits on ours.
    if (this.socket.write(chunk)) done();
    else this.socket.once('drain', () => done());
  }

  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    // mqtt-packet corks while it writes one packet in parts: keep them one segment on the wire.
    this.socket.cork();
    let ok = true;
    for (const { chunk } of chunks) ok = this.socket.write(chunk);
    this.socket.uncork();
    if (ok) done();
    else this.socket.once('drain', () => done());
  }

  override _final(done: (err?: Error | null) => void): void {
    this.socket.end(() => done());
  }

  override _destroy(err: Error | null, done: (err: Error | null) => void): void {
    this.socket.destroy();
    done(err);
  }
}
