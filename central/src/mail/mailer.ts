import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { KantineError } from '@kantine/protocol';
import nodemailer, { type Transporter } from 'nodemailer';
import type { MailConfig } from '../config.ts';

/** One mail ready to go: the recipient and what `renderMail` made. */
export interface Outgoing {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** What sending did: the relay took it, or there is no relay (the mail is logged, not sent). */
export type SendResult = { sent: true; message_id: string } | { sent: false; reason: 'not_configured' };

/** Something that sends mails: central's SMTP `Mailer`, or a test's stand-in. */
export interface MailSender {
  send(mail: Outgoing): Promise<SendResult>;
  close(): void;
}

/** A relay's answer that will not change on a retry (5xx), as opposed to a passing trouble. */
export function isPermanent(err: unknown): boolean {
  const code = (err as { responseCode?: number }).responseCode;
  return typeof code === 'number' && code >= 500 && code < 600;
}

/**
 * What of a sending error may be kept and logged: nodemailer's error code and the relay's reply
 * code, never the message (a relay may quote the recipient or the content back).
 */
export function errorSummary(err: unknown): string {
  const e = err as { code?: unknown; responseCode?: unknown };
  const code = typeof e.code === 'string' && /^[A-Z_0-9]{1,40}$/.test(e.code) ? e.code : 'ERROR';
  return typeof e.responseCode === 'number' ? `${code} ${e.responseCode}` : code;
}

/**
 * Sends mail through the SMTP relay in the config's `mail` section (nodemailer). Without one,
 * `send` answers `not_configured` and nothing leaves. Time limits are short: the outbox retries.
 */
export class Mailer implements MailSender {
  private readonly transport: Transporter | undefined;
  readonly configured: boolean;

  constructor(
    private readonly config: MailConfig | undefined,
    baseDir = process.cwd(),
  ) {
    this.configured = config !== undefined;
    if (!config) return;
    const url = new URL(config.smtp_url);
    const secure = url.protocol === 'smtps:';
    const user = url.username ? decodeURIComponent(url.username) : undefined;
    let pass = url.password ? decodeURIComponent(url.password) : undefined;
    if (config.password_file) pass = readSecret(resolve(baseDir, config.password_file), 'mail.password_file');
    const ca = config.ca_file ? readSecret(resolve(baseDir, config.ca_file), 'mail.ca_file') : undefined;
    this.transport = nodemailer.createTransport({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port ? Number(url.port) : secure ? 465 : 587,
      secure,
      requireTLS: !secure && config.starttls === 'required',
      auth: user ? { user, pass } : undefined,
      tls: { minVersion: 'TLSv1.2', ...(ca ? { ca } : {}) },
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
      // nodemailer logs nothing of its own (its logger could print addresses and content).
      logger: false,
      debug: false,
    });
  }

  async send(mail: Outgoing): Promise<SendResult> {
    if (!this.transport || !this.config) return { sent: false, reason: 'not_configured' };
    const info = await this.transport.sendMail({
      from: this.config.from,
      ...(this.config.reply_to ? { replyTo: this.config.reply_to } : {}),
      to: mail.to,
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
      headers: { 'Auto-Submitted': 'auto-generated', 'Content-Language': 'da, en' },
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    return { sent: true, message_id: String(info.messageId ?? '') };
  }

  close(): void {
    this.transport?.close();
  }
}

function readSecret(file: string, field: string): string {
  let value: string;
  try {
    value = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new KantineError('config_invalid', `cannot read ${field} ${file}: ${(err as Error).message}`, [
      `/${field.replace('.', '/')} cannot be read`,
    ]);
  }
  if (!value)
    throw new KantineError('config_invalid', `${field} ${file} is empty`, [`/${field.replace('.', '/')} is empty`]);
  return value;
}
