import type { CardRead } from '@kantine/protocol';
import { FILE, Ntag424, type Transmit } from './ntag424.ts';
import { CardError, ISO_STATUS } from './status.ts';
import { parseSunNdef } from './sun-url.ts';

/**
 * What a till reads from a card on the reader, through any transmit function (PC/SC, the twin).
 * A kantine NTAG 424 DNA gives its SUN message (no key is needed or used: the chip mirrors it into
 * the NDEF file on each read); any other card gives its UID, marked legacy. A card pulled away
 * mid-read throws: no tap, the child taps again.
 */
export async function readCard(transmit: Transmit): Promise<CardRead> {
  const card = new Ntag424(transmit);
  const uid = (await card.anticollisionUid()).toString('hex').toUpperCase();
  const legacy: CardRead = { kind: 'legacy', uid };
  if (uid.length !== 14) return legacy;
  try {
    await card.selectApplication();
    await card.selectFile(FILE.ndef.fid);
  } catch (err) {
    // Not an NTAG 424 DNA (a UID-only card answers "not supported", others "not found").
    if (err instanceof CardError && isNotThere(err.sw)) return legacy;
    throw err;
  }
  const sun = parseSunNdef(await card.readNdefMessage());
  // An NTAG 424 DNA without our URL (a blank from stock) is known by its UID alone.
  if (!sun) return legacy;
  return { kind: 'ntag424', uid, batch: sun.batch, picc: sun.picc, mac: sun.mac };
}

function isNotThere(sw: number): boolean {
  return (
    sw === ISO_STATUS.FILE_NOT_FOUND ||
    sw === ISO_STATUS.INS_NOT_SUPPORTED ||
    sw === ISO_STATUS.CLA_NOT_SUPPORTED ||
    sw === ISO_STATUS.WRONG_P1P2
  );
}
