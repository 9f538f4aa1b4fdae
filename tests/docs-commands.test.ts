/**
 * Every `kantine…` command the docs tell someone to run exists and answers `--help`.
 *
 * Read: README.md, docs/**\/*.md and every workspace's README.md. A command is a `kantine` or
 * `kantine-<word>` word that starts a command line: a line of a shell code block (a fence with no
 * language or sh/bash/shell/console), or an inline code span with something after the name.
 * Before the name may come `$ `, `sudo` (and its options), `npx`, `env` and `VAR=value`; a line
 * is split at ` | `, `&&`, `||` and `;`, so `echo 4321 | kantine-gateway staff add …` counts. A
 * bare name in inline code (`kantine-reader`, the unit) and names inside other words
 * (`journalctl -u kantine-gateway`, `kantine-gateway.json`, `kantine/{site}/…`) are not commands.
 * After the name, the bare words (no `-`, `<`, quotes, `…`) are the subcommand path and its
 * arguments; `a|b|c` is each of them.
 *
 * Each command is run from its package's `bin` (package.json), from a directory outside the
 * repository, as `<bin> --help`; then down the path, one word at a time while the help lists it
 * as a command: `<bin> staff --help`, `<bin> staff add --help`. A word where the help lists
 * commands but not that one fails (an unknown subcommand); where it lists none, the rest are
 * arguments. The test's log lists every command it found and where.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SHELL_FENCES = new Set(['', 'sh', 'bash', 'shell', 'console', 'zsh']);
const NAME = /^kantine(-[a-z0-9]+)*$/;
const BARE = /^[A-Za-z0-9][\w.-]*$/;

interface Found {
  name: string;
  /** the bare words after the name: subcommands, then arguments */
  words: string[];
  where: string;
}

function markdownFiles(): string[] {
  const files = [join(root, 'README.md')];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (entry.endsWith('.md')) files.push(path);
    }
  };
  walk(join(root, 'docs'));
  const workspaces = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] })
    .workspaces;
  for (const ws of workspaces) {
    try {
      statSync(join(root, ws, 'README.md'));
      files.push(join(root, ws, 'README.md'));
    } catch {
      // a workspace without a README
    }
  }
  return files;
}

/** The command in one shell segment, if it starts with one. */
function commandIn(segment: string, inline: boolean): Omit<Found, 'where'> | undefined {
  const tokens = segment.trim().split(/\s+/).filter(Boolean);
  let i = 0;
  if (tokens[i] === '$' || tokens[i] === '#') i++;
  for (;;) {
    const t = tokens[i];
    if (t === undefined) return undefined;
    if (t === 'sudo') {
      i++;
      // sudo's own options, and the value of those that take one (-u kantine)
      while (tokens[i]?.startsWith('-')) i += /^-[ugCDhpRrT]$/.test(tokens[i] as string) ? 2 : 1;
    } else if (t === 'npx' || t === 'env' || /^[A-Z_][A-Z0-9_]*=/.test(t)) i++;
    else break;
  }
  const name = tokens[i] as string;
  if (!NAME.test(name)) return undefined;
  const rest = tokens.slice(i + 1);
  if (inline && rest.length === 0) return undefined; // a name, not a command line
  const words: string[] = [];
  for (const t of rest) {
    if (!BARE.test(t) && !/^[a-z][a-z-]*(\|[a-z][a-z-]*)+$/.test(t)) break;
    words.push(t);
  }
  return { name, words };
}

function segments(line: string): string[] {
  return line.split(/\s+\|\s+|\s*&&\s*|\s*\|\|\s*|\s*;\s+/);
}

function findCommands(file: string): Found[] {
  const found: Found[] = [];
  const lines = readFileSync(file, 'utf8').split('\n');
  const rel = relative(root, file);
  let fence: { marker: string; shell: boolean } | undefined;
  let prose: { text: string; line: number }[] = [];
  lines.forEach((line, n) => {
    const open = /^\s*(`{3,}|~{3,})\s*([\w-]*)/.exec(line);
    if (fence) {
      if (open?.[1]?.startsWith(fence.marker) && !open[2]) fence = undefined;
      else if (fence.shell) {
        const code = line.replace(/(^|\s)#.*$/, '');
        for (const s of segments(code)) {
          const c = commandIn(s, false);
          if (c) found.push({ ...c, where: `${rel}:${n + 1}` });
        }
      }
      return;
    }
    if (open) {
      fence = { marker: open[1] as string, shell: SHELL_FENCES.has((open[2] ?? '').toLowerCase()) };
      return;
    }
    prose.push({ text: line, line: n + 1 });
  });
  // inline code spans may run over a line break within a paragraph
  const paragraphs: { text: string; line: number }[] = [];
  for (const p of prose) {
    const last = paragraphs.at(-1);
    if (last && p.text.trim() && last.text.trim() && last.line + last.text.split('\n').length === p.line) {
      last.text += `\n${p.text}`;
    } else paragraphs.push({ ...p });
  }
  prose = paragraphs;
  for (const p of prose) {
    for (const m of p.text.matchAll(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g)) {
      const span = (m[2] as string).replace(/\s+/g, ' ');
      const line = p.line + p.text.slice(0, m.index).split('\n').length - 1;
      for (const s of segments(span)) {
        const c = commandIn(s, true);
        if (c) found.push({ ...c, where: `${rel}:${line}` });
      }
    }
  }
  return found;
}

/** command name → its script, from every workspace's package.json `bin`. */
function bins(): Map<string, string> {
  const map = new Map<string, string>();
  const workspaces = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] })
    .workspaces;
  for (const ws of workspaces) {
    const pkg = JSON.parse(readFileSync(join(root, ws, 'package.json'), 'utf8')) as {
      bin?: Record<string, string>;
    };
    for (const [name, path] of Object.entries(pkg.bin ?? {})) map.set(name, join(root, ws, path));
  }
  return map;
}

interface Run {
  code: number | null;
  out: string;
}

function run(script: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    // outside the repository, as IT runs it: the bin must find tsx by itself
    const child = spawn(process.execPath, [script, ...args], { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** The subcommands a commander help lists (not `help` itself). */
function subcommands(help: string): string[] {
  const section = /^Commands:\n((?: {2}.*\n?)*)/m.exec(help)?.[1] ?? '';
  return [...section.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1] as string).filter((c) => c !== 'help');
}

test('every kantine command the docs name exists and answers --help', async (t) => {
  t.timeout(600_000);
  const line = (f: Found) => Number(f.where.split(':')[1]);
  const found = markdownFiles().flatMap((file) => findCommands(file).sort((a, b) => line(a) - line(b)));
  t.log(`${found.length} command lines in the docs:`);
  for (const f of found) t.log(`  ${f.where}: ${[f.name, ...f.words].join(' ')}`);
  t.true(found.length > 10, 'the extraction finds the documented commands');

  const scripts = bins();
  const helps = new Map<string, Promise<Run>>();
  const help = (name: string, path: string[]) => {
    const key = [name, ...path].join(' ');
    let h = helps.get(key);
    if (!h) {
      h = run(scripts.get(name) as string, [...path, '--help']);
      helps.set(key, h);
    }
    return h;
  };
  const failures: string[] = [];

  // one walk per distinct command line; each level's --help runs once, two at a time
  const lines = new Map<string, Found>();
  for (const f of found) {
    for (const words of expand(f.words)) lines.set([f.name, ...words].join(' '), { ...f, words });
  }
  const queue = [...lines.values()];
  const walk = async (f: Found) => {
    if (!scripts.has(f.name)) {
      failures.push(`${f.where}: ${f.name}: no package has it as a bin`);
      return;
    }
    const path: string[] = [];
    for (;;) {
      const h = await help(f.name, path);
      const shown = [f.name, ...path].join(' ');
      if (h.code !== 0 || !/Usage: /.test(h.out)) {
        failures.push(`${f.where}: \`${shown} --help\` exited ${h.code}: ${h.out.trim().slice(0, 300)}`);
        return;
      }
      const next = f.words[path.length];
      const commands = subcommands(h.out);
      if (next === undefined || commands.length === 0) return; // the rest are arguments
      if (!commands.includes(next)) {
        failures.push(`${f.where}: ${shown} has no command ${next} (it has ${commands.join(', ')})`);
        return;
      }
      path.push(next);
    }
  };
  await Promise.all(
    [0, 1].map(async () => {
      for (let f = queue.shift(); f; f = queue.shift()) await walk(f);
    }),
  );
  t.log(`ran --help on: ${[...helps.keys()].join('; ')}`);
  t.deepEqual(failures, []);
});

/** `reader enrol|list|revoke` → reader enrol, reader list, reader revoke */
function expand(words: string[]): string[][] {
  const i = words.findIndex((w) => w.includes('|'));
  if (i < 0) return [words];
  return (words[i] as string).split('|').flatMap((alt) => expand([...words.slice(0, i), alt, ...words.slice(i + 1)]));
}
