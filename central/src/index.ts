export { type AccountInput, AccountService } from './accounts/accounts.ts';
export { PHOTO_UPLOAD_BYTES_MAX, photoDataUrl } from './accounts/photo.ts';
export { TooManyAttempts } from './attempts/attempts.ts';
export { type AuditEntry, type AuditRow, AuditService } from './audit/audit.ts';
export {
  type Actor,
  type PersonActor,
  type PersonAuth,
  SESSION_COOKIE,
  type ServiceActor,
  type SessionHolder,
  type StaffRole,
} from './auth/actor.ts';
export { SCOPES, type Scope, type TokenRow, TokenService } from './auth/tokens.ts';
export { BatchService } from './cards/batches.ts';
export { CardService } from './cards/cards.ts';
// — portalcards —
export { type CardCheck, type CardOrder, ReplacementService, type StockCard } from './cards/replacement.ts';
export { StockService } from './cards/stock.ts';
export type { Catalogue, CatalogueEntry } from './catalogue/catalogue.ts';
export { Central } from './central.ts';
export { CentralConfig, loadCentralConfig, parseCentralConfig } from './config.ts';
export { type Db, openPglite, openPostgres, type PostgresOptions, type Sql } from './db/db.ts';
export { migrate, migrations } from './db/schema.ts';
export { type Clock, Store, type Tx } from './db/tx.ts';
export { freeOf, HORIZON, outstanding, split } from './escrow/arithmetic.ts';
export { EscrowService } from './escrow/escrow.ts';
export { actorOf, apiRoutes, type DeclaredRoute, declaredRoutes, registerApi } from './http/api.ts';
export { type Access, access, PERSON_ROLES, type PersonRole, type Route } from './http/route.ts';
export { ImportService } from './import/import.ts';
export type { Publish } from './link/down-log.ts';
export { LinkService } from './link/link.ts';
export { EmbeddedLinkBroker, type LinkTransport, SharedLinkClient } from './link/transport.ts';
export type { EntryRow } from './money/entries.ts';
export { MoneyService } from './money/money.ts';
export * from './payments/index.ts';
export { PayoutService } from './payouts/payouts.ts';
export type { Contact } from './people/contact.ts';
export {
  type AccountRole,
  type AttemptLimits,
  CPR_KEY_ENV,
  CprCrypto,
  cprCryptoFor,
  DEFAULT_ATTEMPT_LIMITS,
  DEFAULT_CPR_KEY_FILE,
  type DemoChildInput,
  type DemoPersonInput,
  type GrantableRole,
  loadCprKey,
  maskCpr,
  normalCpr,
  PeopleService,
  type RoleGrant,
  type SignInClaims,
  sealCprAtStart,
  seedDemoPeople,
} from './people/index.ts';
export { formatReport, type RestoreReport, restoreReport } from './restore/index.ts';
export { CentralService, type CentralServiceOptions } from './service.ts';
export { type SiteInput, type SiteRow, SiteService } from './sites/sites.ts';
export { type SupportRequest, SupportService } from './support/support.ts';
export * from './webshop/index.ts';
