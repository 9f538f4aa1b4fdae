/**
 * The Node-RED nodes (node-red/) against a real gateway: with node-red-node-test-helper (a
 * Node-RED 4 runtime in this process), and installed into a real Node-RED 4 process from the
 * packed package, running the daily-sales example flow.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { freePort, repoRoot, stopGracefully } from './helpers/process.ts';
import { cards, products, SITE, startSite, type TestSite } from './helpers/site.ts';
import { until } from './helpers/wait.ts';

const require = createRequire(import.meta.url);
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));
const nodes = ['kantine-gateway', 'kantine-tap', 'kantine-sale', 'kantine-reader'].map((n) =>
  require(`../node-red/nodes/${n}.js`),
);

interface RedNode {
  on(event: string, fn: (arg: unknown) => void): void;
}

/** What a helper node received, and the status calls a node made. */
function received(id: string): unknown[] {
  const got: unknown[] = [];
  (helper.getNode(id) as RedNode).on('input', (msg) => got.push(msg));
  return got;
}
function statuses(id: string): string[] {
  const seen: string[] = [];
  (helper.getNode(id) as RedNode).on('call:status', (call) => {
    seen.push(String((call as { args: [{ fill?: string }] }).args[0]?.fill));
  });
  return seen;
}

async function sell(site: TestSite, reader: Awaited<ReturnType<TestSite['reader']>>, card: string) {
  site.ledger.baskets.setBasket('till-1', [{ product_id: products.grovbolle.id, quantity: 2 }]);
  return reader.tap(card);
}

test.before(async () => {
  await helper.startServer();
});
test.after.always(async () => {
  await helper.stopServer();
});
test.afterEach.always(async () => {
  await helper.unload();
});

test.serial('the tap, sale and reader nodes emit the events of a real gateway and show their connection', async (t) => {
  const site = await startSite(t);
  const secret = await site.gateway.addIntegration('node-red', 'Node-RED');
  const gw = { id: 'gw', type: 'kantine-gateway', url: site.url, site: SITE };
  await helper.load(
    nodes,
    [
      gw,
      { id: 'sales', type: 'kantine-sale', gateway: 'gw', till: 'till-1', wires: [['h-sales']] },
      { id: 'declines', type: 'kantine-tap', gateway: 'gw', outcome: 'declined', wires: [['h-declines']] },
      { id: 'readers', type: 'kantine-reader', gateway: 'gw', reader: 'r-1', wires: [['h-readers']] },
      { id: 'h-sales', type: 'helper' },
      { id: 'h-declines', type: 'helper' },
      { id: 'h-readers', type: 'helper' },
    ],
    { gw: { integration: 'node-red', secret } },
  );
  const seen = statuses('sales');
  const sales = received('h-sales');
  const declines = received('h-declines');
  const readers = received('h-readers');
  await until(async () => (seen.includes('green') ? true : undefined), 'the sale node shows "connected"');

  const reader = await site.reader('r-1');
  await site.reader('r-2', 'till-2'); // another reader: the reader node's filter leaves it out
  await sell(site, reader, cards.alma);
  await sell(site, reader, cards.blocked);
  await until(async () => (sales.length === 1 && declines.length === 1 ? true : undefined), 'sale and decline');
  const sale = sales[0] as { topic: string; payload: { amount_ore: number; lines: { name: string }[] } };
  t.is(sale.topic, `kantine/${SITE}/events/sale`);
  t.is(sale.payload.amount_ore, 1000);
  t.deepEqual(
    sale.payload.lines.map((l) => l.name),
    ['Stor Grovbolle'],
  );
  t.like(declines[0], { payload: { outcome: 'declined', code: 'card_blocked', till_id: 'till-1' } });
  await until(async () => (readers.length >= 1 ? true : undefined), 'the reader status');
  t.true(readers.every((m) => (m as { payload: { reader_id: string } }).payload.reader_id === 'r-1'));
  t.like(readers[0], { payload: { state: 'online', till_id: 'till-1' } });

  // The gateway goes away: the nodes say so.
  await site.gateway.stop();
  await until(async () => (seen.at(-1) === 'red' || seen.at(-1) === 'yellow' ? true : undefined), 'not connected');
});

test.serial('wrong credentials show as refused; a missing secret as not configured', async (t) => {
  const site = await startSite(t);
  await site.gateway.addIntegration('node-red', 'Node-RED');
  await helper.load(
    nodes,
    [
      { id: 'gw', type: 'kantine-gateway', url: site.url, site: SITE },
      { id: 'taps', type: 'kantine-tap', gateway: 'gw', outcome: 'any', wires: [[]] },
    ],
    { gw: { integration: 'node-red', secret: 'not-the-secret-0123456789' } },
  );
  const texts: string[] = [];
  (helper.getNode('taps') as RedNode).on('call:status', (call) => {
    texts.push(String((call as { args: [{ text?: string }] }).args[0]?.text));
  });
  await until(async () => (texts.some((x) => x.includes('refused')) ? true : undefined), 'refused shown');
  t.true(
    texts.some((x) => x.startsWith('afvist')),
    'Danish first',
  );
  await helper.unload();

  await helper.load(
    nodes,
    [
      { id: 'gw', type: 'kantine-gateway', url: 'http://nope', site: SITE },
      { id: 'taps', type: 'kantine-tap', gateway: 'gw', outcome: 'any', wires: [[]] },
    ],
    { gw: { integration: 'node-red' } },
  );
  const gwNode = helper.getNode('gw') as RedNode;
  t.truthy(gwNode);
  const errors = (helper.log() as { args: { msg?: unknown }[][] }).args
    .map((a) => String(a[0]?.msg ?? ''))
    .filter((m) => m.includes('kantine-gateway:'));
  t.true(errors.some((m) => m.includes('url must start with mqtt') && m.includes('secret is missing')));
});

test.serial('the package installs into a real Node-RED 4 and the daily-sales example writes the CSV', async (t) => {
  t.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'kantine-node-red-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Installed as npm would: the packed files under node_modules, beside their dependency.
  const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir, './node-red'], {
    cwd: repoRoot,
    encoding: 'utf8',
  }).trim();
  const userDir = join(dir, 'user');
  const installed = join(userDir, 'node_modules', '@kantine', 'node-red');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', join(dir, tgz), '-C', installed, '--strip-components=1']);
  symlinkSync(join(repoRoot, 'node_modules', 'mqtt'), join(userDir, 'node_modules', 'mqtt'));
  t.false(existsSync(join(installed, 'tests')), 'only the files the package lists');

  const site = await startSite(t);
  const secret = await site.gateway.addIntegration('node-red', 'Node-RED');
  const port = await freePort();
  const exportDir = join(dir, 'export');
  const red: ChildProcess = spawn(
    process.execPath,
    [require.resolve('node-red/red.js'), '--userDir', userDir, '--port', String(port)],
    { env: { ...process.env, KANTINE_EXPORT_DIR: exportDir }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  red.stdout?.on('data', (d) => {
    output += d;
  });
  red.stderr?.on('data', (d) => {
    output += d;
  });
  t.teardown(() => stopGracefully(red));
  const admin = `http://127.0.0.1:${port}`;
  const types = await until(
    async () => {
      const res = await fetch(`${admin}/nodes`, { headers: { accept: 'application/json' } }).catch(() => undefined);
      if (!res?.ok) return undefined;
      const list = (await res.json()) as { module: string; types: string[]; enabled: boolean; err?: string }[];
      return list.filter((n) => n.module === '@kantine/node-red');
    },
    `Node-RED up:\n${output}`,
    60_000,
  );
  t.deepEqual(types.flatMap((n) => n.types).sort(), [
    'kantine-gateway',
    'kantine-reader',
    'kantine-sale',
    'kantine-tap',
  ]);
  t.true(
    types.every((n) => n.enabled && !n.err),
    JSON.stringify(types),
  );

  // Node-RED loads its own (empty) flows and credentials once it listens: a deploy before that has
  // finished can have its credentials replaced by the empty ones ("Encrypted credentials not found").
  await until(
    async () => (output.includes('Started flows') ? true : undefined),
    `Node-RED's flows started:\n${output}`,
    30_000,
  );

  // The example flow as shipped, pointed at this gateway, deployed through the admin API.
  const flow = JSON.parse(readFileSync(join(installed, 'examples', 'daily-sales-csv.json'), 'utf8')) as Record<
    string,
    unknown
  >[];
  for (const n of flow) {
    if (n.type === 'kantine-gateway')
      Object.assign(n, { url: site.url, site: SITE, ca: '', credentials: { integration: 'node-red', secret } });
  }
  const deploy = async () => {
    const deployed = await fetch(`${admin}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'node-red-deployment-type': 'full' },
      body: JSON.stringify(flow),
    });
    t.is(deployed.status, 204, await deployed.text());
  };
  await deploy();
  // Seen once in six CI-like runs: Node-RED's very first deploy on a fresh user dir started the
  // gateway node without the credentials it was given ("secret is missing", just after making its
  // system key). A second deploy of the same flow is what a person would do; it is logged, and a
  // node still without its credentials after it fails the test below.
  if (
    await until(
      async () => (output.includes('secret is missing') ? true : undefined),
      'no credential race',
      2_000,
    ).catch(() => false)
  ) {
    t.log('Node-RED started the gateway node without its credentials; deployed again');
    output = '';
    await deploy();
  }
  const reader = await site.reader('r-1');
  const csvFile = async () => {
    const files = existsSync(exportDir) ? readdirSync(exportDir) : [];
    return files[0] ? readFileSync(join(exportDir, files[0]), 'utf8') : undefined;
  };
  await until(
    async () => {
      site.ledger.baskets.setBasket('till-1', [
        { product_id: products.grovbolle.id, quantity: 2 },
        { product_id: products.yoghurt.id, quantity: 1 },
      ]);
      await reader.tap(cards.alma);
      // the file appears before Node-RED has written the sale's lines into it
      const c = await csvFile();
      return c && c.trim().split('\n').length >= 2 ? c : undefined;
    },
    `the CSV file:\n${output}`,
    30_000,
  );
  const csv = (await csvFile()) ?? '';
  const [first, second] = csv.trim().split('\n');
  t.regex(
    first ?? '',
    /^\d{4}-\d{2}-\d{2};\d{2}:\d{2}:\d{2};till-1;stor-grovbolle;"Stor Grovbolle";2;5,00;16,00;[0-9a-f-]{36}$/,
  );
  t.regex(second ?? '', /;till-1;yoghurt;"Yoghurt";1;6,00;16,00;/);
});
