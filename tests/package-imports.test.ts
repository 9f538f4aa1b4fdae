/**
 * The package import rules (docs/architecture.md), read from every workspace's package.json and
 * from every import in its source files: static imports and re-exports, `import()` (also in type
 * positions) and `require()`, as TypeScript's own pre-processor finds them (comments and strings
 * are not imports).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCOPE = '@kantine/';
const SOURCE_EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs']);

/** Which kantine packages a package must not import (by short name, the part after @kantine/). */
function forbidden(pkg: string, all: readonly string[]): Set<string> {
  const not = new Set<string>();
  // The demo and the tests sit on top of everything; only the tests and the benchmarks use them.
  if (pkg !== 'tests' && pkg !== 'bench') not.add('demo').add('tests');
  switch (pkg) {
    case 'gateway':
      not.add('central').add('reader');
      break;
    case 'reader':
      not.add('gateway').add('central');
      break;
    case 'protocol':
      for (const other of all) not.add(other); // the contract depends on nothing of ours
      break;
    case 'card':
      // The card knows no site.
      not.add('gateway').add('central').add('reader').add('provisioning');
      break;
  }
  not.delete(pkg);
  return not;
}

interface Workspace {
  /** The short name, e.g. `gateway` for @kantine/gateway. */
  pkg: string;
  /** Its folder, relative to the repository root, e.g. `gateway`. */
  dir: string;
}

function workspaces(): Workspace[] {
  const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
  return root.workspaces.map((dir) => {
    const { name } = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as { name: string };
    if (!name.startsWith(SCOPE)) throw new Error(`${dir}/package.json: ${name} is not an ${SCOPE} package`);
    return { pkg: name.slice(SCOPE.length), dir };
  });
}

/** Every source file of a workspace: src and the rest (scripts, bin, node-red's nodes, the tests). */
function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  const walk = (abs: string) => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
      const path = join(abs, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (SOURCE_EXTENSIONS.has(extname(entry.name))) files.push(path);
    }
  };
  walk(join(ROOT, dir));
  return files.sort();
}

const lineAt = (text: string, pos: number) => text.slice(0, pos).split('\n').length;

/** `@kantine/reader/release` → `reader`; anything else → undefined. */
function kantinePackage(specifier: string): string | undefined {
  return specifier.startsWith(SCOPE) ? specifier.slice(SCOPE.length).split('/')[0] : undefined;
}

test('no package imports one it must not, by name or by a relative path into its folder', (t) => {
  const all = workspaces();
  const names = all.map((w) => w.pkg);
  const violations: string[] = [];
  /** What each package was seen to import, so an empty scan cannot pass for a clean one. */
  const seen = new Map<string, Set<string>>();

  for (const { pkg, dir } of all) {
    const not = forbidden(pkg, names);
    const imported = new Set<string>();
    seen.set(pkg, imported);

    const manifest = `${dir}/package.json`;
    const text = readFileSync(join(ROOT, manifest), 'utf8');
    const json = JSON.parse(text) as Record<string, Record<string, string> | undefined>;
    for (const field of ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies']) {
      for (const dep of Object.keys(json[field] ?? {})) {
        const target = kantinePackage(dep);
        if (target && not.has(target)) {
          violations.push(`${manifest}:${lineAt(text, text.indexOf(`"${dep}"`))}: ${pkg} depends on ${dep} (${field})`);
        }
      }
    }

    const home = join(ROOT, dir) + sep;
    for (const file of sourceFiles(dir)) {
      const source = readFileSync(file, 'utf8');
      const where = (pos: number) => `${relative(ROOT, file)}:${lineAt(source, pos)}`;
      for (const { fileName: specifier, pos } of ts.preProcessFile(source, true, true).importedFiles) {
        const target = kantinePackage(specifier);
        if (target) {
          imported.add(target);
          if (not.has(target)) violations.push(`${where(pos)}: ${pkg} imports ${specifier}`);
        } else if (specifier.startsWith('.')) {
          const resolved = resolve(dirname(file), specifier);
          if (!resolved.startsWith(home)) {
            const into = all.find((w) => resolved.startsWith(join(ROOT, w.dir) + sep));
            violations.push(
              `${where(pos)}: ${pkg} reaches ${into ? `into ${into.pkg}'s files` : 'outside its folder'} by a relative path (${specifier})`,
            );
          }
        }
      }
    }
  }

  t.true(seen.get('gateway')?.has('protocol'), 'the scan finds the gateway importing @kantine/protocol');
  t.true(seen.get('tests')?.has('gateway'), 'the scan finds the tests importing @kantine/gateway');
  t.deepEqual(violations, [], 'package import rules broken');
});
