import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { KantineError } from './codes.ts';

/**
 * A reader release as IT builds it (`kantine release build`) and a reader installs it: every
 * file's SHA-256 in `manifest.json`, the manifest signed with the municipality's Ed25519 release
 * key in `manifest.sig` (base64). Checked here, by the reader before it installs an update and by
 * IT and the gateway before they pass one on.
 */
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

export const sha256File = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

export function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listFiles(path));
    else out.push(path);
  }
  return out.sort();
}

export function releasePublicKey(pem: string): KeyObject {
  try {
    const k = createPublicKey(pem);
    if (k.asymmetricKeyType !== 'ed25519') throw new Error(`a ${k.asymmetricKeyType} key`);
    return k;
  } catch (err) {
    throw new KantineError('config_invalid', `not an Ed25519 public key in PEM: ${(err as Error).message}`);
  }
}

/** Checks the signature over a manifest's bytes and returns the manifest. */
export function verifyManifest(manifest: Buffer, signature: string | undefined, publicPem: string): ReleaseManifest {
  if (!signature?.trim()) throw new KantineError('release_unsigned', 'the release has no manifest.sig');
  if (!verify(null, manifest, releasePublicKey(publicPem), Buffer.from(signature.trim(), 'base64'))) {
    throw new KantineError('release_tampered', 'the signature does not match manifest.json and this release key');
  }
  const parsed = JSON.parse(manifest.toString('utf8')) as ReleaseManifest;
  if (parsed.kind !== 'kantine-reader-release' || typeof parsed.files !== 'object') {
    throw new KantineError('release_tampered', 'manifest.json is not a reader release manifest');
  }
  for (const path of Object.keys(parsed.files)) {
    // a signed manifest is ours, but a path that climbs out of the release is refused anyway
    if (path.startsWith('/') || path.split(/[\\/]/).includes('..')) {
      throw new KantineError('release_tampered', `manifest.json names a file outside the release: ${path}`);
    }
  }
  return parsed;
}

/**
 * Checks a release folder against the public release key: the signature over the manifest, then
 * every file's hash, and that no file was added. Refuses with `release_unsigned` or
 * `release_tampered` (naming each file).
 */
export function verifyRelease(dir: string, publicPem: string, ignore: readonly string[] = []): ReleaseManifest {
  const manifestPath = join(dir, 'manifest.json');
  const sigPath = join(dir, 'manifest.sig');
  if (!existsSync(manifestPath)) throw new KantineError('release_tampered', `${dir} has no manifest.json`);
  const manifest = verifyManifest(
    readFileSync(manifestPath),
    existsSync(sigPath) ? readFileSync(sigPath, 'utf8') : undefined,
    publicPem,
  );
  const problems: string[] = [];
  const present = listFiles(dir)
    .map((p) => relative(dir, p))
    .filter((p) => p !== 'manifest.json' && p !== 'manifest.sig' && !ignore.some((i) => p.startsWith(i)));
  for (const [path, hash] of Object.entries(manifest.files)) {
    if (!present.includes(path)) problems.push(`${path} is missing`);
    else if (sha256File(join(dir, path)) !== hash) problems.push(`${path} was changed`);
  }
  for (const path of present) if (!(path in manifest.files)) problems.push(`${path} was added`);
  if (problems.length)
    throw new KantineError('release_tampered', `release ${manifest.version} is not as signed`, problems);
  return manifest;
}
