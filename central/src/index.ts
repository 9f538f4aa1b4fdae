export { type AccountInput, Central, type Clock, type EntryRow, type Publish, type SiteInput } from './central.ts';
export { type Db, openPglite, openPostgres, type Sql } from './db.ts';
export { freeOf, HORIZON, outstanding, split } from './escrow.ts';
export { migrate } from './schema.ts';
