import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type VirtualCard, VPCD_PORT, VpcdLink } from '@kantine/card';
import type { CardRead } from '@kantine/protocol';
import { loadNfcPcsc, type PcscPort, parseReaderConfig, ReaderDaemon, type TapResult } from '@kantine/reader';
import type { ExecutionContext } from 'ava';
import { RecordingFeedback, silent, type TestSite } from './site.ts';
import { waitForEvent } from './wait.ts';

const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so';
const SOCKET = '/run/pcscd/pcscd.comm';

const NODELAY_SOURCE = join(import.meta.dirname, 'vpcd-nodelay.c');

/**
 * The shim that gives vpcd's card connections TCP_NODELAY (see vpcd-nodelay.c), built once per
 * version of its source into the temp folder; undefined without gcc (pcscd then runs as it is,
 * and each APDU through vpcd takes about 40 ms longer).
 */
function vpcdNodelay(): string | undefined {
  const source = readFileSync(NODELAY_SOURCE);
  const lib = join(
    tmpdir(),
    `kantine-vpcd-nodelay-${createHash('sha256').update(source).digest('hex').slice(0, 12)}.so`,
  );
  if (existsSync(lib)) return lib;
  const partial = `${lib}.${process.pid}`;
  try {
    execFileSync('gcc', ['-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-o', partial, NODELAY_SOURCE, '-ldl'], {
      stdio: 'pipe',
    });
    renameSync(partial, lib); // atomic: test processes building it at once each see a whole file
    return lib;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // no gcc
    throw err;
  }
}

/** The environment for a test pcscd: vpcd's card connections without Nagle's stall. */
export function pcscdEnv(): NodeJS.ProcessEnv {
  const lib = vpcdNodelay();
  return lib ? { ...process.env, LD_PRELOAD: lib } : { ...process.env };
}

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

/**
 * Waits for a lock between test processes (a folder in the temp folder holding the holder's
 * pid); resolves with its release. A lock left by a process that died is taken over.
 */
export async function takeTurn(path: string): Promise<() => void> {
  for (;;) {
    try {
      mkdirSync(path);
      writeFileSync(join(path, 'pid'), String(process.pid));
      return () => rmSync(path, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = Number.NaN;
      try {
        holder = Number(readFileSync(join(path, 'pid'), 'utf8'));
      } catch {
        // being written or removed: look again
      }
      // a test process that died holding it leaves it behind
      if (Number.isInteger(holder) && !alive(holder)) rmSync(path, { recursive: true, force: true });
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
  private unlock: (() => void) | undefined;

  async start(): Promise<void> {
    if (!this.unlock) {
      this.unlock = await takeTurn(LOCK);
      this.hadOne = running();
    }
    await this.kill();
    this.child = spawn('/usr/sbin/pcscd', ['--foreground'], { stdio: 'ignore', env: pcscdEnv() });
    await until('pcscd socket', () => existsSync(SOCKET));
    await until('vpcd slot', vpcdListening);
  }

  /** Stops pcscd the hard way (as a crash would) and waits until it is gone. */
  async kill(): Promise<void> {
    if (this.child) {
      const child = this.child;
      this.child = undefined;
      // a pcscd killed from outside has a signal and no exit code: it will not exit again
      if (child.exitCode === null && child.signalCode === null) {
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
    this.unlock?.();
    this.unlock = undefined;
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

/**
 * A reader daemon on a PC/SC port at a test site, with feedback recorded. `lay` puts a card twin on
 * the reader's vpcd slot until it is removed and resolves with the tap's result; `tap` lays it and
 * lifts it again. Cards still lying there are lifted when the test ends.
 */
export async function pcscReaderDaemon(
  t: ExecutionContext,
  site: TestSite,
  opts: { readerId: string; port: PcscPort; readerName: string; vpcdPort?: number },
) {
  const { port } = opts;
  const secret = await site.gateway.addReader(opts.readerId, 'till-1');
  const feedback = new RecordingFeedback();
  const daemon = new ReaderDaemon({
    config: parseReaderConfig({
      reader_id: opts.readerId,
      site: 'testskolen',
      broker: { url: site.url, secret },
      port: { kind: 'pcsc', reader_name: opts.readerName },
    }),
    port,
    feedback,
    log: silent,
  });
  const ready = waitForEvent<[boolean]>(port, 'ready', (r) => r, 10_000);
  const configured = waitForEvent(daemon, 'config', () => true, 10_000);
  await daemon.start();
  await Promise.all([ready, configured]);
  const links: VpcdLink[] = [];
  t.teardown(async () => {
    for (const l of links) l.remove();
    // let pcscd see the card go (it polls every ~400 ms), or the next test's reader finds it there
    await sleep(800);
    await daemon.stop();
  });
  return {
    port,
    daemon,
    feedback,
    /** Lays a card on the reader (until `remove`); resolves with the tap's result. */
    async lay(card: VirtualCard): Promise<{ result: TapResult; read: CardRead; link: VpcdLink }> {
      const link = new VpcdLink(card, opts.vpcdPort);
      links.push(link);
      const done = waitForEvent<[TapResult, CardRead]>(daemon, 'result', () => true, 15_000);
      await insertWhenReady(link);
      const [result, read] = await done;
      return { result, read, link };
    },
    /** Lays a card on the reader and lifts it once it has paid; pcscd has seen it go. */
    async tap(card: VirtualCard) {
      const laid = await this.lay(card);
      laid.link.remove();
      await sleep(800);
      return laid;
    },
  };
}
