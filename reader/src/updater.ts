import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { KantineError, type ReaderConfig } from '@kantine/protocol';
import { verifyManifest, verifyRelease } from '@kantine/protocol/release';
import type { Logger } from 'pino';
import { siteFetch } from './gateway-http.ts';

/**
 * The reader updating itself (docs/operations/it-guide.md). A Pi set up by install.sh has two
 * slots, /opt/kantine-reader/slots/a and b; `current` points at the one running. When the
 * gateway's retained config names another release, the reader downloads it from the gateway into
 * the idle slot, checks the signature with the municipality's public release key and every file's
 * hash, marks the update as pending, points `current` at the new slot and exits: systemd starts
 * the new version through launch.sh. The new version, once connected and configured, confirms the
 * update; if it never does, launch.sh goes back to the old slot after three starts.
 */
export interface UpdaterOptions {
  /** /opt/kantine-reader */
  base: string;
  /** /var/lib/kantine-reader */
  state: string;
  /** The public release key (PEM file). */
  publicKeyFile: string;
  /** The gateway's HTTPS address, e.g. https://gateway.skole.local:8080 */
  gatewayHttp: string;
  /** The site CA (PEM file, from enrolment): the only CA trusted for the gateway's HTTPS. */
  caFile?: string | undefined;
  /** The version running now. */
  version: string;
  log: Logger;
  /** Called once the new slot is in place: stop cleanly and exit (systemd restarts). */
  restart: () => void;
}

export type UpdateOutcome = 'up_to_date' | 'failed_before' | 'installed';

export class Updater {
  private busy = false;

  constructor(private readonly o: UpdaterOptions) {}

  /** Why this reader cannot update itself, or undefined when it can. */
  static unavailable(o: Pick<UpdaterOptions, 'base' | 'publicKeyFile'>): string | undefined {
    if (!existsSync(join(o.base, 'current'))) return `${o.base}/current does not exist (not installed by install.sh)`;
    if (!existsSync(o.publicKeyFile)) return `no release key at ${o.publicKeyFile}`;
    return undefined;
  }

  private get pendingDir(): string {
    return join(this.o.state, 'update');
  }

  /** The update this version was started for, if it still waits for its health check. */
  get pending(): string | undefined {
    const to = join(this.pendingDir, 'version');
    return existsSync(to) ? readFileSync(to, 'utf8').trim() : undefined;
  }

  /**
   * An update cut off before it switched slots (the Pi lost power while downloading) leaves a
   * pending mark while the old slot still runs: forget it, or launch.sh would count the old
   * version's starts against the new one.
   */
  clearStale(): void {
    const from = join(this.pendingDir, 'from');
    if (existsSync(from) && readFileSync(from, 'utf8').trim() === readlinkSync(join(this.o.base, 'current'))) {
      rmSync(this.pendingDir, { recursive: true, force: true });
    }
  }

  /** The new version is connected and configured: the update stays. */
  confirm(): void {
    const version = this.pending;
    if (version !== this.o.version) return;
    rmSync(this.pendingDir, { recursive: true, force: true });
    this.o.log.info({ version }, 'update confirmed: this release stays');
  }

  private failedBefore(version: string): boolean {
    const file = join(this.o.state, 'failed-versions');
    return existsSync(file) && readFileSync(file, 'utf8').split('\n').includes(version);
  }

  /** Acts on the gateway's config: installs its release if it is another one. */
  async apply(config: ReaderConfig): Promise<UpdateOutcome> {
    const target = config.release;
    if (!target || target.version === this.o.version) return 'up_to_date';
    if (this.failedBefore(target.version)) return 'failed_before';
    if (this.busy) return 'up_to_date';
    this.busy = true;
    try {
      await this.install(target.version, target.path);
      return 'installed';
    } finally {
      this.busy = false;
    }
  }

  private async install(version: string, path: string): Promise<void> {
    const { base, log } = this.o;
    const currentSlot = readlinkSync(join(base, 'current')); // slots/a
    const idle = currentSlot.endsWith('/a') || currentSlot === 'slots/a' ? 'slots/b' : 'slots/a';
    const target = join(base, idle);
    const staging = `${target}.download`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    log.info({ version, slot: idle }, 'downloading a new release');
    const url = (file: string) => new URL(`${path}${file}`, this.o.gatewayHttp);
    const get = siteFetch(this.o.caFile ? readFileSync(this.o.caFile, 'utf8') : undefined);
    const fetchBytes = async (file: string): Promise<Buffer> => {
      const res = await get(url(file), { signal: AbortSignal.timeout(60_000) });
      if (!res.ok) throw new KantineError('not_found', `the gateway has no ${path}${file} (${res.status})`);
      return Buffer.from(await res.arrayBuffer());
    };
    const publicPem = readFileSync(this.o.publicKeyFile, 'utf8');
    const manifestBytes = await fetchBytes('manifest.json');
    const signature = (await fetchBytes('manifest.sig')).toString('utf8');
    // Check the signature before fetching anything the manifest names.
    const manifest = verifyManifest(manifestBytes, signature, publicPem);
    if (manifest.version !== version) {
      throw new KantineError(
        'release_tampered',
        `the gateway's ${path} holds release ${manifest.version}, not ${version}`,
      );
    }
    const running = JSON.parse(readFileSync(join(base, 'current', 'manifest.json'), 'utf8')) as { native?: unknown };
    if (JSON.stringify(running.native ?? {}) !== JSON.stringify(manifest.native)) {
      throw new KantineError(
        'invalid_request',
        `release ${version} needs other native modules (${JSON.stringify(manifest.native)}): install it with install.sh`,
      );
    }
    writeFileSync(join(staging, 'manifest.json'), manifestBytes);
    writeFileSync(join(staging, 'manifest.sig'), signature);
    for (const file of Object.keys(manifest.files)) {
      const dest = join(staging, file);
      mkdirSync(dirname(dest), { recursive: true });
      writeFileSync(dest, await fetchBytes(file));
    }
    // Everything as signed, nothing more (the native modules are copied in after this check).
    verifyRelease(staging, publicPem);
    const modules = join(base, 'current', 'app', 'node_modules');
    if (existsSync(modules)) cpSync(modules, join(staging, 'app', 'node_modules'), { recursive: true });
    rmSync(target, { recursive: true, force: true });
    renameSync(staging, target);

    // Pending until the new version says it is healthy; launch.sh rolls back otherwise.
    rmSync(this.pendingDir, { recursive: true, force: true });
    mkdirSync(this.pendingDir, { recursive: true });
    writeFileSync(join(this.pendingDir, 'from'), currentSlot);
    writeFileSync(join(this.pendingDir, 'version'), version);
    writeFileSync(join(this.pendingDir, 'to'), idle);
    const next = join(base, 'current.new');
    rmSync(next, { force: true });
    symlinkSync(idle, next);
    renameSync(next, join(base, 'current'));
    log.info({ from: this.o.version, to: version, slot: idle }, 'new release installed: restarting into it');
    this.o.restart();
  }
}
