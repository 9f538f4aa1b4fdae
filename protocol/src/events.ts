import Type, { type Static } from 'typebox';
import { DeclineCodeSchema, SaleLine } from './decision.ts';
import { ID_PATTERN, Id, Ore, TapId, Timestamp } from './ids.ts';
import { ReaderStatus } from './reader-status.ts';

/**
 * A site's events, for integrations (Node-RED, a lamp at the counter, a sales export, alerts).
 * The gateway publishes them under `kantine/{site}/events/`; an integration's credentials may
 * subscribe there and nowhere else, and may never publish.
 *
 * No event names a child or an account: a lamp or a sales export needs neither, and personal
 * data that is not sent cannot leak from a Node-RED flow.
 *
 * | topic                                   | QoS | retained |
 * |-----------------------------------------|-----|----------|
 * | `kantine/{site}/events/tap`             | 1   | no       |
 * | `kantine/{site}/events/sale`            | 1   | no       |
 * | `kantine/{site}/events/reader/{reader}` | 1   | yes      |
 * | `kantine/{site}/events/link`            | 1   | yes      |
 */
export const siteEventKinds = ['tap', 'sale', 'reader', 'link'] as const;
export type SiteEventKind = (typeof siteEventKinds)[number];

const idRe = new RegExp(ID_PATTERN);

function assertId(what: string, id: string): void {
  if (!idRe.test(id)) throw new Error(`${what} id ${JSON.stringify(id)} does not match ${ID_PATTERN}`);
}

/** The prefix all of a site's events share (what an integration may subscribe under). */
export function siteEventsPrefix(site: string): string {
  assertId('site', site);
  return `kantine/${site}/events/`;
}

export function siteEventTopic(site: string, kind: 'tap' | 'sale' | 'link'): string;
export function siteEventTopic(site: string, kind: 'reader', reader: string): string;
export function siteEventTopic(site: string, kind: SiteEventKind, reader?: string): string {
  if (kind !== 'reader') return `${siteEventsPrefix(site)}${kind}`;
  assertId('reader', reader ?? '');
  return `${siteEventsPrefix(site)}reader/${reader}`;
}

/** A fresh decision (not a repeat of a stored one), every outcome. */
export const TapEvent = Type.Object(
  {
    v: Type.Literal(1),
    tap_id: TapId,
    reader_id: Id('the reader the card was laid on'),
    till_id: Type.Optional(Id('the till the reader belongs to')),
    outcome: Type.Union([Type.Literal('approved'), Type.Literal('declined'), Type.Literal('balance')]),
    code: Type.Optional(DeclineCodeSchema),
    amount_ore: Type.Optional(Ore('amount charged (approved) or asked (declined), in øre')),
    card_kind: Type.Optional(Type.Union([Type.Literal('legacy'), Type.Literal('ntag424')])),
    decided_at: Timestamp,
  },
  { additionalProperties: false, $id: 'TapEvent', title: 'TapEvent' },
);
export type TapEvent = Static<typeof TapEvent>;

/** An approved sale with its lines: what a sales export or a stock count needs. */
export const SaleEvent = Type.Object(
  {
    v: Type.Literal(1),
    tap_id: TapId,
    entry_id: Type.String({ description: 'the ledger entry of the sale' }),
    reader_id: Id('the reader the card was laid on'),
    till_id: Id('the till that sold'),
    amount_ore: Ore('the total charged, in øre'),
    lines: Type.Array(SaleLine, { maxItems: 50 }),
    decided_at: Timestamp,
  },
  { additionalProperties: false, $id: 'SaleEvent', title: 'SaleEvent' },
);
export type SaleEvent = Static<typeof SaleEvent>;

/** A reader's status as the gateway accepted it, with the till it serves. Retained per reader. */
export const ReaderEvent = Type.Object(
  {
    ...ReaderStatus.properties,
    till_id: Type.Optional(Id('the till the reader belongs to')),
  },
  { additionalProperties: false, $id: 'ReaderEvent', title: 'ReaderEvent' },
);
export type ReaderEvent = Static<typeof ReaderEvent>;

/** The link to central. Retained. */
export const LinkEvent = Type.Object(
  {
    v: Type.Literal(1),
    state: Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('not_configured')]),
    backlog: Type.Integer({
      minimum: 0,
      description: 'changes made here that central has not yet acknowledged (sales while offline)',
    }),
    at: Timestamp,
  },
  { additionalProperties: false, $id: 'LinkEvent', title: 'LinkEvent' },
);
export type LinkEvent = Static<typeof LinkEvent>;
