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
  | { t: 'baseline'; port: number; topics: string[] }
  | { t: 'stop' };

export type FromHost =
  | { t: 'linked' }
  | { t: 'subscribed' }
  /** [site or topic, the card's state at that site (or 'message'), the time (epoch ms)] */
  | { t: 'applied'; items: [string, string, number][] }
  | { t: 'stopped' }
  | { t: 'error'; message: string };
