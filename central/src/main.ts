#!/usr/bin/env -S node --import=tsx
/**
 * kantine-central --config /etc/kantine/central.json
 *
 * Runs one central worker until SIGINT/SIGTERM: the database (Postgres, or PGlite embedded),
 * the link to every site's gateway over MQTT and the HTTP API. Logs are JSON lines (pino).
 * With no config file at all (`--config` not given and none at the default path) it runs on the
 * embedded defaults: PGlite in data/central, its own broker on 8884, the API on 127.0.0.1:8090.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { KantineError } from '@kantine/protocol';
import { loadCentralConfig, parseCentralConfig } from './config.ts';
import { CentralService } from './service.ts';

const DEFAULT_PATH = '/etc/kantine/central.json';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' } }, strict: true });
  const given = values.config ?? process.env.KANTINE_CENTRAL_CONFIG;
  const config = given || existsSync(DEFAULT_PATH) ? loadCentralConfig(given ?? DEFAULT_PATH) : parseCentralConfig({});
  const service = new CentralService({ config });
  await service.start();
  const stop = () => {
    void service.stop().finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  if (err instanceof KantineError) {
    process.stderr.write(`kantine-central: ${err.code}: ${err.message}\n`);
    for (const d of err.details) process.stderr.write(`  ${d}\n`);
  } else {
    process.stderr.write(`kantine-central: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
});
