/**
 * Central's API against an attacker on the same machine or network (issue 16, findings 1 and
 * 17): a real central process on Postgres, its tokens made with `kantine-central token add`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CentralService, parseCentralConfig, type Route, registerApi } from '@kantine/central';
import test from 'ava';
import Fastify from 'fastify';
import pino from 'pino';
import { attackedCentral } from '../helpers/attacked-central.ts';
import { startCentral, type TestCentral } from '../helpers/central.ts';
import { killHard, repoRoot, spawnCentral } from '../helpers/process.ts';

const SITE = { name: 'Angrebet Skole', place_kinds: ['school'] };

// One central process at a time: each starts a worker and runs the CLI; many at once on a busy CI
// machine can pass the start-up bound.
test.serial(
  'an encoded path /%61pi/ does not walk around the token; nor does any other spelling of /api/',
  async (t) => {
    const central = await attackedCentral(t);
    const admin = await central.token('admin');
    for (const path of [
      '/%61pi/sites/ond',
      '/%2561pi/sites/ond',
      '/api%2Fsites/ond',
      '//api/sites/ond',
      '/api//sites/ond',
      '/./api/sites/ond',
      '/API/sites/ond',
      '/api/sites/%6Fnd',
      '/api/sites/ond?x=/healthz',
      '/healthz/../api/sites/ond',
    ]) {
      const res = await central.call('PUT', path, undefined, SITE);
      t.is(res.status, 401, `${path}: ${JSON.stringify(res.body)}`);
      t.is(res.body.code, 'bad_credentials', path);
      const secret = await central.call('POST', path.replace(/ond$/, 'ond/secret'));
      t.is(secret.status, 401, `${path}/secret`);
    }
    t.deepEqual((await central.call('GET', '/api/sites', admin)).body, { sites: [] }, 'no site was made');
    // The same encoded path with a token is the same route, with the same rules.
    t.is((await central.call('PUT', '/%61pi/sites/ond', admin, SITE)).status, 204);
    const it = await central.token('finance');
    t.is((await central.call('POST', '/%61pi/sites/ond/secret', it)).status, 403);
  },
);

test.serial(
  'on loopback no token is no entry: none, a wrong one, a made-up one and a revoked one are refused',
  async (t) => {
    const central = await attackedCentral(t);
    const finance = await central.token('finance', 'økonomi');
    const admin = await central.token('admin');
    t.is((await central.call('PUT', '/api/accounts/acc-1', admin, { first_name: 'Ida', sites: [] })).status, 204);
    const deposit = { amount_ore: 100_000_000 };
    for (const token of [
      undefined,
      '',
      'x',
      finance.slice(0, -1),
      // One character changed (to one it is not: a random token may already end in A).
      `${finance.slice(0, -1)}${finance.endsWith('A') ? 'B' : 'A'}`,
      finance.replace(/^kc_[0-9a-f]{16}/, 'kc_0000000000000000'),
    ]) {
      const res = await central.call('POST', '/api/accounts/acc-1/deposits', token, deposit);
      t.is(res.status, 401, String(token));
      t.is(res.body.code, 'bad_credentials');
    }
    t.is((await central.call('POST', '/api/accounts/acc-1/deposits', finance, { amount_ore: 100 })).status, 201);

    // Revoked with the command, beside the running central: refused from the next request.
    const id = /^kc_([0-9a-f]{16})_/.exec(finance)?.[1] as string;
    const cli = (...args: string[]) =>
      spawnSync(
        process.execPath,
        [join(repoRoot, 'central/bin/kantine-central.mjs'), ...args, '--config', central.config],
        {
          encoding: 'utf8',
        },
      );
    const listed = cli('token', 'list');
    t.is(listed.status, 0, listed.stderr);
    t.regex(listed.stdout, new RegExp(`^${id}\\tfinance\\tøkonomi\\tcreated \\S+\\tlast used 20\\S+\\tactive$`, 'm'));
    t.notRegex(listed.stdout, /kc_/, 'a listing never shows a token');
    t.is(cli('token', 'revoke', id).status, 0);
    t.regex(cli('token', 'list').stdout, new RegExp(`^${id}\\t.*\\trevoked \\S+$`, 'm'));
    t.is((await central.call('POST', '/api/accounts/acc-1/deposits', finance, deposit)).status, 401);
    t.is((await central.call('GET', '/api/accounts/acc-1', admin)).body.balance_ore, 100, 'only the one deposit');
    t.regex(cli('token', 'revoke', 'ffffffffffffffff').stderr, /not_found/);
  },
);

test.serial(
  'a token may do only what its scope allows: finance cannot link a site, IT cannot book money, monitoring changes nothing',
  async (t) => {
    const central = await attackedCentral(t);
    const [admin, it, finance, monitoring] = [
      await central.token('admin'),
      await central.token('it'),
      await central.token('finance'),
      await central.token('monitoring'),
    ];
    t.is((await central.call('PUT', '/api/sites/skole', it, SITE)).status, 204);
    t.is(
      (await central.call('PUT', '/api/accounts/acc-1', admin, { first_name: 'Ida', sites: ['skole'] })).status,
      204,
    );
    const denied: [string, string, string, unknown?][] = [
      [finance, 'POST', '/api/sites/skole/secret'],
      [finance, 'PUT', '/api/sites/skole', SITE],
      [finance, 'POST', '/api/cards/04A1B2C3D4E5F6/unblock'],
      [finance, 'GET', '/api/accounts/acc-1'],
      [finance, 'GET', '/api/audit'],
      [it, 'POST', '/api/accounts/acc-1/deposits', { amount_ore: 100_000_000 }],
      [it, 'POST', '/api/accounts/acc-1/withdrawals', { amount_ore: 1 }],
      [it, 'PUT', '/api/accounts/acc-1', { first_name: 'Ida', sites: ['skole'] }],
      [it, 'PUT', '/api/accounts/acc-1/guardian-cprs', { cprs: [] }],
      [it, 'GET', '/api/audit'],
      [monitoring, 'PUT', '/api/sites/skole', SITE],
      [monitoring, 'POST', '/api/sites/skole/secret'],
      [monitoring, 'GET', '/api/accounts/acc-1/entries'],
    ];
    for (const [token, method, path, body] of denied) {
      const res = await central.call(method, path, token, body);
      t.is(res.status, 403, `${method} ${path}`);
      t.is(res.body.code, 'scope_denied');
    }
    t.is((await central.call('GET', '/api/accounts/acc-1', admin)).body.balance_ore, 0);
    // What each may do
    t.is((await central.call('GET', '/api/sites', monitoring)).status, 200);
    t.is((await central.call('POST', '/api/accounts/acc-1/deposits', finance, { amount_ore: 500 })).status, 201);
    t.is((await central.call('GET', '/api/accounts/acc-1/entries', finance)).body.entries.length, 1);
    // and an admin everything
    t.is((await central.call('POST', '/api/sites/skole/secret', admin)).status, 200);
    const audit = (await central.call('GET', '/api/audit', admin)).body.entries as { action: string; status: number }[];
    t.true(
      audit.some((e) => e.action === 'POST /api/sites/:site/secret' && e.status === 403),
      'a refused scope is in the audit log',
    );
  },
);

test.serial(
  'every change is in the audit log: who (token id, name, scope), what, which, when, request id, source',
  async (t) => {
    const central = await attackedCentral(t);
    const admin = await central.token('admin', 'it-anne');
    const finance = await central.token('finance', 'økonomi');
    await central.call('PUT', '/api/sites/skole', admin, SITE);
    await central.call('PUT', '/api/accounts/acc-1', admin, {
      first_name: 'Ida',
      cpr: '010115-1234',
      sites: ['skole'],
    });
    const before = Date.now();
    const dep = await central.call('POST', '/api/accounts/acc-1/deposits', finance, { amount_ore: 2_500 });
    t.is(dep.status, 201);
    const requestId = dep.headers.get('x-request-id');
    t.truthy(requestId);
    const res = await central.call('GET', '/api/audit', admin);
    t.is(res.status, 200);
    const entries = res.body.entries as Record<string, unknown>[];
    // The tokens' making is in it too, as the operator's doing (the command's local user).
    t.deepEqual(
      entries.slice(0, 2).map((e) => `${e.scope} ${e.action} ${(e.target as { scope: string }).scope} ${e.source}`),
      ['operator token add admin cli', 'operator token add finance cli'],
    );
    t.deepEqual(
      entries.slice(2).map((e) => `${e.scope} ${e.token_name} ${e.action} ${JSON.stringify(e.target)} ${e.status}`),
      [
        'admin it-anne PUT /api/sites/:site {"site":"skole"} 204',
        'admin it-anne PUT /api/accounts/:account {"account":"acc-1"} 204',
        'finance økonomi POST /api/accounts/:account/deposits {"account":"acc-1"} 201',
      ],
    );
    const last = entries.at(-1) as Record<string, unknown>;
    t.is(last.token_id, /^kc_([0-9a-f]{16})_/.exec(finance)?.[1]);
    t.is(last.request_id, requestId);
    t.is(last.source, '127.0.0.1');
    t.true(new Date(last.at as string).getTime() >= before - 1000);
    t.notRegex(JSON.stringify(entries), /010115|1234/, 'no CPR number in the audit log');
    // Reads are not changes; the log is read, not written, by GET.
    t.is((await central.call('GET', '/api/audit', admin)).body.entries.length, 5);
  },
);

test.serial('a forged X-Forwarded-For is not believed; a proxy IT trusts gives the browser’s address', async (t) => {
  const forge = async (central: TestCentral) => {
    const res = await fetch(`${central.http}/api/sites/skole`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${central.token}`,
        'content-type': 'application/json',
        'x-forwarded-for': '203.0.113.9',
      },
      body: JSON.stringify(SITE),
    });
    t.is(res.status, 204);
    const { entries } = (await central.api('GET', '/api/audit')).body as { entries: { source: string }[] };
    return entries.at(-1)?.source;
  };
  t.is(await forge(await startCentral(t)), '127.0.0.1', 'the header of anyone is no address');
  t.is(await forge(await startCentral(t, { http: { trust_proxy: ['127.0.0.1'] } })), '203.0.113.9');
});

test.serial(
  "nothing on central is open but the health checks, the sign-in and the portal's public pages (the route matrix lists them), and /healthz tells nothing sensitive",
  async (t) => {
    const central = await attackedCentral(t);
    const health = await central.call('GET', '/healthz');
    t.is(health.status, 200);
    t.deepEqual(Object.keys(health.body).sort(), ['link_messages', 'ok']);
    // (The portal's sign-in page at / and its accessibility statement are public pages: portal-pages.test.ts.)
    for (const path of ['/metrics', '/api/sites', '/api/audit', '/api/nothing-here', '/healthz/x']) {
      const res = await central.call('GET', path);
      t.is(res.status, 401, path);
    }
    // With a token, an unknown route is simply not there.
    t.is((await central.call('GET', '/api/nothing-here', await central.token('monitoring'))).status, 404);
  },
);

test.serial('a route without an access declaration stops central from starting', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  const undeclared = { method: 'GET', url: '/api/secret', handler: async () => ({}) } as unknown as Route;
  t.throws(
    () =>
      registerApi(app, {
        central: {} as CentralService['central'],
        log: pino({ level: 'silent' }),
        linkMessages: () => 0,
        routes: [undeclared],
      }),
    { message: /declares no access/ },
  );
});

test.serial('a config with the old shared http.token is refused with a coded error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-attack-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'central.json');
  const http = { host: '127.0.0.1', port: 0, token: 'a-shared-token-everyone-knows-0123' };
  writeFileSync(config, JSON.stringify({ database: { dir: join(dir, 'db') }, http }));
  const err = await t.throwsAsync(spawnCentral(config));
  t.regex(err?.message ?? '', /api_token_in_config/);
  t.regex(err?.message ?? '', /kantine-central token add/);
  t.throws(() => parseCentralConfig({ http }), { code: 'api_token_in_config' } as never);
});

test.serial('the embedded database is not opened by a second process while central runs on it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-attack-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'central.json');
  writeFileSync(
    config,
    JSON.stringify({
      database: { dir: join(dir, 'db') },
      mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
    }),
  );
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [join(repoRoot, 'central/bin/kantine-central.mjs'), ...args, '--config', config], {
      encoding: 'utf8',
    });
  t.is(cli('token', 'add', '--scope', 'it', '--name', 'it').status, 0, 'while central is stopped');
  const child = await spawnCentral(config);
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const busy = cli('token', 'list');
  t.is(busy.status, 1);
  t.regex(busy.stderr, /database_in_use/);
  // Stopped (even by kill -9), the database is free again, and the audit log has the token's making.
  await killHard(child);
  const audit = cli('audit', '--json');
  t.is(audit.status, 0, audit.stderr);
  t.like(JSON.parse(audit.stdout.trim().split('\n')[0] as string), {
    scope: 'operator',
    action: 'token add',
    target: { scope: 'it' },
    source: 'cli',
  });
});
