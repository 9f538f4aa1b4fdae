import { connectFirst, connectMqtt, type MqttClient } from '@kantine/mqtt';
import type { Logger } from 'pino';
import type { MessageBus, MessageHandler, PublishOptions } from './bus.ts';

export interface ExternalBusOptions {
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  ca_file?: string | undefined;
  log: Logger;
}

/**
 * The gateway on an external broker (Mosquitto, EMQX, …). The readers' ACL is then that
 * broker's to enforce (see docs/operations/external-broker.md); the gateway still checks every
 * payload and that the reader named in it owns the topic it came on.
 */
export class ExternalBus implements MessageBus {
  private client: MqttClient | undefined;
  private readonly handlers: { filter: string; handler: MessageHandler }[] = [];

  constructor(private readonly opts: ExternalBusOptions) {}

  async start(): Promise<void> {
    const { opts } = this;
    const client = connectMqtt({
      url: opts.url,
      clientId: opts.clientId,
      // A persistent session: taps published while the gateway restarts wait in the broker.
      clean: false,
      ...(opts.username ? { username: opts.username } : {}),
      ...(opts.password ? { password: opts.password } : {}),
      tls: { ca_file: opts.ca_file },
      manualConnect: true,
    });
    // Kept from now on: a message of the resumed session can be answered before start() returns.
    this.client = client;
    // Handlers first: a resumed session delivers what waited for us right after CONNACK.
    client.on('message', (topic, payload) => {
      for (const h of this.handlers) if (matches(h.filter, topic)) h.handler(topic, payload);
    });
    try {
      await connectFirst(client); // fails fast at start, and leaves nothing reconnecting behind
    } catch (err) {
      this.client = undefined;
      throw err;
    }
    if (this.handlers.length > 0)
      await client.subscribeAsync(
        this.handlers.map((h) => h.filter),
        { qos: 1 },
      );
    client.on('error', (err) => opts.log.warn({ err: err.message }, 'external broker error'));
    client.on('offline', () => opts.log.warn('external broker unreachable; reconnecting'));
  }

  async subscribe(filter: string, handler: MessageHandler): Promise<void> {
    this.handlers.push({ filter, handler });
    await this.client?.subscribeAsync(filter, { qos: 1 });
  }

  publish(topic: string, payload: string | Buffer, options: PublishOptions): void {
    if (!this.client) {
      this.opts.log.error({ topic }, 'publish while not started; dropped');
      return;
    }
    this.client.publish(topic, payload, { qos: options.qos, retain: options.retain ?? false }, (err) => {
      if (err) this.opts.log.error({ topic, err: err.message }, 'publish failed');
    });
  }

  async close(): Promise<void> {
    await this.client?.endAsync();
    this.client = undefined;
  }
}

/** MQTT topic filter match (`+` one level, `#` the rest), per MQTT 3.1.1 §4.7. */
export function matches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}
