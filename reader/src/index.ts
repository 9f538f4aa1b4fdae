export type { CardPort, CardPortEvents } from './card-port.ts';
export { loadReaderConfig, parseReaderConfig, ReaderFileConfig } from './config.ts';
export { READER_VERSION, ReaderDaemon, type ReaderDaemonOptions } from './daemon.ts';
export { enrolReader, ReaderSetupFile, resolveReaderConfig } from './enrol.ts';
export {
  Acr122uFeedback,
  acr122uApdu,
  acr122uPatterns,
  ConsoleFeedback,
  describeDecision,
  type EscapeChannel,
  type Feedback,
} from './feedback.ts';
export { loadNfcPcsc, PcscPort, pcscdListening } from './pcsc/index.ts';
export { SimulatedPort } from './sim-port.ts';
export { TapClient, type TapResult, type TapTiming } from './tap-client.ts';
export { type UpdateOutcome, Updater, type UpdaterOptions } from './updater.ts';
