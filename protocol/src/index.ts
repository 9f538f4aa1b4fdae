export * from './basket-rules.ts';
export * from './budgets.ts';
export * from './card-number.ts';
export * from './codes.ts';
export * from './decision.ts';
export * from './events.ts';
export * from './http/central-api.ts';
export * from './http/till-api.ts';
export * from './ids.ts';
export * from './link.ts';
export * from './money.ts';
export * from './protocol-error.ts';
export * from './provisioning.ts';
export * from './reader-config.ts';
export * from './reader-status.ts';
export * from './statement.ts';
export * from './tap.ts';
export * from './topics.ts';
export * from './validate.ts';

import { Decision } from './decision.ts';
import { LinkEvent, ReaderEvent, SaleEvent, TapEvent } from './events.ts';
import { LinkDown, LinkUp } from './link.ts';
import { ProtocolError } from './protocol-error.ts';
import { ReaderConfig } from './reader-config.ts';
import { ReaderStatus } from './reader-status.ts';
import { Tap, TapCancel } from './tap.ts';

/** Every MQTT message schema, by name: the JSON Schema files and docs are generated from this. */
export const messageSchemas = {
  Tap,
  TapCancel,
  Decision,
  ReaderStatus,
  ReaderConfig,
  ProtocolError,
  LinkUp,
  LinkDown,
  TapEvent,
  SaleEvent,
  ReaderEvent,
  LinkEvent,
} as const;
export * from './webshop.ts';
