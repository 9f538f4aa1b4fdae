import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from './process.ts';

export const KANTINE_CLI = join(repoRoot, 'provisioning', 'bin', 'kantine.mjs');

/** What one run of the `kantine` tool printed and how it ended. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  // biome-ignore lint/suspicious/noExplicitAny: the tool's JSON, read field by field in tests
  json: any;
}

/**
 * The `kantine` tool as IT runs it: a real process. With --json its progress comes as JSON lines
 * on stderr, emitted here as 'event'.
 */
export class CliRun extends EventEmitter {
  readonly child: ChildProcess;
  readonly done: Promise<CliResult>;
  // biome-ignore lint/suspicious/noExplicitAny: see CliResult
  readonly events: any[] = [];

  constructor(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
    super();
    this.child = spawn(process.execPath, [KANTINE_CLI, ...args], {
      cwd: opts.cwd ?? repoRoot,
      env: { ...process.env, KANTINE_CENTRAL: '', KANTINE_CENTRAL_TOKEN: '', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    this.child.stdout?.on('data', (d) => {
      stdout += d;
    });
    const lines = createInterface({ input: this.child.stderr as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      stderr += `${line}\n`;
      if (!line.startsWith('{')) return;
      try {
        const event = JSON.parse(line);
        this.events.push(event);
        this.emit('event', event);
      } catch {
        // not an event line
      }
    });
    this.done = new Promise((resolve) => {
      this.child.once('close', (code) => {
        let json: unknown;
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
        resolve({ code, stdout, stderr, json });
      });
    });
  }
}

/** Runs the tool to its end. */
export function kantine(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new CliRun(args, opts).done;
}
