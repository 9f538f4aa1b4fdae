export {
  type AccountInput,
  Central,
  type Clock,
  type EntryRow,
  type Publish,
  type SiteInput,
  type SiteRow,
} from './central.ts';
export { CentralConfig, loadCentralConfig, parseCentralConfig } from './config.ts';
export { type Db, openPglite, openPostgres, type PostgresOptions, type Sql } from './db.ts';
export { freeOf, HORIZON, outstanding, split } from './escrow.ts';
export { migrate } from './schema.ts';
export { CentralService, type CentralServiceOptions } from './service.ts';
export { EmbeddedLinkBroker, type LinkTransport, SharedLinkClient } from './transport.ts';
