import { INTEGRATION_USER_PREFIX } from '@kantine/gateway';
import test from 'ava';
import { startCentral } from '../helpers/central.ts';
import { pingAnswered, rawConnect } from '../helpers/mqtt-raw.ts';
import { startSite } from '../helpers/site.ts';

// Finding 10 of issue 16: MQTT hands a session to whoever connects with its client id, and the
// brokers let any login use any id: an integration's login knocked a reader offline, and a site
// did the same to another site's link.

// Serial: each test starts a gateway or a central (PGlite) of its own; side by side on a loaded
// machine their start-up alone can outlast ava's timeout.
const serial = test.serial;

const portOf = (url: string) => Number(new URL(url).port);

serial(
  "an integration or another reader using a reader's client id is refused, and the reader stays online",
  async (t) => {
    const site = await startSite(t);
    const port = portOf(site.url);
    const secret1 = await site.enrol('reader-1', 'till-1');
    const secret2 = await site.enrol('reader-2', 'till-1');
    const integrationSecret = await site.gateway.addIntegration('alarm', 'Alarm');

    const reader = await rawConnect(port, { clientId: 'reader-reader-1', username: 'reader-1', password: secret1 });
    t.is(reader.code, 0);
    t.teardown(() => reader.socket.destroy());

    const asIntegration = await rawConnect(port, {
      clientId: 'reader-reader-1',
      username: `${INTEGRATION_USER_PREFIX}alarm`,
      password: integrationSecret,
    });
    t.is(asIntegration.code, 2); // identifier rejected
    const asReader2 = await rawConnect(port, { clientId: 'reader-reader-1', username: 'reader-2', password: secret2 });
    t.is(asReader2.code, 2);
    // Nor a prefix game: reader-1's ids are `reader-reader-1` and `reader-reader-1:…` only.
    const lookalike = await rawConnect(port, {
      clientId: 'reader-reader-1-x',
      username: 'reader-1',
      password: secret1,
    });
    t.is(lookalike.code, 2);
    t.true(await pingAnswered(reader.socket), 'reader-1 is still connected');

    // Each logs in with its own.
    for (const [clientId, username, password] of [
      ['reader-reader-2', 'reader-2', secret2],
      [`${INTEGRATION_USER_PREFIX}alarm:node-red-1`, `${INTEGRATION_USER_PREFIX}alarm`, integrationSecret],
    ] as const) {
      const own = await rawConnect(port, { clientId, username, password });
      t.is(own.code, 0, clientId);
      own.socket.destroy();
    }
  },
);

serial("a site using another site's link client id at central is refused, and that site's link stays up", async (t) => {
  const central = await startCentral(t, { mqtt: { tls: 'off' } }); // raw packets: plain on loopback
  const port = portOf(central.url);
  const a = await central.addSite('skole-a');
  const b = await central.addSite('skole-b');

  const linkA = await rawConnect(port, { clientId: 'kantine-site-skole-a', username: 'skole-a', password: a.secret });
  t.is(linkA.code, 0);
  t.teardown(() => linkA.socket.destroy());
  const fromB = await rawConnect(port, { clientId: 'kantine-site-skole-a', username: 'skole-b', password: b.secret });
  t.is(fromB.code, 2);
  t.true(await pingAnswered(linkA.socket), "skole-a's link is still connected");

  const linkB = await rawConnect(port, { clientId: 'kantine-site-skole-b', username: 'skole-b', password: b.secret });
  t.is(linkB.code, 0);
  linkB.socket.destroy();
});
