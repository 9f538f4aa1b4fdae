export { cbcDecrypt, cbcEncrypt, padM2 } from './aes.ts';
export { aesCmac, cmacCore, cmacSubkeys, truncateMac } from './cmac.ts';
export { diversifyAes128 } from './diversify.ts';
export { authPart2, authPart3, type Ev2Session, rotateLeft, sessionKeys } from './ev2.ts';
export { changeSameKeyData, commandIv, commandMac, encryptCommandData } from './secure-messaging.ts';
export { decryptPiccData, type SunResult, sdmMac, sdmMacSessionKey, verifySun } from './sun.ts';
export { LegacyUidCard } from './twin/legacy-card.ts';
export { type VirtualCard, VPCD_PORT, VpcdLink } from './twin/vpcd-link.ts';
