import { randomInt } from 'node:crypto';
import { CARD_NUMBER_ALPHABET, cardNumberCheck, KantineError, validCardNumber } from '@kantine/protocol';

/**
 * Card numbers, printed on the back of each card (the format and its check character are in
 * protocol/src/card-number.ts, shared with central, which checks what a guardian types).
 *
 * The seven random characters are drawn from a CSPRNG: a number says nothing about its card and
 * cannot be guessed from its neighbours in a batch.
 */
export const ALPHABET = CARD_NUMBER_ALPHABET;
export { validCardNumber };

export function newCardNumber(issuer: string): string {
  if (!/^[0-9]{4}$/.test(issuer)) throw new KantineError('invalid_request', 'the issuer prefix is four digits');
  let body = '';
  for (let i = 0; i < 7; i++) body += ALPHABET[randomInt(32)];
  const code = body + cardNumberCheck(body);
  return `${issuer}-${code.slice(0, 4)}-${code.slice(4)}`;
}
