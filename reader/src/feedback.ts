import type { Decision } from '@kantine/protocol';
import { codes } from '@kantine/protocol';

/** What the child sees and hears after a tap. */
export interface Feedback {
  decision(decision: Decision): void;
  /** The gateway did not answer in time; nothing was charged. */
  noAnswer(): void;
  /** The gateway refused our message (a bug or a misconfigured reader). */
  error(code: string): void;
  /** The card left before it was read whole: nothing was sent; tap again. */
  readFailed(): void;
}

const kr = (ore: number) => `${(ore / 100).toFixed(2).replace('.', ',')} kr`;

/** Danish first, English beside it: one line per event, for the console of a simulated reader. */
export function describeDecision(d: Decision): string {
  switch (d.outcome) {
    case 'approved':
      return `GODKENDT / APPROVED  ${d.first_name ?? ''}  -${kr(d.amount_ore ?? 0)}  saldo ${kr(d.balance_ore ?? 0)}`;
    case 'balance':
      return `SALDO / BALANCE  ${d.first_name ?? ''}  ${kr(d.balance_ore ?? 0)}`;
    case 'declined': {
      const info = d.code ? codes[d.code] : undefined;
      return `AFVIST / DECLINED  ${info ? `${info.da} / ${info.en}` : ''}`;
    }
  }
}

export class ConsoleFeedback implements Feedback {
  constructor(private readonly write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)) {}

  decision(decision: Decision): void {
    this.write(`  [læser] ${describeDecision(decision)}`);
  }

  noAnswer(): void {
    this.write('  [læser] INTET SVAR / NO ANSWER  (intet er trukket / nothing charged)');
  }

  error(code: string): void {
    this.write(`  [læser] FEJL / ERROR  ${code}`);
  }

  readFailed(): void {
    this.write('  [læser] PRØV IGEN / TRY AGAIN  (kortet blev fjernet for tidligt / card removed too soon)');
  }
}

/**
 * The escape channel of an ACR122U: pseudo-APDUs sent through the open card connection
 * (`FF 00 40 …`, ACR122U API §6.2). Kept as an interface so patterns are testable without one.
 */
export interface EscapeChannel {
  transmit(apdu: Buffer): Promise<Buffer>;
}

/** LED/buzzer pattern: final LED state, blink, T1/T2 in 100 ms units, repetitions, buzzer link. */
interface Pattern {
  control: number;
  t1: number;
  t2: number;
  repeat: number;
  buzzer: number;
}

// Green blink with a short beep; red double blink with two beeps; red+green (orange) slow blink.
export const acr122uPatterns: Record<'approved' | 'declined' | 'error', Pattern> = {
  approved: { control: 0b1010_1010, t1: 2, t2: 1, repeat: 1, buzzer: 0x01 },
  declined: { control: 0b0101_0101, t1: 2, t2: 2, repeat: 2, buzzer: 0x03 },
  error: { control: 0b1111_1111, t1: 3, t2: 3, repeat: 3, buzzer: 0x00 },
};

export function acr122uApdu(p: Pattern): Buffer {
  return Buffer.from([0xff, 0x00, 0x40, p.control, 0x04, p.t1, p.t2, p.repeat, p.buzzer]);
}

export class Acr122uFeedback implements Feedback {
  constructor(
    private readonly channel: () => EscapeChannel | undefined,
    private readonly onError: (err: Error) => void,
  ) {}

  private play(name: keyof typeof acr122uPatterns): void {
    const ch = this.channel();
    if (!ch) return;
    ch.transmit(acr122uApdu(acr122uPatterns[name])).catch(this.onError);
  }

  decision(decision: Decision): void {
    this.play(decision.outcome === 'declined' ? 'declined' : 'approved');
  }

  noAnswer(): void {
    this.play('error');
  }

  error(_code: string): void {
    this.play('error');
  }

  readFailed(): void {
    this.play('error');
  }
}
