import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { escapeHtml } from '../format.ts';
import { type ParsedMail, parseMail } from './mime.ts';

/** One mail the catcher took. */
export interface CaughtMail extends ParsedMail {
  n: number;
  received_at: string;
  /** The SMTP envelope (what the relay would deliver to). */
  envelope: { from: string; to: string[] };
  raw: string;
}

export interface MailCatcher {
  readonly smtpPort: number;
  readonly httpPort: number;
  /** The mails caught, oldest first. */
  mails(): readonly CaughtMail[];
  clear(): void;
  /** Resolves once at least `count` mails are caught (bounded by `timeout_ms`). */
  waitFor(count: number, timeout_ms?: number): Promise<readonly CaughtMail[]>;
  close(): Promise<void>;
}

export interface MailCatcherOptions {
  host?: string;
  /** 0 (the default): a free port. */
  smtpPort?: number;
  /** The page and JSON of the caught mails; 0: a free port, `false`: none. */
  httpPort?: number | false;
  /** Mails kept (the oldest go first). */
  keep?: number;
  /** Recipients the catcher refuses with 550 (a mailbox that does not exist), for tests. */
  refuse?: (address: string) => boolean;
}

const MAX_SIZE = 2 * 1024 * 1024;

/**
 * A development SMTP server that delivers nowhere: it keeps what it is sent in memory and shows
 * it on a small page (`/`) and as JSON (`/mails.json`). For the demo and the tests only — it
 * takes any sender and any login, without TLS, on loopback by default.
 */
export async function startMailCatcher(opts: MailCatcherOptions = {}): Promise<MailCatcher> {
  const host = opts.host ?? '127.0.0.1';
  const keep = opts.keep ?? 500;
  const caught: CaughtMail[] = [];
  let n = 0;
  let waiters: { count: number; resolve: () => void }[] = [];

  const smtp = new SMTPServer({
    name: 'kantine-mailcatcher',
    banner: 'kantine dev mail catcher: nothing is delivered',
    authOptional: true,
    // No DNS: a reverse lookup of 127.0.0.1 can stall the greeting where no resolver answers.
    disableReverseLookup: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    size: MAX_SIZE,
    logger: false,
    onRcptTo(address, _session, cb) {
      if (opts.refuse?.(address.address)) {
        cb(Object.assign(new Error('no such mailbox'), { responseCode: 550 }));
        return;
      }
      cb();
    },
    onAuth(_auth, _session, cb) {
      cb(null, { user: 'dev' });
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (b: Buffer) => chunks.push(b));
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          cb(Object.assign(new Error('message too large'), { responseCode: 552 }));
          return;
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const from = session.envelope.mailFrom;
        caught.push({
          n: ++n,
          received_at: new Date().toISOString(),
          envelope: {
            from: from ? from.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
          },
          raw,
          ...parseMail(raw),
        });
        while (caught.length > keep) caught.shift();
        const ready = waiters.filter((w) => caught.length >= w.count);
        waiters = waiters.filter((w) => caught.length < w.count);
        for (const w of ready) w.resolve();
        cb();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    smtp.once('error', reject);
    smtp.listen(opts.smtpPort ?? 0, host, () => {
      smtp.off('error', reject);
      resolve();
    });
  });
  // A client that vanishes mid-session is no reason to stop.
  smtp.on('error', () => {});
  const smtpPort = (smtp.server.address() as AddressInfo).port;

  let http: Server | undefined;
  if (opts.httpPort !== false) {
    http = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method === 'GET' && path === '/mails.json') {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify(caught.map(({ raw: _raw, ...m }) => m)));
        return;
      }
      const html = /^\/mails\/([0-9]+)\.html$/.exec(path ?? '');
      if (req.method === 'GET' && html) {
        const mail = caught.find((m) => m.n === Number(html[1]));
        if (!mail) {
          res.writeHead(404).end();
          return;
        }
        // The mail's own HTML, sandboxed: no scripts, no requests, no forms.
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': "sandbox; default-src 'none'; style-src 'unsafe-inline'",
        });
        res.end(mail.html);
        return;
      }
      if (req.method === 'GET' && path === '/') {
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
          'cache-control': 'no-store',
        });
        res.end(page(caught));
        return;
      }
      if (req.method === 'DELETE' && path === '/mails') {
        caught.length = 0;
        res.writeHead(204).end();
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => http?.listen(opts.httpPort || 0, host, resolve));
  }
  const httpPort = http ? (http.address() as AddressInfo).port : 0;

  return {
    smtpPort,
    httpPort,
    mails: () => [...caught],
    clear: () => {
      caught.length = 0;
    },
    waitFor(count, timeout_ms = 15_000) {
      if (caught.length >= count) return Promise.resolve([...caught]);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`mail catcher: ${caught.length} of ${count} mails after ${timeout_ms} ms`)),
          timeout_ms,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve([...caught]);
          },
        });
      });
    },
    async close() {
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
      if (http) {
        http.closeAllConnections();
        await new Promise<void>((resolve) => http?.close(() => resolve()));
      }
    },
  };
}

function page(mails: readonly CaughtMail[]): string {
  const items = [...mails]
    .reverse()
    .map(
      (m) => `<article>
<h2>${escapeHtml(m.subject)}</h2>
<p><strong>Til / To:</strong> ${escapeHtml(m.envelope.to.join(', '))} · <strong>Modtaget / Received:</strong> ${escapeHtml(m.received_at)} · <a href="/mails/${m.n}.html">HTML</a></p>
<pre>${escapeHtml(m.text)}</pre>
</article>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="da"><head><meta charset="utf-8"><title>Opfangede mails / Caught mails</title>
<style>body{font-family:Arial,sans-serif;max-width:60em;margin:1em auto;padding:0 1em}article{border-top:1px solid #999;padding:.5em 0}pre{white-space:pre-wrap;background:#f4f4f4;padding:.5em}</style></head>
<body><h1>Opfangede mails <span lang="en">/ Caught mails</span></h1>
<p>Udviklings-mailserver: intet bliver leveret. <span lang="en">Development mail server: nothing is delivered.</span> (${mails.length})</p>
${items || '<p>Ingen mails endnu. <span lang="en">No mails yet.</span></p>'}
</body></html>`;
}
