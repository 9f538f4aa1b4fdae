import { type Decided, decideTap as decide, type Ledger } from '@kantine/gateway';
import type { Tap } from '@kantine/protocol';

/**
 * Decides one tap as a site not linked to central does (it never asks central for shares). Call
 * inside `ledger.transaction()`, as the processor does.
 */
export function decideTap(ledger: Ledger, tap: Tap, tillId: string): Decided {
  const result = decide(ledger, tap, tillId, { mayAsk: false });
  if (result.kind !== 'decided') throw new Error('a tap that may not ask came back asking'); // decideTap's contract
  return result.decided;
}
