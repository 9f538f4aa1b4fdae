import { KantineError } from '@kantine/protocol';
import type { Store } from '../db/tx.ts';

/** A person's own contact details for receipts and alerts, and the language of their mail. */
export interface Contact {
  /** The e-mail the person chose for receipts and alerts, or null (then the sign-in's, if any). */
  email: string | null;
  /** The e-mail the identity provider gave at the last sign-in (shown, never edited here). */
  sign_in_email: string | null;
  /** A Danish mobile number, `+45` and eight digits, or null. */
  mobile: string | null;
  lang: 'da' | 'en';
}

/**
 * "Profil": the e-mail and mobile a person wants receipts and alerts at (issue 18). The sign-in's
 * e-mail is rewritten at every sign-in from the provider's claim; the chosen one is the person's
 * own and wins wherever central mails them (`mailAddressOf`, central/src/mail/recipients.ts).
 */
export class ContactService {
  constructor(private readonly store: Store) {}

  async get(personId: string): Promise<Contact> {
    const [p] = await this.store.db.query<{
      email: string | null;
      contact_email: string | null;
      contact_mobile: string | null;
      lang: 'da' | 'en' | null;
    }>('SELECT email, contact_email, contact_mobile, lang FROM people WHERE id = $1', [personId]);
    if (!p) throw new KantineError('not_found', `no person ${personId}`);
    return { email: p.contact_email, sign_in_email: p.email, mobile: p.contact_mobile, lang: p.lang ?? 'da' };
  }

  async set(personId: string, c: { email: string | null; mobile: string | null; lang: 'da' | 'en' }): Promise<void> {
    const rows = await this.store.db.query(
      'UPDATE people SET contact_email = $2, contact_mobile = $3, lang = $4 WHERE id = $1 RETURNING 1',
      [personId, c.email, c.mobile, c.lang],
    );
    if (rows.length === 0) throw new KantineError('not_found', `no person ${personId}`);
  }
}
