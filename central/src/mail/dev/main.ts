import { Command } from 'commander';
import pino from 'pino';
import { startMailCatcher } from './catcher.ts';

/** `kantine-mailcatcher`: the dev SMTP catcher as its own process (the demo, tests). */
const program = new Command('kantine-mailcatcher')
  .description('A development SMTP server that keeps mails in memory and shows them; never for production')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--smtp-port <port>', 'SMTP port (0: a free one)', '2525')
  .option('--http-port <port>', "the caught mails' page (0: a free one)", '8025')
  .parse();
const o = program.opts<{ host: string; smtpPort: string; httpPort: string }>();
const log = pino({ name: 'mailcatcher', level: process.env.LOG_LEVEL ?? 'info' });
const catcher = await startMailCatcher({ host: o.host, smtpPort: Number(o.smtpPort), httpPort: Number(o.httpPort) });
log.info(
  { smtp_port: catcher.smtpPort, http_port: catcher.httpPort, page: `http://${o.host}:${catcher.httpPort}/` },
  'ready',
);
const stop = () => {
  catcher.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
