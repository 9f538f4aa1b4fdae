export { hashSecret, newSecret, verifySecret } from '@kantine/protocol/credentials';
export {
  INTEGRATION_USER_PREFIX,
  integrationMaySubscribe,
  readerMayPublish,
  readerMaySubscribe,
} from './broker/acl.ts';
export type { MessageBus } from './broker/bus.ts';
export { EmbeddedBroker, type RefusedEvent } from './broker/embedded-broker.ts';
export { type Clock, systemClock } from './clock.ts';
export { GatewayConfig, loadGatewayConfig, parseGatewayConfig } from './config.ts';
export { Gateway, type GatewayEvents, type GatewayOptions } from './gateway.ts';
export type { CentralState } from './http/kiosk-live.ts';
export { type Basket, Ledger, type Product } from './ledger/ledger.ts';
export { migrations } from './ledger/schema.ts';
export { localDate } from './ledger/spend-limits.ts';
export { formatStatementLine, type StatementLine } from './ledger/statement.ts';
export type { TillReport } from './ledger/till-report.ts';
export { CentralClient } from './link/central-client.ts';
export {
  CentralLink,
  type CentralLinkOptions,
  defaultLinkOptions,
  type EscrowTurn,
  realTimers,
  type Timers,
} from './link/central-link.ts';
export { Replica } from './link/replica.ts';
export { type AccountFacts, authorize, type CardRow, type Verdict } from './taps/authorizer.ts';
export type { Decided } from './taps/commit.ts';
export { decideTap, type TapResult } from './taps/decide.ts';
export { TapProcessor, type TapWork } from './taps/processor.ts';
