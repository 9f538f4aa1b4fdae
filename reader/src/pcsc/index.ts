/**
 * The PC/SC module: the only code that touches nfc-pcsc (nfc-pcsc.ts) and libpcsclite
 * (pcsc-lite.ts). The reader daemon reads taps through its port; `kantine cards program` lays
 * cards on its station.
 */
export { loadNfcPcsc, type NfcConstructor, pcscdListening } from './nfc-pcsc.ts';
export { PcscPort } from './port.ts';
export { type CardStation, type LaidCard, PcscStation } from './station.ts';
