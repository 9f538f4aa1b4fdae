import { connectMqtt, type MqttClient, parseBrokerUrl } from '@kantine/mqtt';
import {
  decodePayload,
  KantineError,
  LinkDownWire,
  type LinkUp,
  linkTopic,
  MAX_LINK_PAYLOAD_BYTES,
} from '@kantine/protocol';
import type { Logger } from 'pino';
import type { CentralLink } from './central-link.ts';

export interface CentralClientOptions {
  url: string;
  site: string;
  secret: string;
  ca_file?: string | undefined;
  log: Logger;
}

// Unacknowledged changes are looked at this often (the link re-sends after its own silence).
const TICK_MS = 250;
// Central away should not hold a (re)connect attempt long: the site sells on either way.
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * The link's MQTT transport on the gateway: logs in to central's broker as its site, takes
 * central's messages from its down topic and sends on its up topic. Never holds up a sale: the
 * gateway starts and sells whether or not central answers, and the link catches up on connect.
 */
export class CentralClient {
  private client: MqttClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private link: CentralLink | undefined;

  constructor(private readonly opts: CentralClientOptions) {
    // The link carries the site's secret and the children's names, photos and allergies.
    const target = parseBrokerUrl(opts.url);
    if (!target.secure && !['127.0.0.1', '::1', 'localhost'].includes(target.host))
      throw new KantineError('link_plain_text', `central.url ${opts.url} is plain MQTT beyond this machine`, [
        'central.url: use mqtts:// and central.ca_file (central’s CA)',
      ]);
  }

  /**
   * What the link sends, while connected; dropped otherwise (the link re-sends). An ack of
   * central's changes goes at QoS 0 — the next ack or hello says the same again, and central
   * re-sends what stays unacknowledged — the rest at QoS 1.
   */
  readonly send = (message: LinkUp): void => {
    if (this.client?.connected)
      this.client.publish(linkTopic(this.opts.site, 'up'), JSON.stringify(message), {
        qos: message.t === 'ack' ? 0 : 1,
      });
  };

  start(link: CentralLink): void {
    const { opts } = this;
    this.link = link;
    const client = connectMqtt({
      url: opts.url,
      clientId: `kantine-site-${opts.site}`,
      username: opts.site,
      password: opts.secret,
      // The link keeps its own cursors and re-sends: a clean session is all it needs.
      clean: true,
      connect_timeout_ms: CONNECT_TIMEOUT_MS,
      tls: { ca_file: opts.ca_file },
    });
    this.client = client;
    const down = linkTopic(opts.site, 'down');
    client.on('connect', () => {
      client.subscribe(down, { qos: 1 }, (err, granted) => {
        if (err || granted?.[0]?.qos === 128) {
          opts.log.error({ err: err?.message }, 'central refused our subscription');
          return;
        }
        opts.log.info('linked to central');
        link.connected();
      });
    });
    client.on('message', (_topic, payload) => {
      try {
        link.receive(decodePayload(LinkDownWire, payload, MAX_LINK_PAYLOAD_BYTES));
      } catch (err) {
        const e = err as KantineError;
        opts.log.warn({ code: e.code, err: e.message, details: e.details }, 'refused a message from central');
      }
    });
    const lost = () => {
      if (link.online) opts.log.warn('link to central lost; selling on from this site’s shares');
      link.disconnected();
    };
    client.on('close', lost);
    client.on('offline', lost);
    client.on('error', (err) => {
      const code = (err as { code?: number }).code;
      if (code === 4 || code === 5) opts.log.error('central refused this site’s id or secret (config: central.secret)');
      else opts.log.debug({ err: err.message }, 'central link error');
    });
    this.timer = setInterval(() => link.tick(), TICK_MS);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.link?.disconnected();
    await this.client?.endAsync(true);
    this.client = undefined;
  }
}
