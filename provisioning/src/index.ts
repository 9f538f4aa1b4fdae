export { type CardStation, type LaidCard, PcscStation } from '@kantine/reader/pcsc';
export {
  type BatchEvent,
  BatchJournal,
  type BatchKeys,
  type JournalCard,
  newBatchKeys,
  printFile,
  programBatch,
  readBatchKeys,
  writeBatchKeys,
} from './card-batch.ts';
export { ALPHABET, newCardNumber, validCardNumber } from './card-number.ts';
export { CentralClient } from './central-client.ts';
export { COLUMNS, parseImportCsv, parseKroner } from './import-csv.ts';
export {
  buildReaderRelease,
  newReleaseKeys,
  type ReleaseManifest,
  signRelease,
  VERSION_PATTERN,
  verifyRelease,
} from './release.ts';
