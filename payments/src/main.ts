/**
 * kantine-fake-psp --webhook-url http://127.0.0.1:8090/payments/webhook
 *
 * Runs the fake payment provider until SIGINT/SIGTERM and prints `url <base url>` on stdout once it
 * answers. The API key and the webhook secret come from the environment (argv is visible in `ps`):
 * KANTINE_FAKE_PSP_API_KEY and KANTINE_FAKE_PSP_WEBHOOK_SECRET. Loopback only; no real money.
 */
import { KantineError } from '@kantine/protocol';
import { Command } from 'commander';
import { startFakePsp } from './fake/server.ts';

const program = new Command('kantine-fake-psp')
  .description(
    "kantine's fake payment provider: a hosted card page with test cards, signed webhooks, card-on-file " +
      'agreements and faults on demand. Plain HTTP on loopback only; everything is kept in memory.',
  )
  .option('--host <address>', 'a loopback address to listen on (127.0.0.1, ::1, localhost)', '127.0.0.1')
  .option('--port <port>', 'the port (0: a free one)', '0')
  .option('--webhook-url <url>', "where webhooks go (central's webhook route)")
  .configureOutput({
    outputError: (message, write) => write(`kantine-fake-psp: invalid_request: ${message.replace(/^error: /, '')}`),
  })
  .action(async () => {
    const o = program.opts<{ host: string; port: string; webhookUrl?: string }>();
    if (!/^[0-9]{1,5}$/.test(o.port) || Number(o.port) > 65535) {
      throw new KantineError('config_invalid', `--port ${o.port} is not a port (0 to 65535)`);
    }
    const api_key = process.env.KANTINE_FAKE_PSP_API_KEY;
    const webhook_secret = process.env.KANTINE_FAKE_PSP_WEBHOOK_SECRET;
    if (!api_key || !webhook_secret) {
      throw new KantineError(
        'config_invalid',
        'KANTINE_FAKE_PSP_API_KEY and KANTINE_FAKE_PSP_WEBHOOK_SECRET are needed',
      );
    }
    if (o.webhookUrl !== undefined && !/^https?:\/\//.test(o.webhookUrl)) {
      throw new KantineError('config_invalid', '--webhook-url must be an http(s) URL');
    }
    const psp = await startFakePsp({
      host: o.host,
      port: Number(o.port),
      api_key,
      webhook_secret,
      ...(o.webhookUrl ? { webhook_url: o.webhookUrl } : {}),
    });
    process.stdout.write(`url ${psp.url}\n`);
    const stop = () => {
      void psp.stop().finally(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

program.parseAsync().catch((err: unknown) => {
  const code = err instanceof KantineError ? err.code : 'internal_error';
  process.stderr.write(`kantine-fake-psp: ${code}: ${(err as Error).message}\n`);
  process.exit(2);
});
