/**
 * The till's NFC reader unplugged and plugged back, with the reader daemon running: reader daemon →
 * nfc-pcsc → pcscd, whose USB hotplug removes and adds the reader → vpcd → our card twin. Only the
 * USB bus is simulated (tests/helpers/usb-pcscd.ts): pcscd gets udev's messages as from a real
 * plug, in a pcscd of this file's own, so the machine's pcscd and vpcd slots are not touched.
 */
import type { Ntag424Card } from '@kantine/card';
import type { ReaderStatus } from '@kantine/protocol';
import { loadNfcPcsc, PcscPort } from '@kantine/reader';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { programmedCard, registerCard } from './helpers/cards.ts';
import { pcscMissing, pcscReaderDaemon } from './helpers/pcscd.ts';
import { startSite, type TestSite } from './helpers/site.ts';
import { USB_READER_NAME, UsbPcscd, usbMissing } from './helpers/usb-pcscd.ts';
import { until, waitForEvent } from './helpers/wait.ts';

const missing = pcscMissing() ?? usbMissing();
if (missing && process.env.CI) throw new Error(`the USB reader tests must run in CI, but ${missing}`);
// Outside CI a machine without them skips this file, loudly; .ci/run fails on any skip.
const test = (missing ? anyTest.skip : anyTest.serial) as TestFn;
if (missing) process.stderr.write(`usb-hotplug.test.ts: skipped, ${missing}\n`);

let usb: UsbPcscd | undefined;
anyTest.before(async () => {
  if (missing) return;
  usb = await UsbPcscd.start();
  // libpcsclite reads this when this process makes its first PC/SC context
  process.env.PCSCLITE_CSOCK_NAME = usb.socket;
});
anyTest.after.always(async () => {
  await usb?.stop();
});

const EMMA = '04E0000000AA01';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The daemon on the USB reader; `counter.contexts` counts the PC/SC contexts its port has made. */
async function usbReader(t: ExecutionContext, site: TestSite) {
  if (!usb) throw new Error('no USB pcscd');
  const NFC = loadNfcPcsc();
  if (!NFC) throw new Error('nfc-pcsc did not load');
  const counter = { contexts: 0 };
  class CountingNFC extends NFC {
    constructor() {
      super();
      counter.contexts += 1;
    }
  }
  const port = new PcscPort(CountingNFC, { readerName: USB_READER_NAME });
  const reader = await pcscReaderDaemon(t, site, {
    readerId: 'r-usb',
    port,
    readerName: USB_READER_NAME,
    vpcdPort: usb.vpcdPort,
  });
  return { ...reader, counter };
}

const tapCount = (site: TestSite) =>
  (site.ledger.db.prepare('SELECT COUNT(*) AS n FROM taps').get() as { n: number }).n;

async function siteWithEmma(t: ExecutionContext): Promise<{ site: TestSite; emma: Ntag424Card }> {
  const site = await startSite(t);
  const emma = await programmedCard(EMMA);
  registerCard(site.ledger, EMMA, 'acc-alma');
  return { site, emma };
}

/** The gateway (and the kiosk through it) hears whether this till has an NFC reader. */
const heard = (site: TestSite, ready: boolean) =>
  waitForEvent<[ReaderStatus]>(
    site.gateway,
    'reader',
    (s) => s.reader_id === 'r-usb' && s.port?.ready === ready,
    10_000,
  );

/**
 * A test with the USB reader plugged in and a site where Emma's card is registered. On failure,
 * what pcscd's hotplug did and its last lines go beside the assertion.
 */
function usbTest(
  title: string,
  body: (t: ExecutionContext, env: { usb: UsbPcscd; site: TestSite; emma: Ntag424Card }) => Promise<void>,
) {
  test(title, async (t) => {
    const plugged = usb;
    if (!plugged) throw new Error('no USB pcscd');
    try {
      await plugged.plug();
      const { site, emma } = await siteWithEmma(t);
      await body(t, { usb: plugged, site, emma });
    } catch (err) {
      const lines = plugged.log().split('\n');
      t.log(lines.filter((l) => /hotplug_libudev|RFAddReader|RFRemoveReader|IFDHCreateChannel/.test(l)).join('\n'));
      t.log(lines.slice(-30).join('\n'));
      throw err;
    }
  });
}

// nfc-pcsc's own reader watch (@pokusew/pcsclite) lost about one reader in five pulled out within a
// second of a card leaving; five rounds at such delays catch that kind of fault.
const UNPLUG_DELAYS_MS = [0, 150, 400, 650, 900];

usbTest(
  'unplugged and plugged straight back, five times soon after a tap: the running PC/SC context sees the reader go and come back, and the till reads again each time',
  async (t, { usb: plugged, site, emma }) => {
    const reader = await usbReader(t, site);
    t.like((await reader.tap(emma)).result, { decision: { outcome: 'balance', card_kind: 'ntag424' } });
    for (const [round, delay] of UNPLUG_DELAYS_MS.entries()) {
      await sleep(delay); // the card has just left the reader
      const gone = waitForEvent<[boolean]>(reader.port, 'ready', (r) => !r, 10_000);
      const told = heard(site, false);
      await plugged.unplug();
      await Promise.all([gone, told]);
      t.false(reader.port.ready, `round ${round + 1}: the reader is gone`);

      const back = waitForEvent<[boolean]>(reader.port, 'ready', (r) => r, 10_000);
      const toldBack = heard(site, true);
      await plugged.plug(); // well within the port's 3 s give-up timer
      await Promise.all([back, toldBack]);
      t.like((await reader.tap(emma)).result, { decision: { outcome: 'balance' } }, `round ${round + 1}`);
    }
    t.is(tapCount(site), 1 + UNPLUG_DELAYS_MS.length);
    t.is(reader.counter.contexts, 1, 'healed on the running context, not by building a new one');
  },
);

usbTest(
  'pulled out with a card lying on it and left out a while: no half tap, and once plugged back in the card pays once',
  async (t, { usb: plugged, site, emma }) => {
    const reader = await usbReader(t, site);
    const first = await reader.lay(emma); // the card stays on the reader
    t.like(first.result, { decision: { outcome: 'balance' } });

    const gone = waitForEvent<[boolean]>(reader.port, 'ready', (r) => !r, 10_000);
    await plugged.unplug();
    await gone;
    // pcscd drops the reader from its list first, then unloads its driver (the field goes off)
    await until(async () => (first.link.inserted ? undefined : true), 'the card left the field with the reader');
    await sleep(4_000); // longer than the port's give-up timer: it builds a new context and waits
    t.true(reader.counter.contexts >= 2, 'the port built a new context while no reader was there');
    t.false(reader.port.ready);
    t.is(tapCount(site), 1);

    const back = waitForEvent<[boolean]>(reader.port, 'ready', (r) => r, 10_000);
    await plugged.plug();
    await back;
    const res = await site.api('till-1', 'PUT', '/basket', { lines: [{ product_id: 'yoghurt', quantity: 1 }] });
    t.is(res.status, 200);
    const again = await reader.lay(emma);
    t.like(again.result, { decision: { outcome: 'approved', amount_ore: 600 } });
    again.link.remove();
    await sleep(1_000);
    t.is(tapCount(site), 2);
    t.deepEqual(reader.feedback.shown, ['balance', 'approved']);
  },
);
