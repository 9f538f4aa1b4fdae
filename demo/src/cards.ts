/**
 * The demo's cards and the reader they are laid on. The cards are twins: kantine cards programmed
 * here as IT would, and UID-only ones. The reader is the real PC/SC path (pcscd with the vpcd
 * driver) when this machine has it, else a simulated port.
 */
import { existsSync } from 'node:fs';
import { LegacyUidCard, Ntag424, Ntag424Card, personalizeCard, type VirtualCard, VpcdLink } from '@kantine/card';
import { type CardPort, loadNfcPcsc, PcscPort, pcscdListening, SimulatedPort } from '@kantine/reader';
import { demoBatch, demoCards, demoCloneKeys } from './demo-site.ts';
import { out } from './terminal.ts';

export const VPCD_READER = 'Virtual PCD 00 00';
const TAP_HOLD_MS = 700;

export async function makeTwins(): Promise<Map<string, VirtualCard>> {
  const twins = new Map<string, VirtualCard>();
  for (const c of demoCards) {
    if (c.kind === 'legacy') {
      twins.set(c.key, new LegacyUidCard(c.uid));
      continue;
    }
    const twin = new Ntag424Card(c.uid);
    const keys = c.registered === false ? demoCloneKeys : demoBatch.keys;
    await personalizeCard(new Ntag424(async (apdu) => twin.transmit(apdu)), {
      ...demoBatch,
      batch: demoBatch.id,
      keys,
    });
    twins.set(c.key, twin);
  }
  return twins;
}

/** The reader's card port: PC/SC through vpcd when there is one (and KANTINE_DEMO_PORT is not `sim`). */
export async function demoPort(): Promise<{ port: CardPort; viaPcsc: boolean }> {
  const NFC = process.env.KANTINE_DEMO_PORT === 'sim' ? undefined : loadNfcPcsc();
  const viaPcsc = NFC !== undefined && (await vpcdAvailable());
  const port: CardPort = viaPcsc ? new PcscPort(NFC, { readerName: VPCD_READER }) : new SimulatedPort();
  return { port, viaPcsc };
}

/** Taps demo card `key` on `port`; false when there is no such card. */
export function cardTapper(port: CardPort, twins: Map<string, VirtualCard>): (key: string) => boolean {
  let onReader: VpcdLink | undefined;
  return (key: string) => {
    const card = demoCards.find((c) => c.key === key);
    const twin = twins.get(key);
    if (!card || !twin) return false;
    out(`\n→ ${card.label} bipper / taps`);
    if (port instanceof SimulatedPort) {
      port.tap(twin);
    } else if (!onReader) {
      // Lay the twin on the virtual reader for a moment, as a child's tap.
      const link = new VpcdLink(twin);
      onReader = link;
      link.insert().then(
        () =>
          setTimeout(() => {
            link.remove();
            onReader = undefined;
          }, TAP_HOLD_MS),
        (err: Error) => {
          onReader = undefined;
          out(`  vpcd: ${err.message}`);
        },
      );
    }
    return true;
  };
}

/** pcscd answering on its socket, with the vpcd driver installed. */
async function vpcdAvailable(): Promise<boolean> {
  return existsSync('/usr/lib/pcsc/drivers/serial/libifdvpcd.so') && (await pcscdListening());
}
