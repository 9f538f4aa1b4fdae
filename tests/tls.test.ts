import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway, parseGatewayConfig } from '@kantine/gateway';
import { parseReaderConfig, ReaderDaemon, SimulatedPort, type TapResult } from '@kantine/reader';
import test from 'ava';
import mqtt from 'mqtt';
import { cards, RecordingFeedback, SITE, seedFixture, silent } from './helpers/site.ts';
import { waitForEvent } from './helpers/wait.ts';

/** A throwaway site CA and a server certificate for 127.0.0.1, made with openssl. */
function makeCertificates(dir: string) {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=kantine test site CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
  );
  run(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    '/CN=gateway',
    '-keyout',
    'gateway.key',
    '-out',
    'gateway.csr',
  );
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(
    'x509',
    '-req',
    '-in',
    'gateway.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'san.ext',
    '-out',
    'gateway.crt',
  );
  return { ca: join(dir, 'ca.crt'), key: join(dir, 'gateway.key'), cert: join(dir, 'gateway.crt') };
}

test('readers reach the gateway over MQTT with TLS and a sale goes through; a client without the site CA is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-tls-'));
  const certs = makeCertificates(dir);
  const gateway = new Gateway({
    config: parseGatewayConfig({
      site: { id: SITE, name: 'Testskolen' },
      database: join(dir, 'gateway.db'),
      mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0, tls: { key_file: certs.key, cert_file: certs.cert } },
      http: { host: '127.0.0.1', port: 0 },
    }),
    log: silent,
  });
  await gateway.start();
  t.teardown(async () => {
    await gateway.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  seedFixture(gateway.ledger);
  gateway.ledger.baskets.setBasket('till-1', [{ product_id: 'yoghurt', quantity: 1 }]);
  const url = `mqtts://127.0.0.1:${gateway.mqttPort}`;

  const port = new SimulatedPort();
  const daemon = new ReaderDaemon({
    config: parseReaderConfig({
      reader_id: 'reader-1',
      site: SITE,
      broker: { url, secret: await gateway.addReader('reader-1', 'till-1'), ca_file: certs.ca },
      port: { kind: 'sim' },
    }),
    port,
    feedback: new RecordingFeedback(),
    log: silent,
  });
  const configured = waitForEvent(daemon, 'config');
  await daemon.start();
  t.teardown(() => daemon.stop());
  await configured;
  const result = waitForEvent<[TapResult]>(daemon, 'result');
  port.tap(cards.alma);
  const [r] = await result;
  t.is(r.kind === 'decision' && r.decision.outcome, 'approved');

  // Without the site CA the gateway's certificate is not trusted.
  await t.throwsAsync(mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 3_000 }), {
    message: /self[- ]signed|unable to verify|certificate/i,
  });
});
