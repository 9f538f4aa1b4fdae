/**
 * The fake payment provider as its own process (`kantine-fake-psp`), for central's payment tests
 * and the demo test: started, told where central's webhook is, and stopped in the teardown.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { repoRoot, stopGracefully } from './process.ts';

export const PSP_API_KEY = 'test-psp-api-key-0123456789';
export const PSP_WEBHOOK_SECRET = 'test-psp-webhook-secret-0123456789';
export const APPROVED_CARD = '4571000000000001';
export const DECLINED_CARD = '4000000000000002';

export interface RunningPsp {
  url: string;
  child: ChildProcess;
  /** The provider's /admin API (faults, webhook address, what it sent). */
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  /** Central's `payments` section for this provider (add terms_url, limits as needed). */
  config(extra?: Record<string, unknown>): Record<string, unknown>;
  /** Pays a checkout with a test card through the hosted page's form (no browser): the return URL it redirects to. */
  pay(checkout_url: string, card?: string): Promise<{ status: number; location: string | null }>;
}

const bin = join(repoRoot, 'payments', 'bin', 'kantine-fake-psp.mjs');

/**
 * Spawns `kantine-fake-psp` on a free port with `args` and `env` (its API key and webhook secret)
 * and resolves with the address it prints. The caller stops it.
 */
export async function spawnFakePsp(
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [bin, '--port', '0', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr?.on('data', (b: Buffer) => {
    err += b.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    // A loaded machine (CI beside browsers) can take its time starting node.
    const timer = setTimeout(() => reject(new Error(`kantine-fake-psp did not start within 60 s\n${err}`)), 60_000);
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /^url (\S+)$/m.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kantine-fake-psp exited with ${code}\n${err}`));
    });
  });
  return { child, url };
}

export async function startPsp(t: Pick<ExecutionContext, 'teardown'>, webhookUrl?: string): Promise<RunningPsp> {
  const { child, url } = await spawnFakePsp(webhookUrl ? ['--webhook-url', webhookUrl] : [], {
    KANTINE_FAKE_PSP_API_KEY: PSP_API_KEY,
    KANTINE_FAKE_PSP_WEBHOOK_SECRET: PSP_WEBHOOK_SECRET,
  });
  t.teardown(() => stopGracefully(child));
  const admin: RunningPsp['admin'] = async (method, path, body) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${PSP_API_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    url,
    child,
    admin,
    config: (extra = {}) => ({
      provider: 'fake',
      api_url: url,
      api_key: PSP_API_KEY,
      webhook_secret: PSP_WEBHOOK_SECRET,
      request_timeout_ms: 1_500,
      terms_url: 'http://127.0.0.1/betingelser',
      ...extra,
    }),
    async pay(checkout_url, card = APPROVED_CARD) {
      const res = await fetch(checkout_url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ card_number: card, expiry: '12/39', cvc: '123' }).toString(),
        redirect: 'manual',
      });
      await res.text();
      return { status: res.status, location: res.headers.get('location') };
    },
  };
}
