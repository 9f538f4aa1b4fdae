import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KantineError } from '@kantine/protocol';
import { build } from 'esbuild';

/**
 * Reader releases: the reader daemon bundled into one file (esbuild), its native dependency named
 * in a manifest (built on the Pi by the install script), the systemd unit and the install script;
 * every file's SHA-256 in `manifest.json`, and the manifest signed with Ed25519 (`manifest.sig`).
 * A reader or an IT person verifies a release with the municipality's public release key.
 */

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = join(here, '..', '..');
const require = createRequire(import.meta.url);

export const VERSION_PATTERN = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$/;

export interface ReleaseManifest {
  kind: 'kantine-reader-release';
  version: string;
  built_at: string;
  /** The Node.js versions the bundle runs on. */
  node: string;
  entry: 'app/kantine-reader.mjs';
  /** Native modules installed (and compiled) on the Pi, by name and exact version. */
  native: Record<string, string>;
  /** Every other file of the release, by path, with its SHA-256 (hex). */
  files: Record<string, string>;
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listFiles(path));
    else out.push(path);
  }
  return out.sort();
}

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
  const nfcVersion = (require('nfc-pcsc/package.json') as { version: string }).version;
  await build({
    entryPoints: [join(repo, 'reader', 'src', 'main.ts')],
    outfile: join(app, 'kantine-reader.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // the native part is built on the Pi; everything else is in the one file
    external: ['nfc-pcsc'],
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
    `${JSON.stringify({ name: 'kantine-reader', version: opts.version, private: true, type: 'module', dependencies: { 'nfc-pcsc': nfcVersion } }, null, 2)}\n`,
  );
  const deploy = join(opts.outDir, 'deploy');
  mkdirSync(deploy);
  for (const name of ['kantine-reader.service', 'blacklist-nfc.conf', 'pcscd-kantine-reader.rules']) {
    copyFileSync(join(repo, 'reader', 'deploy', name), join(deploy, name));
  }
  copyFileSync(join(repo, 'reader', 'deploy', 'install.sh'), join(opts.outDir, 'install.sh'));
  chmodSync(join(opts.outDir, 'install.sh'), 0o755);
  const files: Record<string, string> = {};
  for (const path of listFiles(opts.outDir)) files[relative(opts.outDir, path)] = sha256(path);
  const manifest: ReleaseManifest = {
    kind: 'kantine-reader-release',
    version: opts.version,
    built_at: (opts.now ?? new Date()).toISOString(),
    node: '>=20.19',
    entry: 'app/kantine-reader.mjs',
    native: { 'nfc-pcsc': nfcVersion },
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

function key(pem: string, kind: 'private' | 'public'): KeyObject {
  try {
    const k = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
    if (k.asymmetricKeyType !== 'ed25519') throw new Error(`a ${k.asymmetricKeyType} key`);
    return k;
  } catch (err) {
    throw new KantineError('config_invalid', `not an Ed25519 ${kind} key in PEM: ${(err as Error).message}`);
  }
}

/** Signs a built release: `manifest.sig` holds the Ed25519 signature of manifest.json, base64. */
export function signRelease(dir: string, privatePem: string): void {
  const signature = sign(null, readFileSync(join(dir, 'manifest.json')), key(privatePem, 'private'));
  writeFileSync(join(dir, 'manifest.sig'), `${signature.toString('base64')}\n`);
}

/**
 * Checks a release against the public release key: the signature over the manifest, then every
 * file's hash, and that no file was added. Refuses with `release_unsigned` or `release_tampered`.
 */
export function verifyRelease(dir: string, publicPem: string): ReleaseManifest {
  const manifestPath = join(dir, 'manifest.json');
  const sigPath = join(dir, 'manifest.sig');
  if (!existsSync(manifestPath)) throw new KantineError('release_tampered', `${dir} has no manifest.json`);
  if (!existsSync(sigPath)) throw new KantineError('release_unsigned', `${dir} has no manifest.sig`);
  const body = readFileSync(manifestPath);
  const signature = Buffer.from(readFileSync(sigPath, 'utf8').trim(), 'base64');
  if (!verify(null, body, key(publicPem, 'public'), signature)) {
    throw new KantineError('release_tampered', 'the signature does not match manifest.json and this release key');
  }
  const manifest = JSON.parse(body.toString('utf8')) as ReleaseManifest;
  const problems: string[] = [];
  const present = listFiles(dir)
    .map((p) => relative(dir, p))
    .filter((p) => p !== 'manifest.json' && p !== 'manifest.sig');
  for (const [path, hash] of Object.entries(manifest.files)) {
    if (!present.includes(path)) problems.push(`${path} is missing`);
    else if (sha256(join(dir, path)) !== hash) problems.push(`${path} was changed`);
  }
  for (const path of present) if (!(path in manifest.files)) problems.push(`${path} was added`);
  if (problems.length)
    throw new KantineError('release_tampered', `release ${manifest.version} is not as signed`, problems);
  return manifest;
}
