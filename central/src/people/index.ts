/** People: CPR numbers sealed at rest, sign-in, staff roles, guardianship and relations. */
export { CPR_KEY_ENV, CprCrypto, DEFAULT_CPR_KEY_FILE, loadCprKey, maskCpr, normalCpr } from './cpr.ts';
export { type DemoChildInput, type DemoPersonInput, seedDemoPeople } from './demo.ts';
export { cprCryptoFor } from './key-config.ts';
export {
  type AccountRole,
  type AttemptLimits,
  DEFAULT_ATTEMPT_LIMITS,
  type GrantableRole,
  PeopleService,
  type RoleGrant,
  type SignInClaims,
} from './people.ts';
export { sealCprAtStart } from './seal.ts';
