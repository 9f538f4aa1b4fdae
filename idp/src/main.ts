#!/usr/bin/env -S node --import=tsx
/**
 * kantine-dev-idp --client-id central --client-secret … --redirect-uri http://127.0.0.1:8090/login/callback
 *
 * Runs the development identity provider until SIGINT/SIGTERM and prints `issuer <url>` on stdout
 * once it answers. The client secret may come from KANTINE_DEV_IDP_CLIENT_SECRET instead of argv
 * (argv is visible in `ps`). Never for production: it signs in anyone as any demo person.
 */
import { readFileSync } from 'node:fs';
import { KantineError } from '@kantine/protocol';
import { Command, Option } from 'commander';
import { type DevIdpClient, startDevIdp } from './provider.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

const program = new Command('kantine-dev-idp')
  .description(
    "kantine's development OpenID Connect provider: a sign-in page listing the demo people (not MitID). " +
      'Plain HTTP on loopback only; keys are made at start and kept in memory.',
  )
  .option('--host <address>', 'a loopback address to listen on (127.0.0.1, ::1, localhost)', '127.0.0.1')
  .option('--port <port>', 'the port (0: a free one)', '0')
  .option('--client-id <id>', "the relying party's client_id")
  .addOption(
    new Option('--client-secret <secret>', "the relying party's client_secret (16 characters or more)").env(
      'KANTINE_DEV_IDP_CLIENT_SECRET',
    ),
  )
  .option('--redirect-uri <uri>', 'a registered redirect_uri (repeat for more)', collect, [])
  .option('--post-logout-redirect-uri <uri>', 'a registered post_logout_redirect_uri (repeat for more)', collect, [])
  .option(
    '--clients-file <file>',
    'more relying parties: a JSON array of {client_id, client_secret, redirect_uris, post_logout_redirect_uris}',
  )
  .configureOutput({
    outputError: (message, write) => write(`kantine-dev-idp: invalid_request: ${message.replace(/^error: /, '')}`),
  })
  .action(async () => {
    const o = program.opts<{
      host: string;
      port: string;
      clientId?: string;
      clientSecret?: string;
      clientsFile?: string;
      redirectUri: string[];
      postLogoutRedirectUri: string[];
    }>();
    if (!/^[0-9]{1,5}$/.test(o.port) || Number(o.port) > 65535) {
      throw new KantineError('config_invalid', `--port ${o.port} is not a port (0 to 65535)`);
    }
    const clients = o.clientsFile ? readClients(o.clientsFile) : [];
    if (o.clientId !== undefined) {
      if (!o.clientSecret) {
        throw new KantineError('config_invalid', '--client-secret (or KANTINE_DEV_IDP_CLIENT_SECRET) is needed');
      }
      clients.push({
        client_id: o.clientId,
        client_secret: o.clientSecret,
        redirect_uris: o.redirectUri,
        post_logout_redirect_uris: o.postLogoutRedirectUri,
      });
    }
    if (clients.length === 0) throw new KantineError('config_invalid', '--client-id or --clients-file is needed');
    const idp = await startDevIdp({ host: o.host, port: Number(o.port), clients });
    process.stdout.write(`issuer ${idp.issuer}\n`);
    const stop = () => {
      void idp.stop().finally(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

function readClients(file: string): DevIdpClient[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new KantineError('config_invalid', `--clients-file ${file}: ${(err as Error).message}`);
  }
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (
    !Array.isArray(parsed) ||
    !parsed.every(
      (c: Record<string, unknown>) =>
        typeof c === 'object' &&
        c !== null &&
        typeof c.client_id === 'string' &&
        typeof c.client_secret === 'string' &&
        strings(c.redirect_uris) &&
        strings(c.post_logout_redirect_uris ?? []),
    )
  ) {
    throw new KantineError(
      'config_invalid',
      `--clients-file ${file}: not an array of {client_id, client_secret, redirect_uris, post_logout_redirect_uris}`,
    );
  }
  return (parsed as DevIdpClient[]).map((c) => ({
    ...c,
    post_logout_redirect_uris: c.post_logout_redirect_uris ?? [],
  }));
}

program.parseAsync().catch((err: unknown) => {
  if (err instanceof KantineError) {
    process.stderr.write(`kantine-dev-idp: ${err.code}: ${err.message}\n`);
  } else {
    process.stderr.write(`kantine-dev-idp: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
});
