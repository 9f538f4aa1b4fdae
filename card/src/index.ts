export { cbcDecrypt, cbcEncrypt, padM2 } from './aes.ts';
export { aesCmac, cmacCore, cmacSubkeys, truncateMac } from './cmac.ts';
export { diversifyAes128 } from './diversify.ts';
export { authPart2, authPart3, type Ev2Session, rotateLeft, sessionKeys } from './ev2.ts';
export {
  type Access,
  type AccessRights,
  decodeFileSettings,
  encodeFileSettings,
  type FileSettings,
  FREE,
  NEVER,
  type SdmSettings,
} from './file-settings.ts';
export { type BatchMasterKeys, cardKey, cardKeys, FACTORY_KEY, KEY_NO, SYSTEM_IDENTIFIER, sdmKeys } from './keys.ts';
export { FILE, NTAG424_AID, Ntag424, type Transmit } from './ntag424.ts';
export { type PersonalizeOptions, type PersonalizeResult, personalizeCard, sunFileSettings } from './personalize.ts';
export { readCard } from './read-tap.ts';
export {
  type CommMode,
  changeKeyPlain,
  changeSameKeyData,
  commandIv,
  commandMac,
  crc32nk,
  encryptCommandData,
  responseIv,
  responseMac,
  unwrapCommand,
  unwrapResponse,
  wrapCommand,
  wrapResponse,
} from './secure-messaging.ts';
export { CardError, ISO_STATUS, NATIVE_STATUS, statusName } from './status.ts';
export { decryptPiccData, type SunResult, sdmMac, sdmMacSessionKey, verifySun } from './sun.ts';
export { buildSunNdef, parseSunNdef, type SunMessage, type SunTemplate } from './sun-url.ts';
export { LegacyUidCard } from './twin/legacy-card.ts';
export { Ntag424Card, type Ntag424State } from './twin/ntag424-card.ts';
export { type VirtualCard, VPCD_PORT, VpcdLink } from './twin/vpcd-link.ts';
export { checkSunTap, type SunCheck } from './verify-tap.ts';
