import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db, Sql } from '../db/db.ts';
import type { Clock } from '../db/tx.ts';
import { domainOf, looksLikeCpr } from './format.ts';
import { errorSummary, isPermanent, type MailSender } from './mailer.ts';
import { type Mail, renderMail } from './templates.ts';

/** Why a mail was queued but will never be sent (kept on its row, logged by the worker). */
export type RefusedReason = 'bad_address' | 'cpr_in_content' | 'render_failed';

export interface Queued {
  id: string;
  /** `queued`: it will be sent; `refused`: kept and logged, never sent; `duplicate`: its key was queued before. */
  state: 'queued' | 'refused' | 'duplicate';
  reason?: RefusedReason;
}

// An address as the relay will take it: one @, no spaces, brackets, quotes or line breaks.
const ADDRESS =
  /^[^\s@<>"'(),;:\\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/**
 * Queues a mail in the caller's transaction (`sql` is the transaction's): it is sent after the
 * commit by an outbox worker, and vanishes with a rollback. It never throws for the mail's sake —
 * a bad address, a template that cannot render or content that looks like a CPR number make a
 * `refused` row (logged by the worker, never sent), so a mail cannot fail a money transaction.
 * With a `key`, a second mail of the same type with the same key is not queued (a receipt per
 * payment: the intent's id; one low-balance alert per account a day: `<account>:<date>`).
 */
export async function queueMail(
  sql: Sql,
  now: Date,
  to: string,
  mail: Mail,
  opts: { key?: string } = {},
): Promise<Queued> {
  const id = randomUUID();
  let reason: RefusedReason | undefined;
  let content: { subject: string; text: string; html: string } | undefined;
  if (to.length > 254 || !ADDRESS.test(to)) reason = 'bad_address';
  else if (looksLikeCpr(to)) reason = 'cpr_in_content';
  else {
    try {
      content = renderMail(mail);
      if (looksLikeCpr(`${content.subject}\n${content.text}\n${content.html}`)) {
        content = undefined;
        reason = 'cpr_in_content';
      }
    } catch {
      reason = 'render_failed';
    }
  }
  const rows = await sql.query<{ id: string }>(
    `INSERT INTO mail_outbox (id, type, to_address, to_domain, subject, text_body, html_body, dedupe_key,
                              refused, next_attempt_at, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
     ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
    [
      id,
      mail.type,
      reason ? null : to,
      reason === 'bad_address' ? 'invalid' : looksLikeCpr(domainOf(to)) ? 'refused' : domainOf(to).slice(0, 253),
      content?.subject ?? null,
      content?.text ?? null,
      content?.html ?? null,
      opts.key === undefined ? null : `${mail.type}:${opts.key}`,
      reason ?? null,
      now,
    ],
  );
  if (rows.length === 0) return { id, state: 'duplicate' };
  return reason ? { id, state: 'refused', reason } : { id, state: 'queued' };
}

export interface OutboxOptions {
  /** How often an idle worker looks for due mail. */
  poll_ms?: number;
  /** Mails claimed at a time. */
  batch?: number;
  /** A claim lasts this long; a worker that died mid-send leaves its mails to others after it. */
  lease_ms?: number;
  /** The first retry's wait; it doubles each time up to `backoff_max_ms`. */
  backoff_ms?: number;
  backoff_max_ms?: number;
  /** Tries before a mail is given up (`failed`). */
  max_attempts?: number;
}

interface Claimed {
  id: string;
  type: string;
  to_address: string | null;
  to_domain: string;
  subject: string | null;
  text_body: string | null;
  html_body: string | null;
  refused: string | null;
  attempts: number;
}

/**
 * Sends what `queueMail` queued. Any number of workers (one per central worker) share one table:
 * each claims due rows with `FOR UPDATE SKIP LOCKED` and a lease, so a mail goes out once unless
 * a worker dies between the relay's "250 OK" and marking the row (then, after the lease, again:
 * exactly-once-ish). A relay that is down is retried with doubling waits; a relay's 5xx is final.
 * A handled row keeps no recipient and no content, only its type, domain and state.
 * Logs say the type, the recipient's domain and the outcome — never the address or the content.
 */
export class MailOutbox {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private readonly worker = randomUUID().slice(0, 8);
  private readonly o: Required<OutboxOptions>;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly sender: MailSender,
    private readonly log: Logger,
    opts: OutboxOptions = {},
  ) {
    this.o = {
      poll_ms: opts.poll_ms ?? 2_000,
      batch: opts.batch ?? 10,
      // Longer than a batch of sends at their worst (10 × 50 s of nodemailer's time limits).
      lease_ms: opts.lease_ms ?? 15 * 60_000,
      backoff_ms: opts.backoff_ms ?? 30_000,
      backoff_max_ms: opts.backoff_max_ms ?? 60 * 60_000,
      max_attempts: opts.max_attempts ?? 20,
    };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops looking for mail and waits for a round under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Look now (after a mail was queued, to save the poll's wait). */
  poke(): void {
    if (!this.stopped && !this.running) this.schedule(0);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.round()
        .then((n) => {
          this.running = undefined;
          if (!this.stopped) this.schedule(n === this.o.batch ? 0 : this.o.poll_ms);
        })
        .catch((err: Error) => {
          this.running = undefined;
          this.log.error({ err: err.message }, 'mail outbox: a round failed');
          if (!this.stopped) this.schedule(this.o.poll_ms);
        });
    }, ms);
    this.timer.unref();
  }

  /** One round: claim due mails and send them. Returns how many were claimed. */
  async round(): Promise<number> {
    const now = this.clock.now();
    const claim = `${this.worker}-${randomUUID()}`;
    const rows = await this.db.query<Claimed>(
      `UPDATE mail_outbox SET claimed_until = $2, claim_id = $3, attempts = attempts + 1
       WHERE id IN (
         SELECT id FROM mail_outbox
         WHERE state = 'queued' AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1)
         ORDER BY next_attempt_at, created_at LIMIT $4
         FOR UPDATE SKIP LOCKED)
       RETURNING id, type, to_address, to_domain, subject, text_body, html_body, refused, attempts`,
      [now, new Date(now.getTime() + this.o.lease_ms), claim, this.o.batch],
    );
    for (const row of rows) await this.handle(row, claim);
    return rows.length;
  }

  private async handle(row: Claimed, claim: string): Promise<void> {
    const what = { mail_id: row.id, type: row.type, to_domain: row.to_domain };
    if (row.refused || !row.to_address || row.subject === null || row.text_body === null || row.html_body === null) {
      await this.finish(row.id, claim, 'refused', row.refused ?? 'incomplete');
      this.log.warn({ ...what, reason: row.refused ?? 'incomplete' }, 'mail not sent: refused when queued');
      return;
    }
    try {
      const result = await this.sender.send({
        to: row.to_address,
        subject: row.subject,
        text: row.text_body,
        html: row.html_body,
      });
      if (!result.sent) {
        await this.finish(row.id, claim, 'not_sent', 'not_configured');
        this.log.info(what, 'mail not sent: no mail configured');
        return;
      }
      const marked = await this.finish(row.id, claim, 'sent', null);
      this.log.info({ ...what, attempts: row.attempts, ...(marked ? {} : { late: true }) }, 'mail sent');
    } catch (err) {
      const error = errorSummary(err);
      if (isPermanent(err) || row.attempts >= this.o.max_attempts) {
        await this.finish(row.id, claim, 'failed', error);
        this.log.error({ ...what, attempts: row.attempts, error }, 'mail given up');
        return;
      }
      const wait = Math.min(this.o.backoff_ms * 2 ** (row.attempts - 1), this.o.backoff_max_ms);
      await this.db.query(
        `UPDATE mail_outbox SET claimed_until = NULL, claim_id = NULL, next_attempt_at = $3, last_error = $4
         WHERE id = $1 AND claim_id = $2 AND state = 'queued'`,
        [row.id, claim, new Date(this.clock.now().getTime() + wait), error],
      );
      this.log.warn({ ...what, attempts: row.attempts, error, retry_in_ms: wait }, 'mail not sent yet: will retry');
    }
  }

  /** Marks a row done and forgets its recipient and content. False if another worker's claim replaced ours. */
  private async finish(id: string, claim: string, state: string, error: string | null): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE mail_outbox SET state = $3, last_error = $4, done_at = $5, claimed_until = NULL,
              to_address = NULL, subject = NULL, text_body = NULL, html_body = NULL
       WHERE id = $1 AND claim_id = $2 AND state = 'queued' RETURNING 1`,
      [id, claim, state, error, this.clock.now()],
    );
    return rows.length > 0;
  }
}
