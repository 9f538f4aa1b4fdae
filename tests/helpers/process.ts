import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The repository root: `tests/helpers/` is two levels down.
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/**
 * Starts a kantine process (`script`, from the repository root) and resolves once it logs
 * `ready` (a pino message). For crash tests and benchmarks, which need processes of their own.
 * Bounded: a process that does not start in 60 s is an error (a hang guard, not a measure: under a
 * whole suite on two cores a worker's start — tsx compiling it, migrations — took over 20 s).
 */
export function spawnService(
  script: string,
  args: readonly string[],
  ready: string,
  env: Record<string, string> = {},
  nodeArgs: readonly string[] = [],
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...nodeArgs, '--import=tsx', script, ...args], {
    cwd: repoRoot,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const marker = `"msg":"${ready}"`;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not start within 60 s\n${stderr}`));
    }, 60_000);
    let buffered = '';
    const onData = (b: Buffer) => {
      buffered += b.toString();
      if (buffered.includes(marker)) {
        clearTimeout(timer);
        buffered = '';
        child.stdout?.off('data', onData);
        child.stdout?.resume(); // keep draining the logs
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} before it started\n${stderr}`));
    });
  });
}

/** The real gateway (`gateway/src/main.ts`) in a process of its own. */
export function spawnGateway(
  configPath: string,
  env: Record<string, string> = {},
  nodeArgs: readonly string[] = [],
): Promise<ChildProcess> {
  return spawnService('gateway/src/main.ts', ['--config', configPath], 'gateway started', env, nodeArgs);
}

/** A central worker (`central/src/main.ts`) in a process of its own. */
export function spawnCentral(configPath: string, env: Record<string, string> = {}): Promise<ChildProcess> {
  return spawnService('central/src/main.ts', ['--config', configPath], 'central started', env);
}

/**
 * `kantine-central token add --scope <scope> --name <name>` on central's config, as IT runs it:
 * a real process. Returns the token it printed (with Postgres, beside running workers too).
 */
export function centralToken(configPath: string, scope: string, name = `tests-${scope}`): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(repoRoot, 'central', 'bin', 'kantine-central.mjs'), 'token', 'add', '--scope', scope, '--name', name],
      { cwd: repoRoot, env: { ...process.env, KANTINE_CENTRAL_CONFIG: configPath }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      const token = /^token: +(\S+)$/m.exec(out)?.[1];
      if (code === 0 && token) resolve(token);
      else reject(new Error(`kantine-central token add exited ${code}: ${out}`));
    });
  });
}

export function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

export function stopGracefully(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
