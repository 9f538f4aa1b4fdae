import { INTEGRATION_USER_PREFIX } from '@kantine/gateway';
import { linkTopic, readerTopic } from '@kantine/protocol';
import test from 'ava';
import { startCentral } from '../helpers/central.ts';
import { rawConnect } from '../helpers/mqtt-raw.ts';
import { makeTap, SITE, startSite } from '../helpers/site.ts';

// Finding 20 of issue 16: a last will was checked only when published, and one published with
// no client (`client === null`) skipped the ACL. A will is now checked when it is stored, at
// CONNECT, against the identity that stores it.

// Serial: each test starts a gateway or a central (PGlite) of its own; side by side on a loaded
// machine their start-up alone can outlast ava's timeout.
const serial = test.serial;

const portOf = (url: string) => Number(new URL(url).port);

serial("a reader cannot leave a will on another reader's tap topic, nor an integration on any topic", async (t) => {
  const site = await startSite(t);
  const port = portOf(site.url);
  const secret = await site.enrol('reader-1', 'till-1');
  const integrationSecret = await site.gateway.addIntegration('alarm', 'Alarm');
  const forgedTap = JSON.stringify(makeTap('reader-2', '04A1B2C3D4E5F6'));

  const reader = await rawConnect(port, {
    clientId: 'reader-reader-1',
    username: 'reader-1',
    password: secret,
    will: { topic: readerTopic(SITE, 'reader-2', 'tap'), payload: forgedTap, qos: 1 },
  });
  t.is(reader.code, 5); // not authorized
  const integration = await rawConnect(port, {
    clientId: `${INTEGRATION_USER_PREFIX}alarm`,
    username: `${INTEGRATION_USER_PREFIX}alarm`,
    password: integrationSecret,
    will: { topic: `kantine/${SITE}/events/taps`, payload: '{}' },
  });
  t.is(integration.code, 5);

  // The will a reader daemon leaves (its own status, retained) is its own to leave.
  const own = await rawConnect(port, {
    clientId: 'reader-reader-1',
    username: 'reader-1',
    password: secret,
    will: { topic: readerTopic(SITE, 'reader-1', 'status'), payload: '{}', qos: 1, retain: true },
  });
  t.is(own.code, 0);
  own.socket.destroy();
});

serial("a site cannot leave a will on another site's up topic at central", async (t) => {
  const central = await startCentral(t, { mqtt: { tls: 'off' } }); // raw packets: plain on loopback
  const port = portOf(central.url);
  const a = await central.addSite('skole-a');
  await central.addSite('skole-b');
  const link = await rawConnect(port, {
    clientId: 'kantine-site-skole-a',
    username: 'skole-a',
    password: a.secret,
    will: { topic: linkTopic('skole-b', 'up'), payload: '{}', qos: 1 },
  });
  t.is(link.code, 5);
});
