export { type BrowserInfo, IdentityService, type SignInClaims, type SignInPeople } from './identity.ts';
export { LOGIN_TTL_MS, type LoginState, LoginStates } from './login-states.ts';
export { RelyingParty } from './relying-party.ts';
export { safeReturnPath } from './return-path.ts';
export {
  DEFAULT_SESSION_LIMITS,
  type NewSession,
  type SessionInfo,
  type SessionLimits,
  SessionService,
} from './sessions.ts';
