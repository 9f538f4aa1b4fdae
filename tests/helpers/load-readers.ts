import { type Decision, readerTopic, type Tap } from '@kantine/protocol';
import mqtt, { type MqttClient } from 'mqtt';
import { v7 as uuidv7 } from 'uuid';
import type { LoadSite } from './load-site.ts';
import { eventually } from './wait.ts';

export interface LoadReader {
  id: string;
  uid: string;
  client: MqttClient;
  /** Every answer each tap got, by tap id. */
  decisions: Map<string, Decision[]>;
  sent: Map<string, Tap>;
}

/**
 * Raw MQTT readers on a load site's gateway, one per till, that tap as fast as they get answers
 * and reconnect when the gateway comes back. For the crash tests, which kill what they talk to.
 */
export class LoadReaders {
  readonly readers: LoadReader[] = [];
  private loading = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly site: LoadSite,
    private readonly siteId: string,
  ) {}

  async connect(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const id = this.site.readerId(i);
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${this.site.port}`, {
        clientId: `reader-${id}`, // a reader's client id, as the daemon's
        username: id,
        password: this.site.secret,
        reconnectPeriod: 100,
        protocolVersion: 4,
      });
      const reader: LoadReader = { id, uid: this.site.cardUid(i), client, decisions: new Map(), sent: new Map() };
      client.on('message', (_topic, payload) => {
        const d = JSON.parse(payload.toString()) as Decision;
        const list = reader.decisions.get(d.tap_id) ?? [];
        list.push(d);
        reader.decisions.set(d.tap_id, list);
      });
      const topic = readerTopic(this.siteId, id, 'decision');
      await client.subscribeAsync(topic, { qos: 1 });
      client.on('connect', () => void client.subscribeAsync(topic, { qos: 1 }).catch(() => undefined));
      this.readers.push(reader);
    }
  }

  send(r: LoadReader, tap: Tap): void {
    if (r.client.connected) r.client.publish(readerTopic(this.siteId, r.id, 'tap'), JSON.stringify(tap), { qos: 1 });
  }

  /**
   * Each reader taps as fast as it gets answers; an unanswered tap is left behind after 300 ms
   * (as a real reader's child would walk away) and re-sent by `answerAll`.
   */
  start(): void {
    this.loading = true;
    this.loops = this.readers.map(async (r) => {
      while (this.loading) {
        const tap: Tap = {
          v: 1,
          tap_id: uuidv7(),
          reader_id: r.id,
          card: { kind: 'legacy', uid: r.uid },
          read_at: new Date().toISOString(),
          attempt: 1,
        };
        r.sent.set(tap.tap_id, tap);
        this.send(r, tap);
        const until = Date.now() + 300;
        while (this.loading && !r.decisions.has(tap.tap_id) && Date.now() < until)
          await new Promise((res) => setTimeout(res, 2));
      }
    });
  }

  async stop(): Promise<void> {
    this.loading = false;
    await Promise.all(this.loops);
  }

  /** The first answer of every tap answered so far. */
  answered(): Decision[] {
    return this.readers.flatMap((r) => [...r.decisions.values()].map((ds) => ds[0] as Decision));
  }

  /** Re-sends every unanswered tap with its own id until each has its answer. */
  async answerAll(timeout_ms = 30_000): Promise<void> {
    await eventually(
      () => {
        let missing = 0;
        for (const r of this.readers) {
          for (const tap of r.sent.values()) {
            if (!r.decisions.has(tap.tap_id)) {
              missing++;
              this.send(r, { ...tap, attempt: 2 });
            }
          }
        }
        return missing === 0 ? true : undefined;
      },
      timeout_ms,
      'every tap answered after the restarts',
    );
  }

  /** Some answered taps again: a repeat must get the same decision and no new charge. */
  repeatSome(perReader = 5): void {
    for (const r of this.readers)
      for (const tap of [...r.sent.values()].slice(0, perReader)) this.send(r, { ...tap, attempt: 3 });
  }

  async close(): Promise<void> {
    for (const r of this.readers) await r.client.endAsync(true);
  }
}
