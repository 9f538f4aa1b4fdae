import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGatewayConfig } from '@kantine/gateway';
import type { KantineError } from '@kantine/protocol';
import { loadReaderConfig } from '@kantine/reader';
import test from 'ava';

test('a reader config gets its defaults and a bad one is refused with the path of each bad field', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const good = join(dir, 'good.json');
  writeFileSync(
    good,
    JSON.stringify({ reader_id: 'r-1', site: 'skolen', broker: { url: 'mqtts://gw:8883', secret: 'x'.repeat(32) } }),
  );
  const cfg = loadReaderConfig(good);
  t.is(cfg.answer_timeout_ms, 3_000);
  t.is(cfg.port.kind, 'auto');

  const bad = join(dir, 'bad.json');
  writeFileSync(
    bad,
    JSON.stringify({
      reader_id: 'R 1',
      site: 'skolen',
      broker: { url: 'http://x', secret: 'short' },
      answer_timeout_ms: 60_000,
    }),
  );
  const err = t.throws(() => loadReaderConfig(bad)) as KantineError;
  t.is(err.code, 'config_invalid');
  for (const path of ['/reader_id', '/broker/url', '/broker/secret', '/answer_timeout_ms']) {
    t.true(
      err.details.some((d) => d.startsWith(path)),
      path,
    );
  }
  t.is((t.throws(() => loadReaderConfig(join(dir, 'missing.json'))) as KantineError).code, 'config_invalid');
});

test('a gateway config fills the embedded defaults and refuses unknown fields', (t) => {
  const cfg = parseGatewayConfig({ site: { id: 'skolen', name: 'Skolen' } });
  t.like(cfg.mqtt, { mode: 'embedded', port: 8883 });
  t.is(cfg.http.host, '127.0.0.1');
  const err = t.throws(() => parseGatewayConfig({ site: { id: 'skolen', name: 'Skolen' }, mqqt: {} })) as KantineError;
  t.is(err.code, 'config_invalid');
});
