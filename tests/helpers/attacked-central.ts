import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { freshDatabase } from './postgres.ts';
import { centralToken, freePort, killHard, spawnCentral } from './process.ts';

export interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON from the API, read field by field in tests
  body: any;
  headers: Headers;
}

export interface AttackedCentral {
  child: ChildProcess;
  /** http://127.0.0.1:port */
  http: string;
  config: string;
  /** Everything central wrote on stdout and stderr (its JSON log lines) since it started. */
  logs: () => string;
  /** A request as an attacker (or a user) sends it: raw path, optional token. */
  call(method: string, path: string, token?: string, body?: unknown): Promise<Answer>;
  token(scope: string, name?: string): Promise<string>;
}

/**
 * A real central process on a fresh Postgres database, as a municipality runs it, with its
 * logs kept for the test to read.
 */
export async function attackedCentral(t: ExecutionContext, env: Record<string, string> = {}): Promise<AttackedCentral> {
  const url = await freshDatabase(t, 'attack');
  const dir = mkdtempSync(join(tmpdir(), 'kantine-attack-'));
  const config = join(dir, 'central.json');
  const port = await freePort();
  writeFileSync(
    config,
    JSON.stringify({
      database: { url },
      mqtt: { mode: 'embedded', host: '127.0.0.1', port: await freePort() },
      http: { host: '127.0.0.1', port },
    }),
  );
  const child = await spawnCentral(config, env);
  let logs = '';
  child.stdout?.on('data', (b: Buffer) => {
    logs += b.toString();
  });
  child.stderr?.on('data', (b: Buffer) => {
    logs += b.toString();
  });
  t.teardown(async () => {
    await killHard(child);
    rmSync(dir, { recursive: true, force: true });
  });
  const http = `http://127.0.0.1:${port}`;
  return {
    child,
    http,
    config,
    logs: () => logs,
    async call(method, path, token, body) {
      const res = await fetch(`${http}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
    },
    token: (scope, name) => centralToken(config, scope, name),
  };
}
