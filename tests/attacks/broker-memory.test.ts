import type { Socket } from 'node:net';
import test from 'ava';
import { startCentral } from '../helpers/central.ts';
import { closedBy, rawConnect, rawSocket, remainingLength } from '../helpers/mqtt-raw.ts';
import { startSite } from '../helpers/site.ts';

// Finding 8 of issue 16: aedes kept a whole packet, however large its header claimed it to be,
// before any login. Four strangers claiming 100 MB each moved the gateway from 667 to 925 MB.

const MB = 1_000_000;
// Serial: each test starts a gateway or a central (PGlite) of its own; side by side on a loaded
// machine their start-up alone can outlast ava's timeout.
const serial = test.serial;

const portOf = (url: string) => Number(new URL(url).port);

/** Sends a packet header claiming `claimed` bytes, then 64 KiB of them. */
function claim(socket: Socket, type: number, claimed: number): void {
  socket.write(Buffer.concat([Buffer.from([type]), remainingLength(claimed)]));
  socket.write(Buffer.alloc(64 * 1024));
}

serial(
  'four strangers whose CONNECT claims 100 MB are cut off after a few KiB, at the gateway and at central',
  async (t) => {
    const site = await startSite(t);
    const central = await startCentral(t, { mqtt: { tls: 'off' } }); // raw packets: plain on loopback
    const secret = await site.enrol('reader-1', 'till-1');
    const link = await central.addSite('skole-a');

    for (const port of [portOf(site.url), portOf(central.url)]) {
      const strangers = await Promise.all([1, 2, 3, 4].map(() => rawSocket(port, '127.0.0.2')));
      for (const s of strangers) claim(s, 0x10, 100 * MB);
      // Closed by the broker, long before its 30 s wait for a CONNECT would have.
      await Promise.all(strangers.map((s) => closedBy(s)));
      for (const s of strangers) t.true(s.destroyed);
    }

    // Both still take a real login.
    const reader = await rawConnect(portOf(site.url), {
      clientId: 'reader-reader-1',
      username: 'reader-1',
      password: secret,
    });
    t.is(reader.code, 0);
    reader.socket.destroy();
    const siteLink = await rawConnect(portOf(central.url), {
      clientId: 'kantine-site-skole-a',
      username: 'skole-a',
      password: link.secret,
    });
    t.is(siteLink.code, 0);
    siteLink.socket.destroy();
  },
);

serial(
  'a logged-in reader whose PUBLISH claims 50 MB is cut off, and so is a site at central claiming 10 MB',
  async (t) => {
    const site = await startSite(t);
    const secret = await site.enrol('reader-1', 'till-1');
    const reader = await rawConnect(portOf(site.url), {
      clientId: 'reader-reader-1',
      username: 'reader-1',
      password: secret,
    });
    t.is(reader.code, 0);
    claim(reader.socket, 0x30, 50 * MB);
    await closedBy(reader.socket);

    const central = await startCentral(t, { mqtt: { tls: 'off' } }); // raw packets: plain on loopback
    const link = await central.addSite('skole-a');
    const siteLink = await rawConnect(portOf(central.url), {
      clientId: 'kantine-site-skole-a',
      username: 'skole-a',
      password: link.secret,
    });
    t.is(siteLink.code, 0);
    claim(siteLink.socket, 0x30, 10 * MB);
    await closedBy(siteLink.socket);
    t.true(reader.socket.destroyed && siteLink.socket.destroyed);
  },
);

serial(
  'one address holds at most 512 connections: the next is closed unread, another address still logs in',
  async (t) => {
    const site = await startSite(t);
    const secret = await site.enrol('reader-1', 'till-1');
    const port = portOf(site.url);
    const held: Socket[] = [];
    t.teardown(() => {
      for (const s of held) s.destroy();
    });
    for (let i = 0; i < 512; i++) held.push(await rawSocket(port, '127.0.0.3'));
    const one = await rawSocket(port, '127.0.0.3');
    held.push(one);
    await closedBy(one);
    t.is(one.bytesRead, 0);
    t.false(held[0]?.destroyed, 'the ones before it are still open');

    const reader = await rawConnect(port, { clientId: 'reader-reader-1', username: 'reader-1', password: secret });
    t.is(reader.code, 0);
    reader.socket.destroy();
  },
);
