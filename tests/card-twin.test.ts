import { createServer, type Socket } from 'node:net';
import { LegacyUidCard, VpcdLink } from '@kantine/card';
import test from 'ava';
import { waitForEvent } from './helpers/wait.ts';

/** vpcd's side of the virtual smart-card protocol, played by the test: it speaks, the card answers. */
async function fakeVpcd(t: import('ava').ExecutionContext) {
  let socket: Socket | undefined;
  let buffer = Buffer.alloc(0);
  const replies: Buffer[] = [];
  const server = createServer((s) => {
    socket = s;
    s.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 2 && buffer.length >= 2 + buffer.readUInt16BE(0)) {
        const n = buffer.readUInt16BE(0);
        replies.push(buffer.subarray(2, 2 + n));
        buffer = buffer.subarray(2 + n);
        server.emit('reply');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const frame = (payload: Buffer) => {
    const h = Buffer.alloc(2);
    h.writeUInt16BE(payload.length);
    return Buffer.concat([h, payload]);
  };
  return {
    port: (server.address() as { port: number }).port,
    connected: () => waitForEvent(server, 'connection'),
    /** Sends one message (optionally split in two writes) and waits for the card's answer. */
    async ask(payload: Buffer, split = false): Promise<Buffer> {
      const got = waitForEvent(server, 'reply', () => true, 2_000);
      const f = frame(payload);
      if (split) {
        socket?.write(f.subarray(0, 1));
        await new Promise((r) => setTimeout(r, 20));
        socket?.write(f.subarray(1));
      } else socket?.write(f);
      await got;
      return replies.shift() as Buffer;
    },
    send(payload: Buffer) {
      socket?.write(frame(payload));
    },
    closed: () => waitForEvent(socket as Socket, 'close'),
  };
}

test('the legacy card twin speaks the vpcd protocol: ATR, GET UID, unknown commands, removal', async (t) => {
  const vpcd = await fakeVpcd(t);
  const link = new VpcdLink(new LegacyUidCard('04A1B2C3D4E501'), vpcd.port);
  const connected = vpcd.connected();
  await link.insert(); // laying the card on the reader = connecting
  await connected;
  t.true(link.inserted);

  t.is((await vpcd.ask(Buffer.from([0x04]))).toString('hex').toUpperCase(), '3B8F8001804F0CA0000003060300030000000068');
  vpcd.send(Buffer.from([0x01])); // power on: no answer expected
  t.is((await vpcd.ask(Buffer.from('FFCA000000', 'hex'))).toString('hex').toUpperCase(), '04A1B2C3D4E5019000');
  t.is((await vpcd.ask(Buffer.from('FFCA000000', 'hex'), true)).toString('hex').toUpperCase(), '04A1B2C3D4E5019000');
  t.is((await vpcd.ask(Buffer.from('00A4040007D276000085010100', 'hex'))).toString('hex'), '6d00');

  const closed = vpcd.closed();
  link.remove(); // taking it away = closing
  await closed;
  t.false(link.inserted);
});

test('a twin refuses a UID that no card has', (t) => {
  t.throws(() => new LegacyUidCard('04A1'));
  t.throws(() => new LegacyUidCard('zz'.repeat(7)));
});
