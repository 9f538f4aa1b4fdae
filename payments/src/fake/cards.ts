/**
 * The fake provider's test cards. The number alone decides the outcome; the expiry the buyer types
 * matters too (a month already past is an expired card, whatever the number).
 */
import type { DeclineReason } from '../adapter.ts';

export type TestCardOutcome = 'approved' | 'challenge' | DeclineReason;

export interface TestCard {
  number: string;
  outcome: TestCardOutcome;
  da: string;
  en: string;
}

export const testCards: readonly TestCard[] = [
  { number: '4571000000000001', outcome: 'approved', da: 'Godkendes', en: 'Approved' },
  {
    number: '4000000000003220',
    outcome: 'challenge',
    da: '3-D Secure: godkend på næste side',
    en: '3-D Secure challenge',
  },
  { number: '4000000000000002', outcome: 'payment_declined', da: 'Afvises', en: 'Declined' },
  { number: '4000000000000069', outcome: 'payment_card_expired', da: 'Udløbet kort', en: 'Expired card' },
  { number: '4000000000009995', outcome: 'payment_insufficient_funds', da: 'Ikke penge nok', en: 'Insufficient funds' },
];

/** Any other well-formed number is declined, as a real acquirer declines a card it does not know. */
export function outcomeOf(number: string): TestCardOutcome {
  return testCards.find((c) => c.number === number)?.outcome ?? 'payment_declined';
}

/** `MM/YY` (or `MMYY`) → `YYYY-MM`; undefined when it is not a month. */
export function parseExpiry(text: string): string | undefined {
  const m = /^\s*(\d{2})\s*\/?\s*(\d{2})\s*$/.exec(text);
  if (!m) return undefined;
  const month = Number(m[1]);
  if (month < 1 || month > 12) return undefined;
  return `20${m[2]}-${m[1]}`;
}

/** Whether a card valid through `expiry` (YYYY-MM) no longer works on `now`. */
export function isExpired(expiry: string, now: Date): boolean {
  const current = `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
  return expiry < current;
}
