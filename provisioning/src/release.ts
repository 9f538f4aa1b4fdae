import { createPrivateKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KantineError } from '@kantine/protocol';
import { listFiles, type ReleaseManifest, sha256File } from '@kantine/protocol/release';
import { build } from 'esbuild';

/**
 * Reader releases: the reader daemon bundled into one file (esbuild), its native dependency named
 * in a manifest (built on the Pi by the install script), the systemd unit and the install script;
 * every file's SHA-256 in `manifest.json`, and the manifest signed with Ed25519 (`manifest.sig`).
 * A reader or an IT person verifies a release with the municipality's public release key.
 */

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = join(here, '..', '..');

export const VERSION_PATTERN = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$/;

/** Builds a reader release into `outDir` (which must not exist yet). */
export async function buildReaderRelease(opts: {
  outDir: string;
  version: string;
  now?: Date;
}): Promise<ReleaseManifest> {
  if (!VERSION_PATTERN.test(opts.version)) {
    throw new KantineError('invalid_request', `version "${opts.version}" is not a semantic version like 1.4.0`);
  }
  if (existsSync(opts.outDir))
    throw new KantineError('invalid_request', `${opts.outDir} exists: a release is built into a new folder`);
  const app = join(opts.outDir, 'app');
  mkdirSync(app, { recursive: true });
  const version = (name: string): string =>
    (JSON.parse(readFileSync(join(repo, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  // nfc-pcsc's reader classes, and koffi, through which the reader calls libpcsclite
  const native = { 'nfc-pcsc': version('nfc-pcsc'), koffi: version('koffi') };
  await build({
    entryPoints: [join(repo, 'reader', 'src', 'main.ts')],
    outfile: join(app, 'kantine-reader.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // installed on the Pi by install.sh (npm, prebuilt: nothing compiled); the rest is in the one file
    external: Object.keys(native),
    banner: {
      js: "import { createRequire as kantineCreateRequire } from 'node:module';\nconst require = kantineCreateRequire(import.meta.url);",
    },
    define: { 'process.env.KANTINE_READER_VERSION': JSON.stringify(opts.version) },
    legalComments: 'linked',
    logLevel: 'silent',
  });
  // The entry's `#!… --import=tsx` line would mislead: the bundle is plain JavaScript.
  const bundle = join(app, 'kantine-reader.mjs');
  writeFileSync(bundle, readFileSync(bundle, 'utf8').replace(/^#![^\n]*\n/, ''));
  chmodSync(bundle, 0o644);
  writeFileSync(
    join(app, 'package.json'),
    `${JSON.stringify({ name: 'kantine-reader', version: opts.version, private: true, type: 'module', dependencies: native }, null, 2)}\n`,
  );
  const deploy = join(opts.outDir, 'deploy');
  mkdirSync(deploy);
  for (const name of ['kantine-reader.service', 'launch.sh', 'blacklist-nfc.conf', 'pcscd-kantine-reader.rules']) {
    copyFileSync(join(repo, 'reader', 'deploy', name), join(deploy, name));
  }
  copyFileSync(join(repo, 'reader', 'deploy', 'install.sh'), join(opts.outDir, 'install.sh'));
  chmodSync(join(opts.outDir, 'install.sh'), 0o755);
  const files: Record<string, string> = {};
  for (const path of listFiles(opts.outDir)) files[relative(opts.outDir, path)] = sha256File(path);
  const manifest: ReleaseManifest = {
    kind: 'kantine-reader-release',
    version: opts.version,
    built_at: (opts.now ?? new Date()).toISOString(),
    node: '>=20.19',
    entry: 'app/kantine-reader.mjs',
    native,
    files,
  };
  writeFileSync(join(opts.outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** A new Ed25519 release key pair (PEM). The private key stays with IT; readers get the public one. */
export function newReleaseKeys(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function privateKey(pem: string): KeyObject {
  try {
    const k = createPrivateKey(pem);
    if (k.asymmetricKeyType !== 'ed25519') throw new Error(`a ${k.asymmetricKeyType} key`);
    return k;
  } catch (err) {
    throw new KantineError('config_invalid', `not an Ed25519 private key in PEM: ${(err as Error).message}`);
  }
}

/** Signs a built release: `manifest.sig` holds the Ed25519 signature of manifest.json, base64. */
export function signRelease(dir: string, privatePem: string): void {
  const signature = sign(null, readFileSync(join(dir, 'manifest.json')), privateKey(privatePem));
  writeFileSync(join(dir, 'manifest.sig'), `${signature.toString('base64')}\n`);
}

export { type ReleaseManifest, verifyRelease } from '@kantine/protocol/release';
