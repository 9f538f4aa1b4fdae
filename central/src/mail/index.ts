export { domainOf, formatKroner, looksLikeCpr } from './format.ts';
export { errorSummary, isPermanent, Mailer, type MailSender, type Outgoing, type SendResult } from './mailer.ts';
export { MailOutbox, type OutboxOptions, type Queued, queueMail, type RefusedReason } from './outbox.ts';
export { guardianAddresses, mailAddressOf } from './recipients.ts';
export { type AutoTopupFailure, MAIL_TYPES, type Mail, type MailType, type Rendered, renderMail } from './templates.ts';
