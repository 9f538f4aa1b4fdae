import {
  parseReaderTopic,
  type ReaderTopicKind,
  readerPublishes,
  readerSubscribes,
  siteEventsPrefix,
} from '@kantine/protocol';

/**
 * A reader may publish only `tap`, `cancel` and `status` under its own prefix, and subscribe only
 * to its own `decision`, `config` and `error`. No wildcards: a filter with `+` or `#` names no
 * single reader, so it is refused.
 */
function allowed(site: string, readerId: string, topic: string, kinds: readonly ReaderTopicKind[]): boolean {
  const t = parseReaderTopic(topic);
  return t !== null && t.site === site && t.reader === readerId && kinds.includes(t.kind);
}

export function readerMayPublish(site: string, readerId: string, topic: string): boolean {
  return allowed(site, readerId, topic, readerPublishes);
}

export function readerMaySubscribe(site: string, readerId: string, topic: string): boolean {
  return allowed(site, readerId, topic, readerSubscribes);
}

/**
 * An integration (Node-RED, a lamp, an export) logs in as `integration:<id>`; a reader id can
 * never hold a colon, so the two kinds of identity cannot be mistaken for each other.
 */
export const INTEGRATION_USER_PREFIX = 'integration:';

/**
 * An integration may subscribe to the site's events (wildcards allowed, but only below
 * `kantine/{site}/events/`) and to nothing else. It may never publish.
 */
export function integrationMaySubscribe(site: string, filter: string): boolean {
  const prefix = siteEventsPrefix(site);
  return filter.startsWith(prefix) && filter.length > prefix.length;
}

/**
 * The client ids of a reader start with `reader-<id>` (the reader daemon's), an integration's
 * with `integration:<id>`; see `clientIdBelongsTo`. A client id names a session, and MQTT
 * hands a session to whoever connects with its id, so no identity may use another's.
 */
export function readerClientIdBase(readerId: string): string {
  return `reader-${readerId}`;
}

export function integrationClientIdBase(integrationId: string): string {
  return `${INTEGRATION_USER_PREFIX}${integrationId}`;
}

/** Benchmark-only topics, open only when the gateway runs with `bench_echo`. */
export function benchEchoTopic(site: string, readerId: string, dir: 'req' | 'res'): string {
  return `kantine-bench/${site}/${readerId}/echo/${dir}`;
}
