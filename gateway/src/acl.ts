import { parseReaderTopic, type ReaderTopicKind, readerPublishes, readerSubscribes } from '@kantine/protocol';

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

/** Benchmark-only topics, open only when the gateway runs with `bench_echo`. */
export function benchEchoTopic(site: string, readerId: string, dir: 'req' | 'res'): string {
  return `kantine-bench/${site}/${readerId}/echo/${dir}`;
}
