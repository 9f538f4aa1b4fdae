import { connect, type Socket } from 'node:net';

/**
 * MQTT 3.1.1 by hand, as an attacker's tool sends it: any client id, any will, any claimed
 * length, from any loopback address (127.0.0.2 is another machine to the broker).
 */

/** A remaining length as MQTT writes it: 7 bits a byte, low first [MQTT-2.2.3]. */
export function remainingLength(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    bytes.push(b);
  } while (n > 0);
  return Buffer.from(bytes);
}

const str = (s: string | Buffer) => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
};

export interface RawConnect {
  clientId: string;
  username?: string;
  password?: string;
  will?: { topic: string; payload: string; qos?: 0 | 1; retain?: boolean };
  keepalive_s?: number;
}

/** A CONNECT packet [MQTT-3.1]. */
export function connectPacket(c: RawConnect): Buffer {
  let flags = 0x02; // clean session
  if (c.will) flags |= 0x04 | ((c.will.qos ?? 0) << 3) | (c.will.retain ? 0x20 : 0);
  if (c.password !== undefined) flags |= 0x40;
  if (c.username !== undefined) flags |= 0x80;
  const keepalive = Buffer.alloc(2);
  keepalive.writeUInt16BE(c.keepalive_s ?? 30);
  const body = Buffer.concat([
    str('MQTT'),
    Buffer.from([4, flags]),
    keepalive,
    str(c.clientId),
    ...(c.will ? [str(c.will.topic), str(c.will.payload)] : []),
    ...(c.username !== undefined ? [str(c.username)] : []),
    ...(c.password !== undefined ? [str(c.password)] : []),
  ]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

/** A socket to the broker from `localAddress` (default 127.0.0.1), once connected. */
export function rawSocket(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress }, () => {
      socket.off('error', reject);
      socket.on('error', () => undefined); // a broker that cuts us off is what some tests want
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * Resolves when the broker closes the socket, or rejects after `timeout_ms`: half of aedes's
 * 30 s wait for a CONNECT, so a broker that only gives up that way does not pass, and room
 * enough for a loaded machine.
 */
export function closedBy(socket: Socket, timeout_ms = 15_000): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${timeout_ms} ms`)), timeout_ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Sends a CONNECT and resolves with the CONNACK's return code (0 accepted, 2 identifier rejected,
 * 4 bad user name or password, 5 not authorized), or 'closed' when the broker closes the
 * connection without one. The socket is left open on 0 (for the caller to end), closed otherwise.
 */
export async function rawConnect(
  port: number,
  c: RawConnect,
  localAddress = '127.0.0.1',
  timeout_ms = 20_000,
): Promise<{ code: number | 'closed'; socket: Socket }> {
  const socket = await rawSocket(port, localAddress);
  const code = await new Promise<number | 'closed'>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no CONNACK within ${timeout_ms} ms`)), timeout_ms);
    let got = Buffer.alloc(0);
    socket.on('data', (b: Buffer) => {
      got = Buffer.concat([got, b]);
      if (got.length >= 4 && got[0] === 0x20) {
        clearTimeout(timer);
        resolve(got[3] as number);
      }
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
    socket.write(connectPacket(c));
  });
  if (code !== 0) socket.destroy();
  return { code, socket };
}

/** Is the connection still the broker's? A PINGREQ answered by a PINGRESP [MQTT-3.12.4-1]. */
export function pingAnswered(socket: Socket, timeout_ms = 5_000): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(ok);
    };
    const onData = (b: Buffer) => {
      if (b.includes(0xd0)) done(true);
    };
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), timeout_ms);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(Buffer.from([0xc0, 0x00]));
  });
}
