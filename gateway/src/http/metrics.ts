import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** What the metrics read from the running gateway when scraped. */
export interface MetricsSource {
  readersOnline(): number;
  /** undefined when the site is not linked to central. */
  link(): { online: boolean; backlog: number; set_aside: number } | undefined;
}

/**
 * The gateway's Prometheus metrics, one registry per gateway (tests run several in a process).
 * Names follow Prometheus' conventions: base units (seconds), `_total` for counters.
 */
export class GatewayMetrics {
  readonly registry = new Registry();

  readonly decisionSeconds = new Histogram({
    name: 'kantine_decision_seconds',
    help: 'From a tap reaching the gateway to its decision being published (after the commit)',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  /**
   * Fresh decisions by outcome and code, counted in a plain map on the tap path (`decided`) and
   * added to the counter when it is scraped: `inc` with labels hashes and checks them per call.
   */
  private readonly decisionCounts = new Map<string, { outcome: string; code: string; n: number }>();

  readonly decisions: Counter<'outcome' | 'code'> = new Counter({
    name: 'kantine_decisions_total',
    help: 'Fresh decisions (not repeats of a stored one) by outcome and decline code',
    labelNames: ['outcome', 'code'] as const,
    registers: [this.registry],
    collect: () => {
      for (const c of this.decisionCounts.values()) {
        if (c.n === 0) continue;
        this.decisions.inc({ outcome: c.outcome, code: c.code }, c.n);
        c.n = 0;
      }
    },
  });

  readonly batchSize = new Histogram({
    name: 'kantine_group_commit_batch_size',
    help: 'Taps and cancels decided in one transaction (one fsync)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });

  readonly refused = new Counter({
    name: 'kantine_mqtt_refused_total',
    help: 'MQTT connects, publishes and subscribes the broker refused (bad secret, ACL)',
    labelNames: ['what'] as const,
    registers: [this.registry],
  });

  readonly rejected = new Counter({
    name: 'kantine_messages_rejected_total',
    help: 'Messages from readers refused before the ledger (malformed, unknown reader, …) by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  /** `linked`: the site has a link to central, so the link's gauges exist. */
  constructor(source: MetricsSource, linked: boolean) {
    const registers = [this.registry];
    new Gauge({
      name: 'kantine_readers_online',
      help: 'Readers whose last status is online',
      registers,
      collect() {
        this.set(source.readersOnline());
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'kantine_gateway_' });
    if (!linked) return;
    new Gauge({
      name: 'kantine_central_link_up',
      help: '1 while the link to central is up, 0 while it is down (absent on a site not linked)',
      registers,
      collect() {
        const link = source.link();
        if (link) this.set(link.online ? 1 : 0);
      },
    });
    new Gauge({
      name: 'kantine_central_backlog',
      help: 'Changes made here (sales, voids, returned shares) central has not yet acknowledged',
      registers,
      collect() {
        const link = source.link();
        if (link) this.set(link.backlog);
      },
    });
    new Gauge({
      name: 'kantine_central_changes_set_aside',
      help: 'Changes from central this site could not apply and moved past (an alarm: IT looks at down_set_aside)',
      registers,
      collect() {
        const link = source.link();
        if (link) this.set(link.set_aside);
      },
    });
  }

  /** Counts one fresh decision (`kantine_decisions_total`). */
  decided(outcome: string, code: string | undefined): void {
    const key = code === undefined ? outcome : `${outcome}/${code}`;
    const c = this.decisionCounts.get(key);
    if (c) c.n++;
    else this.decisionCounts.set(key, { outcome, code: code ?? '', n: 1 });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
