/** Money in through the payment provider: intents (any purpose), one-off top-ups, reconciliation. */
export { CentralPaymentsConfig } from './config.ts';
export {
  type CreatedIntent,
  type CreateIntent,
  type EndedHandler,
  type EndedState,
  INTENT_PURPOSES,
  type Intent,
  type IntentPurpose,
  type IntentState,
  type PaidHandler,
  PaymentIntents,
  REFUND_REASONS,
  type RefundReason,
  refundReason,
  type SettleOutcome,
} from './intents.ts';
export {
  type Difference,
  type Reconciliation,
  type ReconciliationRow,
  ReconciliationService,
  reconciliationCsv,
} from './reconciliation.ts';
export { TopupService, topupReturnPath } from './topup.ts';
