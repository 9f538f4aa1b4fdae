import { ID_PATTERN } from './ids.ts';

/**
 * Every MQTT topic of a site. A reader's topics all live under `kantine/{site}/reader/{reader}/`
 * so one prefix is what the broker's ACL grants it.
 *
 * | suffix     | publisher | QoS | retained |
 * |------------|-----------|-----|----------|
 * | `tap`      | reader    | 1   | no       |
 * | `cancel`   | reader    | 1   | no       |
 * | `status`   | reader    | 1   | yes (and the last will) |
 * | `decision` | gateway   | 1   | no       |
 * | `config`   | gateway   | 1   | yes      |
 * | `error`    | gateway   | 0   | no       |
 */
export const readerTopicKinds = ['tap', 'cancel', 'status', 'decision', 'config', 'error'] as const;
export type ReaderTopicKind = (typeof readerTopicKinds)[number];

/** What each side may do on a reader's own topics; the gateway's ACL is built from this. */
export const readerPublishes: readonly ReaderTopicKind[] = ['tap', 'cancel', 'status'];
export const readerSubscribes: readonly ReaderTopicKind[] = ['decision', 'config', 'error'];

const idRe = new RegExp(ID_PATTERN);

function assertId(what: string, id: string): void {
  // A wildcard or slash in an id would widen a subscription or an ACL: programmer error.
  if (!idRe.test(id)) throw new Error(`${what} id ${JSON.stringify(id)} does not match ${ID_PATTERN}`);
}

export function readerTopic(site: string, reader: string, kind: ReaderTopicKind): string {
  assertId('site', site);
  assertId('reader', reader);
  return `kantine/${site}/reader/${reader}/${kind}`;
}

/** Subscription filter for one kind of message from every reader of a site. */
export function allReadersTopic(site: string, kind: ReaderTopicKind): string {
  assertId('site', site);
  return `kantine/${site}/reader/+/${kind}`;
}

export interface ParsedReaderTopic {
  site: string;
  reader: string;
  kind: ReaderTopicKind;
}

/** Parses a reader topic; returns null for anything else (including wildcards and bad ids). */
export function parseReaderTopic(topic: string): ParsedReaderTopic | null {
  const parts = topic.split('/');
  if (parts.length !== 5 || parts[0] !== 'kantine' || parts[2] !== 'reader') return null;
  const [, site, , reader, kind] = parts as [string, string, string, string, string];
  if (!idRe.test(site) || !idRe.test(reader)) return null;
  if (!(readerTopicKinds as readonly string[]).includes(kind)) return null;
  return { site, reader, kind: kind as ReaderTopicKind };
}
