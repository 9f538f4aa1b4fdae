/**
 * Card numbers, printed on the back of each card: the issuer's four digits, then eight characters
 * from Crockford's base 32 (digits and capitals without I, L, O and U, so nothing reads as
 * something else), the last a check character. A guardian types the eight after the digits to
 * tie the child's card to their login (central) or a blank card to the child's account; a typing
 * slip is caught by the check character. Provisioning makes the numbers, central checks them.
 */
export const CARD_NUMBER_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** The check character of the seven characters before it. */
export function cardNumberCheck(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) sum += (i + 1) * CARD_NUMBER_ALPHABET.indexOf(body[i] as string);
  return CARD_NUMBER_ALPHABET[sum % 31] as string;
}

const CODE = '[0-9A-HJKMNP-TV-Z]{4}';

/** True when the eight characters after the prefix carry a correct check character. */
export function validCardNumber(number: string): boolean {
  const m = new RegExp(`^[0-9]{4}-(${CODE})-(${CODE})$`).exec(number);
  if (!m) return false;
  const code = `${m[1]}${m[2]}`;
  return cardNumberCheck(code.slice(0, 7)) === code[7];
}

/**
 * The eight characters a person typed (without the issuer's digits), as printed: `ABCD-EFGH`, or
 * undefined when it is not eight characters of the alphabet with a correct check character.
 * Lower case is read as upper case, a dash or spaces are optional, and the letters Crockford's
 * alphabet leaves out read as the digits they look like (O → 0, I and L → 1).
 */
export function typedCardNumber(typed: string): string | undefined {
  if (typed.length > 20) return undefined;
  const code = typed.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  if (!new RegExp(`^${CODE}${CODE}$`).test(code)) return undefined;
  if (cardNumberCheck(code.slice(0, 7)) !== code[7]) return undefined;
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}
