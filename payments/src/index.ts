/** @kantine/payments: payment providers behind one interface. Amounts in øre, always. */
export * from './adapter.ts';
export { FakePaymentsConfig, NexiPaymentsConfig, PaymentsConfig } from './config.ts';
export { createPspAdapter } from './create.ts';
export { FakePspAdapter } from './fake/adapter.ts';
export { type TestCard, type TestCardOutcome, testCards } from './fake/cards.ts';
export { type FakePsp, type FakePspOptions, startFakePsp } from './fake/server.ts';
export { SIGNATURE_HEADER, sign as signWebhook } from './fake/signature.ts';
export { NEXI_WEBHOOK_EVENTS, NexiAdapter } from './nexi/adapter.ts';
