/**
 * Status words of the NTAG 424 DNA (datasheet §8.4 and §10.2). Native commands (CLA 90) answer
 * 91 xx; ISO/IEC 7816-4 commands answer 90 00 or an ISO error.
 */
export const NATIVE_STATUS = {
  OPERATION_OK: 0x00,
  ILLEGAL_COMMAND_CODE: 0x1c,
  INTEGRITY_ERROR: 0x1e,
  NO_SUCH_KEY: 0x40,
  LENGTH_ERROR: 0x7e,
  PERMISSION_DENIED: 0x9d,
  PARAMETER_ERROR: 0x9e,
  AUTHENTICATION_ERROR: 0xae,
  ADDITIONAL_FRAME: 0xaf,
  BOUNDARY_ERROR: 0xbe,
  COMMAND_ABORTED: 0xca,
  FILE_NOT_FOUND: 0xf0,
} as const;

export const ISO_STATUS = {
  OK: 0x9000,
  WRONG_LENGTH: 0x6700,
  SECURITY_STATUS_NOT_SATISFIED: 0x6982,
  FILE_NOT_FOUND: 0x6a82,
  WRONG_P1P2: 0x6a86,
  INS_NOT_SUPPORTED: 0x6d00,
  CLA_NOT_SUPPORTED: 0x6e00,
} as const;

export function statusName(sw: number): string {
  if (sw >> 8 === 0x91) {
    const name = Object.entries(NATIVE_STATUS).find(([, v]) => v === (sw & 0xff))?.[0];
    return name ?? `91${(sw & 0xff).toString(16).padStart(2, '0').toUpperCase()}`;
  }
  return Object.entries(ISO_STATUS).find(([, v]) => v === sw)?.[0] ?? sw.toString(16).padStart(4, '0').toUpperCase();
}

/** A card answered with an error status (or not at all as it should). */
export class CardError extends Error {
  override readonly name = 'CardError';
  constructor(
    readonly sw: number,
    message?: string,
  ) {
    super(message ?? `card answered ${statusName(sw)} (${sw.toString(16).padStart(4, '0').toUpperCase()})`);
  }
  get status(): string {
    return statusName(this.sw);
  }
}
