import { codes, KantineError } from '@kantine/protocol';
import { Presets, SingleBar } from 'cli-progress';

type Stream = NodeJS.WritableStream & { isTTY?: boolean };

/**
 * How the tool talks: to a person (Danish, English beside it, a progress bar with an ETA on a
 * terminal) or, with --json, to a script (one JSON result on stdout; progress as JSON lines on
 * stderr). Errors always go to stderr, coded, with what to do.
 */
export class Output {
  constructor(
    readonly json: boolean,
    private readonly out: Stream = process.stdout,
    private readonly err: Stream = process.stderr,
  ) {}

  /** A line for the person at the keyboard (an event line for scripts). */
  say(da: string, en: string, event?: Record<string, unknown>): void {
    if (this.json) {
      if (event) this.err.write(`${JSON.stringify(event)}\n`);
    } else this.err.write(`${da}  (${en})\n`);
  }

  /** The command's result: JSON on stdout, or text for a person. */
  result(data: unknown, human: string): void {
    this.out.write(this.json ? `${JSON.stringify(data)}\n` : `${human}\n`);
  }

  error(err: KantineError): void {
    const info = codes[err.code] as { action_da?: string; action_en?: string };
    if (this.json) {
      this.err.write(
        `${JSON.stringify({ error: { ...err.toJSON(), action_da: info.action_da, action_en: info.action_en } })}\n`,
      );
      return;
    }
    const lines = [`kantine: ${codes[err.code].da} — ${err.message} [${err.code}]`];
    for (const d of err.details.slice(0, 200)) lines.push(`  ${d}`);
    if (err.details.length > 200) lines.push(`  … and ${err.details.length - 200} more`);
    if (info.action_da) lines.push(`Gør sådan: ${info.action_da}`);
    if (info.action_en) lines.push(`What to do: ${info.action_en}`);
    this.err.write(`${lines.join('\n')}\n`);
  }

  progress(total: number, done: number): Progress {
    return new Progress(this, this.err, total, done);
  }
}

/** Progress of a long job: a bar with an ETA on a terminal, lines with an ETA otherwise. */
export class Progress {
  private readonly bar: SingleBar | undefined;
  private readonly started = Date.now();
  private readonly startDone: number;

  constructor(
    private readonly output: Output,
    err: Stream,
    private readonly total: number,
    done: number,
  ) {
    this.startDone = done;
    if (!output.json && err.isTTY) {
      this.bar = new SingleBar(
        { format: ' {bar} {value}/{total} | ETA {eta_formatted} | {note}', stream: err, hideCursor: true },
        Presets.shades_classic,
      );
      this.bar.start(total, done, { note: '' });
    }
  }

  /** Estimated seconds left, from this run's pace; undefined before the first step. */
  eta(done: number): number | undefined {
    const steps = done - this.startDone;
    if (steps <= 0) return undefined;
    return Math.round((((Date.now() - this.started) / steps) * (this.total - done)) / 1000);
  }

  /** A note about the current step (the bar shows it; without a bar it is a line). */
  note(da: string, en: string, event: Record<string, unknown>): void {
    if (this.bar) this.bar.update({ note: da });
    else this.output.say(da, en, event);
  }

  step(done: number, da: string, en: string, event: Record<string, unknown>): void {
    const eta = this.eta(done);
    if (this.bar) {
      this.bar.update(done, { note: da });
      return;
    }
    const left = eta === undefined ? '' : ` — ${formatEta(eta)}`;
    this.output.say(`[${done}/${this.total}] ${da}${left}`, en, { ...event, done, total: this.total, eta_s: eta });
  }

  stop(): void {
    this.bar?.stop();
  }
}

function formatEta(s: number): string {
  return s >= 60 ? `ca. ${Math.floor(s / 60)} min ${s % 60} s tilbage` : `ca. ${s} s tilbage`;
}

/** Anything thrown that is not a coded error becomes `internal_error` with its message. */
export function asKantineError(err: unknown): KantineError {
  if (err instanceof KantineError) return err;
  return new KantineError('internal_error', (err as Error)?.message ?? String(err));
}
