import { type FileSettings, FREE } from './file-settings.ts';
import { type BatchMasterKeys, cardKey, cardKeys, FACTORY_KEY, KEY_NO } from './keys.ts';
import { FILE, type Ntag424 } from './ntag424.ts';
import { CardError, NATIVE_STATUS } from './status.ts';
import { buildSunNdef } from './sun-url.ts';

export interface PersonalizeOptions {
  batch: string;
  keys: BatchMasterKeys;
  /** The URL a phone opens when it reads the card, e.g. https://kort.example.dk/t */
  urlBase: string;
}

/** The version kantine gives every key it sets (factory keys are version 0). */
export const KEY_VERSION = 1;

export type PersonalizeResult = { uid: string; outcome: 'programmed' | 'already_programmed' };

/** The NDEF file's settings once programmed: free to read (so phones and tills can), SDM on. */
export function sunFileSettings(template: ReturnType<typeof buildSunNdef>): FileSettings {
  return {
    commMode: 'plain',
    access: { read: FREE, write: KEY_NO.appMaster, readWrite: KEY_NO.appMaster, change: KEY_NO.appMaster },
    sdm: {
      uidMirror: true,
      readCtrMirror: true,
      ascii: true,
      ctrRet: KEY_NO.sdmFileRead,
      metaRead: KEY_NO.sdmMetaRead,
      fileRead: KEY_NO.sdmFileRead,
      piccDataOffset: template.piccDataOffset,
      macInputOffset: template.macInputOffset,
      macOffset: template.macOffset,
    },
  };
}

/**
 * Turns a factory-fresh NTAG 424 DNA into a kantine card: authenticate with the factory key,
 * write the SUN URL template, switch SDM on, then change every key to the card's own (key 0 last:
 * until then a failure leaves a card that can still be programmed again, and a second run skips
 * the keys the first one changed). A card that already opens with its diversified key 0 is
 * recognised and left alone.
 */
export async function personalizeCard(card: Ntag424, opts: PersonalizeOptions): Promise<PersonalizeResult> {
  await card.selectApplication();
  try {
    await card.authenticateEv2First(KEY_NO.appMaster, FACTORY_KEY);
  } catch (err) {
    if (!(err instanceof CardError && (err.sw & 0xff) === NATIVE_STATUS.AUTHENTICATION_ERROR)) throw err;
    return recognise(card, opts);
  }
  const uid = await card.getCardUid();
  const keys = cardKeys(opts.keys, uid);
  const template = buildSunNdef({ urlBase: opts.urlBase, batch: opts.batch });
  await card.writeData(FILE.ndef.no, 0, template.file);
  await card.changeFileSettings(FILE.ndef.no, sunFileSettings(template));
  for (const keyNo of [1, 2, 3, 4]) {
    // Version 1 is ours: a run cut off part-way (the card lifted, the PC gone) changed it already.
    if ((await card.getKeyVersion(keyNo)) === KEY_VERSION) continue;
    await card.changeKey(keyNo, keys[keyNo] as Buffer, KEY_VERSION, FACTORY_KEY);
  }
  await card.changeKey(KEY_NO.appMaster, keys[0] as Buffer, KEY_VERSION);
  return { uid: uid.toString('hex').toUpperCase(), outcome: 'programmed' };
}

async function recognise(card: Ntag424, opts: PersonalizeOptions): Promise<PersonalizeResult> {
  // The factory key no longer opens it. Ours does only if this card was programmed for this batch;
  // GetCardUID needs a session, so ask the reader for the UID first (FF CA).
  const uid = await card.anticollisionUid();
  await card.selectApplication();
  try {
    await card.authenticateEv2First(KEY_NO.appMaster, cardKey(opts.keys.appMaster, KEY_NO.appMaster, uid));
  } catch (err) {
    if (err instanceof CardError && (err.sw & 0xff) === NATIVE_STATUS.AUTHENTICATION_ERROR) {
      throw new CardError(
        err.sw,
        'this card has keys that are neither factory keys nor this batch’s: not ours to program',
      );
    }
    throw err;
  }
  return { uid: uid.toString('hex').toUpperCase(), outcome: 'already_programmed' };
}
