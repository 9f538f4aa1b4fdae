/**
 * One process of bench:propagation's sites (forked by ../propagation.ts). Each site here is the
 * gateway's link side and ledger, as a linked gateway wires them: its own SQLite ledger (WAL,
 * synchronous=FULL, every migration), escrow on, a `CentralLink` and a `CentralClient` logged in
 * to central's broker over TLS as its site. What a whole gateway has besides — its own broker,
 * HTTP, kiosk, readers, the tap processor — is left out: none of it is on the way of a change
 * from central.
 *
 * Each time a site's link applies central's changes, the card's state is read back from that
 * site's ledger and reported with the time (the machine's clock, as the parent reads it).
 * For the baseline, the same process holds as many plain MQTT subscribers instead.
 *
 * Sites are at their own addresses: central's broker bounds connections per source address (512)
 * and logins per source, as it should. Each TLS connection made here therefore leaves from its
 * own loopback address (127.<10+process>.x.y), as each school's link leaves from its own network.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import tls from 'node:tls';
import { CentralClient, CentralLink, Ledger, systemClock } from '@kantine/gateway';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import type { FromHost, ToHost } from './messages.ts';

const hostIndex = Number(process.env.KANTINE_PROP_HOST ?? 0);
let connections = 0;
const connectTls = tls.connect;
(tls as { connect: unknown }).connect = (options: tls.ConnectionOptions, ...rest: unknown[]) => {
  connections++;
  const localAddress = `127.${10 + hostIndex}.${(connections >> 8) & 255}.${connections & 255 || 1}`;
  return (connectTls as (...args: unknown[]) => tls.TLSSocket)({ ...options, localAddress }, ...rest);
};
syncBuiltinESMExports();

const silent = pino({ level: 'silent' });
const now = () => performance.timeOrigin + performance.now();

interface Site {
  id: string;
  ledger: Ledger;
  link: CentralLink;
  client: CentralClient;
}
const sites: Site[] = [];
const LOGINS_AT_ONCE = 8;
const subscribers: MqttClient[] = [];
let profiler: Session | undefined;

// Reports are sent in one IPC message per turn of the event loop, not one per site.
let pending: [string, string, number][] = [];
let flushing = false;
function report(item: [string, string, number]): void {
  pending.push(item);
  if (flushing) return;
  flushing = true;
  setImmediate(() => {
    flushing = false;
    const items = pending;
    pending = [];
    send({ t: 'applied', items });
  });
}
const send = (msg: FromHost) => process.send?.(msg);

// The parent gone (finished, or killed): nothing is left to report to.
process.on('disconnect', () => process.exit(0));
process.on('message', (msg: ToHost) => {
  void handle(msg).catch((err: Error) => send({ t: 'error', message: err.stack ?? err.message }));
});

async function handle(msg: ToHost): Promise<void> {
  switch (msg.t) {
    case 'sites': {
      for (const { id, secret } of msg.sites) {
        const file = join(msg.dir, `${id}.db`);
        // A ledger already migrated once (the parent's template): 1,000 sites need not each run
        // every migration with an fsync. Opened as the gateway opens it.
        copyFileSync(msg.template, file);
        const ledger = new Ledger(file, systemClock);
        ledger.enableEscrow();
        const client = new CentralClient({ url: msg.url, site: id, secret, ca_file: msg.ca_file, log: silent });
        const link = new CentralLink(ledger, client.send, systemClock);
        link.on('applied', () => report([id, ledger.accounts.getCard(msg.card)?.state ?? 'none', now()]));
        sites.push({ id, ledger, link, client });
      }
      // Linked: each site's link said hello to central (its subscription granted). A few at a
      // time: central's broker checks at most a few secrets at once and turns a crowd away.
      for (let i = 0; i < sites.length; i += LOGINS_AT_ONCE)
        await Promise.all(
          sites.slice(i, i + LOGINS_AT_ONCE).map(
            (s) =>
              new Promise<void>((resolve) => {
                s.link.once('state', () => resolve());
                s.client.start(s.link);
              }),
          ),
        );
      send({ t: 'linked' });
      return;
    }
    case 'baseline': {
      for (const topic of msg.topics) {
        const c = msg.ca_file
          ? await mqtt.connectAsync(`mqtts://127.0.0.1:${msg.port}`, {
              protocolVersion: 4,
              ca: readFileSync(msg.ca_file),
            })
          : await mqtt.connectAsync(`mqtt://127.0.0.1:${msg.port}`, { protocolVersion: 4 });
        await c.subscribeAsync(topic, { qos: 1 });
        c.on('message', (t) => report([t, 'message', now()]));
        subscribers.push(c);
      }
      send({ t: 'subscribed' });
      return;
    }
    case 'profile': {
      if (!msg.file) {
        profiler = new Session();
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.start');
      } else if (profiler) {
        const { profile } = await profiler.post('Profiler.stop');
        writeFileSync(msg.file, JSON.stringify(profile));
        profiler.disconnect();
        profiler = undefined;
      }
      send({ t: 'profiled' });
      return;
    }
    case 'baseline_end': {
      for (const c of subscribers.splice(0)) await c.endAsync(true);
      send({ t: 'unsubscribed' });
      return;
    }
    case 'cpu': {
      const { user, system } = process.cpuUsage();
      send({ t: 'cpu', us: user + system });
      return;
    }
    case 'stop': {
      for (const c of subscribers) await c.endAsync(true);
      for (const s of sites) {
        await s.client.close();
        s.ledger.close();
      }
      send({ t: 'stopped' });
      process.disconnect();
      return;
    }
  }
}
