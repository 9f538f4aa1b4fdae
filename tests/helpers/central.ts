import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CentralService, parseCentralConfig } from '@kantine/central';
import type { ExecutionContext } from 'ava';
import { silent } from './site.ts';

export interface TestCentral {
  service: CentralService;
  /** central's broker, for a gateway's `central.url` */
  url: string;
  http: string;
  dir: string;
  /** A call to central's API; the body parsed as JSON (undefined when empty). */
  // biome-ignore lint/suspicious/noExplicitAny: JSON from the API, read field by field in tests
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Registers a site and returns the gateway's `central` config section for it. */
  addSite(id: string, kind?: 'school' | 'club'): Promise<{ url: string; secret: string }>;
  stop(): Promise<void>;
  /** Starts it again on the same data (made `persistent`) and ports, after `stop`. */
  restart(): Promise<void>;
}

/**
 * Central on its embedded defaults (PGlite, aedes), on free ports. Its data is in memory unless
 * the test restarts it (`persistent`).
 */
export async function startCentral(
  t: ExecutionContext,
  more: Record<string, unknown> = {},
  persistent = false,
): Promise<TestCentral> {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-central-'));
  const make = (mqttPort: number, httpPort: number) =>
    new CentralService({
      config: parseCentralConfig({
        database: { dir: persistent ? dir : 'memory://' },
        mqtt: { mode: 'embedded', host: '127.0.0.1', port: mqttPort },
        http: { host: '127.0.0.1', port: httpPort },
        ...more,
      }),
      log: silent,
    });
  let service = make(0, 0);
  await service.start();
  const mqttPort = service.mqttPort;
  const httpPort = service.httpPort;
  let running = true;
  t.teardown(async () => {
    if (running) await service.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const http = `http://127.0.0.1:${httpPort}`;
  const tc: TestCentral = {
    get service() {
      return service;
    },
    url: `mqtt://127.0.0.1:${mqttPort}`,
    http,
    dir,
    async api(method, path, body) {
      const res = await fetch(`${http}${path}`, {
        method,
        ...(body === undefined
          ? {}
          : {
              headers: { 'content-type': 'application/json' },
              body: typeof body === 'string' ? body : JSON.stringify(body),
            }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async addSite(id, kind = 'school') {
      const put = await tc.api('PUT', `/api/sites/${id}`, { name: id, place_kinds: [kind] });
      if (put.status !== 204) throw new Error(`PUT site: ${put.status} ${JSON.stringify(put.body)}`);
      const res = await tc.api('POST', `/api/sites/${id}/secret`);
      return { url: tc.url, secret: res.body.secret as string };
    },
    async stop() {
      running = false;
      await service.stop();
    },
    async restart() {
      service = make(mqttPort, httpPort);
      await service.start();
      running = true;
    },
  };
  return tc;
}
