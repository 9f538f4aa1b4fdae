/**
 * Finding 5 of issue 16: central's link was plain MQTT by default, carrying site secrets and the
 * children's names, photos and allergies in the clear. Now it speaks TLS with central's own CA,
 * refuses plain text beyond loopback, and a site pins central's CA.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CentralService, parseCentralConfig } from '@kantine/central';
import { Gateway, parseGatewayConfig } from '@kantine/gateway';
import { ensureSiteTls } from '@kantine/mqtt/ca';
import { KantineError } from '@kantine/protocol';
import test, { type ExecutionContext } from 'ava';
import mqtt from 'mqtt';
import { startCentral } from '../helpers/central.ts';
import { silent, startSite } from '../helpers/site.ts';
import { eventually } from '../helpers/wait.ts';

/** Tries an MQTT login; resolves with how it ended (bounded: 5 s). */
function login(url: string, options: mqtt.IClientOptions): Promise<'connected' | 'no connack' | string> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { ...options, reconnectPeriod: 0, connectTimeout: 3_000 });
    const done = (how: string) => {
      clearTimeout(timer);
      client.end(true);
      resolve(how);
    };
    const timer = setTimeout(() => done('no connack'), 5_000);
    client.once('connect', () => done('connected'));
    client.once('error', (err) => done(err.message));
    client.once('close', () => done('no connack'));
  });
}

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-link-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("a plain MQTT client to central's default link port gets no MQTT: the link speaks only TLS", async (t) => {
  t.timeout(120_000);
  const dir = tempDir(t);
  // Central's link as it comes: no tls setting, listening on every interface.
  const central = await startCentral(t, { mqtt: { mode: 'embedded', port: 0, tls_dir: dir } });
  t.is(central.service.config.mqtt.mode === 'embedded' && central.service.config.mqtt.host, '0.0.0.0');
  const port = central.service.mqttPort;
  const site = await central.addSite('skole-tls');

  t.is(
    await login(`mqtt://127.0.0.1:${port}`, { username: 'skole-tls', password: site.secret }),
    'no connack',
    'a plain CONNECT gets no CONNACK',
  );

  // TLS trusting only the system's CAs: central's own certificate is not taken on trust.
  await t.throwsAsync(
    mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
      username: 'skole-tls',
      password: site.secret,
      reconnectPeriod: 0,
      connectTimeout: 3_000,
    }),
    { message: /certificate/i },
  );

  // With central's CA pinned, the site logs in.
  const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
    username: 'skole-tls',
    password: site.secret,
    clientId: 'kantine-site-skole-tls', // a site's client id is its own
    reconnectPeriod: 0,
    ca: readFileSync(site.ca_file),
  });
  t.true(client.connected);
  await client.endAsync(true);
});

test('central refuses to start its link on 0.0.0.0 without TLS, or on a plain standard broker beyond loopback', async (t) => {
  t.timeout(60_000);
  const start = (mqttConfig: Record<string, unknown>) =>
    new CentralService({
      config: parseCentralConfig({
        database: { dir: 'memory://' },
        mqtt: mqttConfig,
        http: { host: '127.0.0.1', port: 0 },
      }),
      log: silent,
    }).start();
  const open = await t.throwsAsync(start({ mode: 'embedded', host: '0.0.0.0', port: 0, tls: 'off' }));
  t.true(open instanceof KantineError);
  t.is((open as KantineError).code, 'link_plain_text');
  const shared = await t.throwsAsync(start({ mode: 'external', url: 'mqtt://broker.kommune.example:1883' }));
  t.is((shared as KantineError).code, 'link_plain_text');
});

test('a gateway refuses a plain link to a central beyond loopback', async (t) => {
  const dir = tempDir(t);
  const config = parseGatewayConfig({
    site: { id: 'skole-plain', name: 'Skole' },
    database: join(dir, 'gateway.db'),
    mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0, tls: 'off' },
    http: { host: '127.0.0.1', port: 0 },
    central: { url: 'mqtt://central.kommune.example:8884', secret: 'a-site-secret-long-enough' },
  });
  const gateway = new Gateway({ config, log: silent });
  const err = await t.throwsAsync(gateway.start());
  await gateway.stop().catch(() => {});
  t.is((err as KantineError).code, 'link_plain_text');
});

test('a site that pins another CA does not link to a central whose certificate it cannot trust', async (t) => {
  t.timeout(120_000);
  const dir = tempDir(t);
  const central = await startCentral(t);
  const link = await central.addSite('skole-pin');
  // A CA of the attacker's choosing (or any other): the site trusts only what IT gave it.
  const other = await ensureSiteTls(join(dir, 'other'), 'other', ['localhost']);
  const wrong = await startSite(t, {
    site: 'skole-pin',
    linked: true,
    config: { central: { ...link, ca_file: other.ca_file } },
  });
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  t.not(wrong.gateway.central.state, 'online');
  const right = await startSite(t, { site: 'skole-pin', linked: true, config: { central: link } });
  await eventually(() => (right.gateway.central.state === 'online' ? true : undefined), 20_000, 'linked over TLS');
  t.pass();
});
