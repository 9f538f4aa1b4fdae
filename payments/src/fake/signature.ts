import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header that carries the fake provider's webhook signature: `sha256=<hex>`. */
export const SIGNATURE_HEADER = 'kantine-psp-signature';

/** HMAC-SHA256 of the raw body with the shared secret, as the header carries it. */
export function sign(secret: string, rawBody: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

/** Constant-time comparison of two strings (false on different lengths, without leaking where). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
