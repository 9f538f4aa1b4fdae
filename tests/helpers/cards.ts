import { type BatchMasterKeys, Ntag424, Ntag424Card, personalizeCard, readCard } from '@kantine/card';
import type { Ledger } from '@kantine/gateway';
import type { CardRead } from '@kantine/protocol';

export const BATCH = 'TEST-01';
export const URL_BASE = 'https://kort.kantine.example/t';

/** Batch master keys made from a seed byte: distinct seeds, distinct batches. */
export function masters(seed: number): BatchMasterKeys {
  return { appMaster: Buffer.alloc(16, seed), sdmMaster: Buffer.alloc(16, seed + 1) };
}
export const KEYS = masters(0x11);

/** The host talking straight to a twin, as if it lay on a reader (the vpcd tests add pcscd). */
export function onReader(card: Ntag424Card): { host: Ntag424; transmit: (apdu: Buffer) => Promise<Buffer> } {
  card.reset();
  const transmit = async (apdu: Buffer) => card.transmit(apdu);
  return { host: new Ntag424(transmit), transmit };
}

/** A factory-fresh twin, personalised as IT would for a batch. */
export async function programmedCard(uid: string, keys = KEYS, batch = BATCH): Promise<Ntag424Card> {
  const card = new Ntag424Card(uid);
  const result = await personalizeCard(onReader(card).host, { batch, keys, urlBase: URL_BASE });
  if (result.outcome !== 'programmed') throw new Error('expected a fresh card');
  return card;
}

/** One read of a card, as a till makes it. */
export async function readTwin(card: Ntag424Card): Promise<CardRead> {
  return readCard(onReader(card).transmit);
}

/** Registers the batch and a programmed card on a gateway's ledger. */
export function registerCard(
  ledger: Ledger,
  uid: string,
  accountId: string | null,
  state: 'active' | 'stock' = 'active',
) {
  ledger.accounts.putBatch({ id: BATCH, sdm_master: KEYS.sdmMaster });
  ledger.accounts.putCard({ uid, account_id: accountId, state, kind: 'ntag424', batch_id: BATCH });
}
