/**
 * A USB NFC reader that a test can unplug and plug back, without USB hardware.
 *
 * pcscd only ever removes a reader when udev tells it that a USB device went away; vpcd's reader
 * comes from reader.conf and stays for pcscd's life. So this starts a second pcscd, of its own,
 * in a private mount namespace where:
 *   - /sys is a folder of ours holding one USB device (vendor 1d6b, product 0104) and its
 *     interface, made and removed as the test plugs and unplugs it; libudev reads it as sysfs
 *     (SYSTEMD_DEVICE_VERIFY_SYSFS=0, systemd's switch for tests on a fake sysfs);
 *   - /usr/lib/pcsc/drivers holds one driver bundle for that device: ifd-usb-vpcd.c, which hands
 *     every call to vsmartcard's vpcd driver with a slot on a port of ours, so a card twin lies on
 *     this reader as on vpcd's own;
 *   - /run is ours, with /run/udev/control (libudev listens for events only where udev runs) and
 *     pcscd's socket, which nfc-pcsc reaches through PCSCLITE_CSOCK_NAME.
 * Plugging in or out is then what udev does after the kernel's event: one libudev message on the
 * netlink "udev" group (uevent-send.c), which pcscd acts on exactly as for a real reader. Everything
 * from pcscd up (its hotplug code, reader list, the client library, nfc-pcsc, our port) is real;
 * only the USB bus is simulated. Needs root, gcc and pcscd built with libudev (Debian's is).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pcscdListening } from '@kantine/reader';
import { pcscdEnv, takeTurn } from './pcscd.ts';
import { until } from './wait.ts';

const HERE = join(dirname(fileURLToPath(import.meta.url)), 'usb-hotplug');
const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so';
/** The reader's name as pcscd gives it (the Info.plist name, then pcscd's numbers). */
export const USB_READER_NAME = 'Kantine USB test reader';

/** Why the simulated USB reader cannot run here, or undefined when it can. */
export function usbMissing(): string | undefined {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (for a mount namespace and netlink)');
  const needs: [string, string][] = [
    ['/usr/bin/gcc', 'gcc'],
    ['/usr/include/stdio.h', 'libc6-dev'],
    ['/usr/bin/unshare', 'util-linux'],
    ['/usr/sbin/pcscd', 'pcscd'],
    ['/usr/include/PCSC/ifdhandler.h', 'libpcsclite-dev'],
    [VPCD_DRIVER, 'vsmartcard-vpcd'],
  ];
  for (const [file, pkg] of needs) if (!existsSync(file)) missing.push(pkg);
  return missing.length ? `missing: ${missing.join(', ')}` : undefined;
}

/** Waits until `check` holds (wait.ts's `until` takes a value or undefined). */
const waitUntil = (what: string, check: () => boolean | Promise<boolean>) =>
  until(async () => ((await check()) ? true : undefined), what);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

export class UsbPcscd {
  /** pcscd's socket: give it to the client library as PCSCLITE_CSOCK_NAME. */
  readonly socket: string;
  private child: ChildProcess | undefined;
  private seqnum = 0;
  private plugged = false;
  // Where the device sits in our sysfs: a USB device and its one interface, on a bus numbered
  // after this instance's vpcd port. udev's message reaches every listener in the network
  // namespace (another test run's pcscd too): pcscd ignores an added device it cannot find in its
  // own sysfs, but removes a reader by the interface's name alone ("1-1:1.0"), so that name must
  // be this instance's own.
  private readonly bus: string;
  private readonly device: string;
  private readonly iface: string;

  private constructor(
    private readonly dir: string,
    /** The vpcd slot of the USB reader: a card twin lies on it by connecting here. */
    readonly vpcdPort: number,
    private readonly release: () => void,
  ) {
    this.socket = join(dir, 'run/pcscd/pcscd.comm');
    this.bus = `/devices/${basename(dir)}`;
    this.device = `${this.bus}/usb${vpcdPort}/${vpcdPort}-1`;
    this.iface = `${this.device}/${vpcdPort}-1:1.0`;
  }

  static async start(): Promise<UsbPcscd> {
    // udev's messages reach every test pcscd on the machine: one simulated USB bus at a time
    const release = await takeTurn(join(tmpdir(), 'kantine-usb-tests.lock'));
    const dir = mkdtempSync(join(tmpdir(), 'kantine-usb-'));
    const usb = new UsbPcscd(dir, await freePort(), release);
    try {
      usb.build();
      await usb.spawn();
    } catch (err) {
      await usb.stop();
      throw err;
    }
    return usb;
  }

  private build(): void {
    const { dir } = this;
    const contents = join(dir, 'drivers/kantine-usb-vpcd.bundle/Contents');
    for (const d of ['sys/bus/usb/devices', 'sys/devices', 'run/udev', 'run/pcscd', 'conf', 'lib']) {
      mkdirSync(join(dir, d), { recursive: true });
    }
    mkdirSync(join(contents, 'Linux'), { recursive: true });
    writeFileSync(join(dir, 'run/udev/control'), '');
    copyFileSync(join(HERE, 'Info.plist'), join(contents, 'Info.plist'));
    // the vpcd driver is hidden in the namespace (its drivers folder is ours): load a copy
    copyFileSync(VPCD_DRIVER, join(dir, 'lib/libifdvpcd.so'));
    const gcc = (args: string[]) => execFileSync('gcc', ['-Wall', '-Wextra', '-Werror', ...args], { stdio: 'pipe' });
    gcc([
      '-shared',
      '-fPIC',
      '-I/usr/include/PCSC',
      '-o',
      join(contents, 'Linux/libifd-usb-vpcd.so'),
      join(HERE, 'ifd-usb-vpcd.c'),
      '-ldl',
    ]);
    gcc(['-o', join(dir, 'uevent-send'), join(HERE, 'uevent-send.c')]);
  }

  private async spawn(): Promise<void> {
    const { dir } = this;
    const log = join(dir, 'pcscd.log');
    symlinkSync('/usr/sbin/pcscd', join(dir, 'kantine-usb-pcscd'));
    const script = [
      'set -e',
      `mount --bind "${dir}/sys" /sys`,
      `mount --bind "${dir}/run" /run`,
      `mount --bind "${dir}/drivers" /usr/lib/pcsc/drivers`,
      // under a name of its own, so that a test file restarting the machine's pcscd (pkill -x pcscd)
      // leaves this one alone
      `exec "${dir}/kantine-usb-pcscd" --foreground --debug --config "${dir}/conf" > "${log}" 2>&1`,
    ].join('\n');
    this.child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...pcscdEnv(),
        SYSTEMD_DEVICE_VERIFY_SYSFS: '0',
        KANTINE_VPCD_LIB: join(dir, 'lib/libifdvpcd.so'),
        KANTINE_VPCD_PORT: String(this.vpcdPort),
      },
    });
    let stderr = '';
    this.child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const child = this.child;
    await waitUntil('the USB pcscd to listen', () => {
      if (!alive(child))
        throw new Error(`pcscd (USB) exited ${child.exitCode ?? child.signalCode}: ${stderr}${this.log()}`);
      return pcscdListening(this.socket);
    });
  }

  /** pcscd's own log (debug level), for a failing test's message. */
  log(): string {
    try {
      return readFileSync(join(this.dir, 'pcscd.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /**
   * Sends udev's message and waits for pcscd to have acted on it, as its log says (a probe of the
   * vpcd port would look like a card to the reader under test).
   */
  private async uevent(action: 'add' | 'remove', done: RegExp): Promise<void> {
    const count = () => this.log().match(done)?.length ?? 0;
    const before = count();
    this.seqnum += 1;
    execFileSync(join(this.dir, 'uevent-send'), [action, this.iface, 'usb', 'usb_interface', String(this.seqnum)], {
      stdio: 'pipe',
    });
    await waitUntil(
      `pcscd to see the USB reader ${action === 'add' ? 'plugged in' : 'pulled out'}`,
      () => count() > before,
    );
  }

  /** Plugs the reader in: the device appears in sysfs, udev announces it, pcscd opens its slot. */
  async plug(): Promise<void> {
    if (this.plugged) return;
    const sys = join(this.dir, 'sys');
    const device = join(sys, this.device);
    const iface = join(sys, this.iface);
    mkdirSync(iface, { recursive: true });
    const file = (path: string, text: string) => writeFileSync(path, `${text}\n`);
    file(
      join(device, 'uevent'),
      'MAJOR=189\nMINOR=1\nDEVNAME=bus/usb/001/002\nDEVTYPE=usb_device\nBUSNUM=001\nDEVNUM=002',
    );
    file(join(device, 'idVendor'), '1d6b');
    file(join(device, 'idProduct'), '0104');
    symlinkSync('../../../../bus/usb', join(device, 'subsystem'));
    file(join(iface, 'uevent'), 'DEVTYPE=usb_interface\nINTERFACE=11/0/0');
    file(join(iface, 'bInterfaceNumber'), '00');
    symlinkSync('../../../../../bus/usb', join(iface, 'subsystem'));
    this.plugged = true;
    await this.uevent('add', /Waiting for virtual ICC on port/g);
  }

  /**
   * Pulls the reader out: udev announces the removal (pcscd looks the device up while its sysfs
   * entry is still there, as it is when the kernel's event leaves), then the entry goes.
   */
  async unplug(): Promise<void> {
    if (!this.plugged) return;
    await this.uevent('remove', /Attempting shutdown of/g);
    rmSync(join(this.dir, 'sys', this.bus), { recursive: true, force: true });
    this.plugged = false;
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child && alive(child)) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
    this.release();
  }
}
