/**
 * Central's embedded broker under a national fan-out (issue 22): one change for thousands of
 * sites, and thousands of sites' acks behind it. aedes's emitter (mqemitter 7) works off what
 * waits beyond its concurrency (100) by recursion, one level per message that completes at once:
 * central's own subscriber to the sites' `up` topics completed at once, and so did a message to a
 * site nobody listens for (an offline site) — a few thousand of either behind a fan-out in flight
 * overflowed the stack and ended central's process. Real aedes (central's `EmbeddedLinkBroker`),
 * real MQTT clients as the online sites, node's default stack.
 */

import { randomBytes, scryptSync } from 'node:crypto';
import { EmbeddedLinkBroker } from '@kantine/central';
import { linkTopic } from '@kantine/protocol';
import type { Aedes } from 'aedes';
import test from 'ava';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { eventually } from './helpers/wait.ts';

const ONLINE = 100; // aedes's concurrency: these messages are in flight while the rest wait
const OFFLINE = 5_000;
const UPS = 5_000;

/** A site secret hashed as central stores it, with a cheap scrypt cost (logins are not tested). */
function cheapHash(secret: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(secret, salt, 32, { N: 1024 });
  return ['scrypt', 1024, 8, 1, salt.toString('base64url'), key.toString('base64url')].join('$');
}

async function startBroker(onUp: (site: string) => void) {
  const hash = cheapHash('secret');
  const broker = new EmbeddedLinkBroker({
    host: '127.0.0.1',
    port: 0,
    limits: { connections_per_source_max: ONLINE + 10 },
    siteSecretHash: async (site) => (site.startsWith('site-') ? hash : undefined),
    log: pino({ level: 'silent' }),
  });
  await broker.start((site) => onUp(site));
  return broker;
}

/** A site's link: logged in as its site, subscribed to its down topic, counting what arrives. */
async function connectSite(port: number, site: string, got: Map<string, number>): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 4,
    clientId: `kantine-site-${site}`,
    username: site,
    password: 'secret',
    reconnectPeriod: 0,
  });
  client.on('message', () => got.set(site, (got.get(site) ?? 0) + 1));
  await client.subscribeAsync(linkTopic(site, 'down'), { qos: 1 });
  return client;
}

/** The online sites, a few logins at a time (central's broker checks a few secrets at once and turns a crowd away). */
async function connectAll(port: number, sites: readonly string[], got: Map<string, number>): Promise<MqttClient[]> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < sites.length; i += 8)
    clients.push(...(await Promise.all(sites.slice(i, i + 8).map((s) => connectSite(port, s, got)))));
  return clients;
}

const online = Array.from({ length: ONLINE }, (_, i) => `site-on-${i}`);
const offline = Array.from({ length: OFFLINE }, (_, i) => `site-off-${i}`);

test('one change to thousands of sites, most of them offline: central lives and every online site has it', async (t) => {
  const broker = await startBroker(() => {});
  const got = new Map<string, number>();
  const clients = await connectAll(broker.port, online, got);
  t.teardown(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await broker.close();
  });
  // As central hands one committed change to every site of an account: one synchronous loop.
  for (const site of [...online, ...offline]) broker.publish(site, { v: 1, t: 'ack', up_cursor: 1 });
  await eventually(() => (online.every((s) => got.get(s) === 1) ? true : undefined), 60_000, 'every online site');
  // And the broker still carries the next change.
  for (const site of online) broker.publish(site, { v: 1, t: 'ack', up_cursor: 2 });
  await eventually(() => (online.every((s) => got.get(s) === 2) ? true : undefined), 60_000, 'the next change');
  t.pass();
});

test('thousands of sites’ messages behind a fan-out in flight: central takes every one and lives', async (t) => {
  const ups = new Map<string, number>();
  const broker = await startBroker((site) => ups.set(site, (ups.get(site) ?? 0) + 1));
  const got = new Map<string, number>();
  const clients = await connectAll(broker.port, online, got);
  t.teardown(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await broker.close();
  });
  // A fan-out in flight (its deliveries take the emitter's slots)…
  for (const site of online) broker.publish(site, { v: 1, t: 'ack', up_cursor: 1 });
  // …and, in the same turn, the sites' acks as aedes takes them off the wire (its own publish:
  // the one way a site's packet reaches central's subscriber).
  const aedes = (broker as unknown as { server: { broker: Aedes } }).server.broker;
  for (let i = 0; i < UPS; i++) {
    const site = online[i % ONLINE] as string;
    aedes.publish(
      { cmd: 'publish', topic: linkTopic(site, 'up'), payload: Buffer.from('{}'), qos: 1, retain: false, dup: false },
      () => {},
    );
  }
  await eventually(
    () => ([...ups.values()].reduce((a, b) => a + b, 0) === UPS ? true : undefined),
    60_000,
    'every message at central',
  );
  await eventually(() => (online.every((s) => got.get(s) === 1) ? true : undefined), 60_000, 'every online site');
  t.is(ups.size, ONLINE);
});

test('a site that goes and comes back gets what central sends after it is back, and nothing while away', async (t) => {
  const broker = await startBroker(() => {});
  const got = new Map<string, number>();
  const site = 'site-away';
  let client = await connectSite(broker.port, site, got);
  t.teardown(async () => {
    await client.endAsync(true);
    await broker.close();
  });
  broker.publish(site, { v: 1, t: 'ack', up_cursor: 1 });
  await eventually(() => (got.get(site) === 1 ? true : undefined), 10_000, 'the first message');
  await client.endAsync();
  await eventually(
    () => ((broker as unknown as { listening: Map<string, unknown> }).listening.has(site) ? undefined : true),
    10_000,
    'the broker saw the site go',
  );
  broker.publish(site, { v: 1, t: 'ack', up_cursor: 2 }); // offline: the site gets it on hello
  client = await connectSite(broker.port, site, got);
  broker.publish(site, { v: 1, t: 'ack', up_cursor: 3 });
  await eventually(() => (got.get(site) === 2 ? true : undefined), 10_000, 'the message after it came back');
  // Only that one: nothing was queued for it while it was away (clean sessions; the down log re-sends).
  await new Promise((r) => setTimeout(r, 200));
  t.is(got.get(site), 2);
});
