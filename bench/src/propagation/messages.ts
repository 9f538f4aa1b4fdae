/** What bench:propagation's parent and its site processes say to each other (node IPC). */
export type ToHost =
  | {
      t: 'sites';
      sites: { id: string; secret: string }[];
      url: string;
      ca_file: string | undefined;
      dir: string;
      template: string;
      card: string;
    }
  /** Subscribe to each topic on a bare broker: plain MQTT, or over TLS with this CA file. */
  | { t: 'baseline'; port: number; topics: string[]; ca_file?: string }
  /** Close the baseline's subscribers. */
  | { t: 'baseline_end' }
  /** Start a CPU profile of the process (no file), or stop it into `file`. */
  | { t: 'profile'; file?: string }
  /** The process's CPU time so far. */
  | { t: 'cpu' }
  | { t: 'stop' };

export type FromHost =
  | { t: 'linked' }
  | { t: 'subscribed' }
  | { t: 'unsubscribed' }
  | { t: 'profiled' }
  | { t: 'cpu'; us: number }
  /** [site or topic, the card's state at that site (or 'message'), the time (epoch ms)] */
  | { t: 'applied'; items: [string, string, number][] }
  | { t: 'stopped' }
  | { t: 'error'; message: string };
