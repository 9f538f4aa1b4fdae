import { randomInt } from 'node:crypto';
import { KantineError } from '@kantine/protocol';

/**
 * Card numbers, printed on the back of each card: the issuer's four digits, then eight characters
 * from Crockford's base 32 (digits and capitals without I, L, O and U, so nothing reads as
 * something else), the last a check character. A guardian types the eight after the digits to
 * tie a blank card to the child's account; a typing slip is caught by the check character.
 *
 * The seven random characters are drawn from a CSPRNG: a number says nothing about its card and
 * cannot be guessed from its neighbours in a batch.
 */
export const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function check(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) sum += (i + 1) * ALPHABET.indexOf(body[i] as string);
  return ALPHABET[sum % 31] as string;
}

export function newCardNumber(issuer: string): string {
  if (!/^[0-9]{4}$/.test(issuer)) throw new KantineError('invalid_request', 'the issuer prefix is four digits');
  let body = '';
  for (let i = 0; i < 7; i++) body += ALPHABET[randomInt(32)];
  const code = body + check(body);
  return `${issuer}-${code.slice(0, 4)}-${code.slice(4)}`;
}

/** True when the eight characters after the prefix carry a correct check character. */
export function validCardNumber(number: string): boolean {
  const m = /^[0-9]{4}-([0-9A-HJKMNP-TV-Z]{4})-([0-9A-HJKMNP-TV-Z]{4})$/.exec(number);
  if (!m) return false;
  const code = `${m[1]}${m[2]}`;
  return check(code.slice(0, 7)) === code[7];
}
