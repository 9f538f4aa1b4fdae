import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VPCD_PORT } from '@kantine/card';
import { loadNfcPcsc } from '@kantine/reader';

const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so';
const SOCKET = '/run/pcscd/pcscd.comm';

/** Why the real card path cannot run here, or undefined when it can. */
export function pcscMissing(): string | undefined {
  const missing: string[] = [];
  if (!existsSync('/usr/sbin/pcscd')) missing.push('pcscd');
  if (!existsSync(VPCD_DRIVER)) missing.push('vsmartcard-vpcd');
  if (!loadNfcPcsc()) missing.push('nfc-pcsc (install libpcsclite-dev, then npm ci)');
  return missing.length ? `missing: ${missing.join(', ')} (.ci/run installs them)` : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function running(): boolean {
  try {
    execFileSync('pgrep', ['-x', 'pcscd'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const vpcdListening = () =>
  new Promise<boolean>((resolve) => {
    // pcscd's vpcd driver listens once it has loaded; a probe connection that closes at once is
    // harmless (vpcd sees a card come and go before it polls).
    const s = connect({ port: VPCD_PORT, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

// pcscd and the vpcd ports are the machine's: test files that use them take turns by this lock.
const LOCK = join(tmpdir(), 'kantine-pcscd-tests.lock');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function lock(): Promise<void> {
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'pid'), String(process.pid));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = Number.NaN;
      try {
        holder = Number(readFileSync(join(LOCK, 'pid'), 'utf8'));
      } catch {
        // being written or removed: look again
      }
      // a test process that died holding it leaves it behind
      if (Number.isInteger(holder) && !alive(holder)) rmSync(LOCK, { recursive: true, force: true });
      else await sleep(200);
    }
  }
}

/**
 * pcscd owned by a test file: the real daemon with the vpcd driver, started and stopped at will.
 * The vpcd ports are fixed, so test files take turns (a lock between ava's processes). The
 * machine's own pcscd, if one ran, is stopped first and started again at the end.
 */
export class Pcscd {
  private child: ChildProcess | undefined;
  private hadOne = running();
  private locked = false;

  async start(): Promise<void> {
    if (!this.locked) {
      await lock();
      this.locked = true;
      this.hadOne = running();
    }
    await this.kill();
    this.child = spawn('/usr/sbin/pcscd', ['--foreground'], { stdio: 'ignore' });
    await until('pcscd socket', () => existsSync(SOCKET));
    await until('vpcd slot', vpcdListening);
  }

  /** Stops pcscd the hard way (as a crash would) and waits until it is gone. */
  async kill(): Promise<void> {
    if (this.child) {
      const child = this.child;
      this.child = undefined;
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
    }
    if (running()) execFileSync('pkill', ['-KILL', '-x', 'pcscd']);
    await until('pcscd to stop', () => !running());
    // a killed pcscd leaves its socket behind; the next one replaces it
  }

  /** Leaves the machine as it was found. */
  async restore(): Promise<void> {
    await this.kill();
    if (this.hadOne) spawn('/usr/sbin/pcscd', [], { stdio: 'ignore', detached: true }).unref();
    if (this.locked) rmSync(LOCK, { recursive: true, force: true });
    this.locked = false;
  }
}

/** Inserts a card once the vpcd slot accepts it. */
export async function insertWhenReady(link: { insert(): Promise<void> }): Promise<void> {
  await until('the vpcd slot to accept a card', () =>
    link.insert().then(
      () => true,
      () => false,
    ),
  );
}
