import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../db/db.ts';
import { intentsByState, latestDifferences } from '../payments/reconciliation.ts';
import type { LinkProbe } from './link-probe.ts';
import { readSiteFigures, type SiteFigures } from './site-figures.ts';

/** What the metrics read from the running worker when scraped. */
export interface MetricsSources {
  /** Central's database: the sites' figures are read from it at scrape time (shared by every worker). */
  db: Db;
  /** What this worker's link transport knows of its connections. */
  probe: LinkProbe;
  /** What this worker refused of the sites' reports since it started, by code (`LinkService.refused`). */
  linkRefused: () => ReadonlyMap<string, number>;
  /** Changes this worker sent sites again since it started, by why (`LinkService.resent`). */
  linkResent: () => Readonly<Record<'silence' | 'hello', number>>;
}

/** The HTTP side: one call per answered request, one per refused token or scope. */
export interface HttpMetrics {
  request(method: string, route: string | undefined, status: number, seconds: number): void;
  /** `code`: the refusal's (bad_credentials, scope_denied, csrf_failed, …); `reason`: which credential or scope. */
  refused(code: string, reason: string): void;
}

// A method an attacker makes up is not a new label value.
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * Central's Prometheus metrics, one registry per worker (tests run several in a process).
 * Figures of the sites (backlog, set aside, last seen) are read from the database at each scrape,
 * so every worker of a shared database reports the same truth; counters are this worker's own
 * (Prometheus tells workers apart by `instance`). Names: base units, `_total` for counters, and
 * `kantine_central_` first (the gateway's own metrics about its link say `kantine_central_link_up`,
 * `kantine_central_backlog`: central's per-site figures are `kantine_central_site_*`).
 */
export class CentralMetrics implements HttpMetrics {
  readonly registry = new Registry();
  private scraping: Promise<void> | undefined;

  private readonly httpRequests = new Counter({
    name: 'kantine_central_http_requests_total',
    help: "API requests answered by this worker, by method, the route's pattern (never the raw URL) and status",
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  private readonly httpSeconds = new Histogram({
    name: 'kantine_central_http_request_seconds',
    help: 'Time to answer an API request, by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  private readonly authRefused = new Counter({
    name: 'kantine_central_auth_refused_total',
    help:
      'API requests refused before their route, by code and reason: bad_credentials (missing: no token, ' +
      'invalid: unknown, revoked or wrong token, session: no valid session), scope_denied (the token scope ' +
      'refused, or person), csrf_failed (csrf)',
    labelNames: ['code', 'reason'] as const,
    registers: [this.registry],
  });

  readonly ingestSeconds = new Histogram({
    name: 'kantine_central_ingest_seconds',
    help: "Time to handle one site message (its transaction), by the message's type",
    labelNames: ['type'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly ingestMessages = new Counter({
    name: 'kantine_central_ingest_messages_total',
    help: 'Site messages this worker handled, by type (changes, ack, hello, ask) and result (ok, error)',
    labelNames: ['type', 'result'] as const,
    registers: [this.registry],
  });

  readonly ingestChanges = new Counter({
    name: 'kantine_central_ingest_changes_total',
    help: "Changes (sales, voids, returned shares) in the sites' messages this worker handled, re-sends included",
    registers: [this.registry],
  });

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry];
    const { db, probe } = sources;
    collectDefaultMetrics({ register: this.registry, prefix: 'kantine_central_' });

    new Counter({
      name: 'kantine_central_link_resent_changes_total',
      help:
        'Changes this worker sent sites again, by why: silence (not acknowledged within a second: a site slow, ' +
        'unreachable or losing acks) or hello (a site reconnected)',
      labelNames: ['why'] as const,
      registers,
      collect() {
        this.reset();
        for (const [why, n] of Object.entries(sources.linkResent())) this.inc({ why }, n);
      },
    });

    new Counter({
      name: 'kantine_central_link_refused_total',
      help:
        "Site reports this worker refused against central's own record, by code (each set aside in refused_up; " +
        'link_resync_held: a message held because the site diverged again within a minute of its resync)',
      labelNames: ['code'] as const,
      registers,
      collect() {
        this.reset();
        for (const [code, n] of sources.linkRefused()) this.inc({ code }, n);
      },
    });

    new Gauge({
      name: 'kantine_central_database_info',
      help: 'Which database this worker runs on (kind: postgres, pglite), always 1',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        this.set({ kind: db.kind }, 1);
      },
    });

    const pool = db.pool?.bind(db);
    if (pool) {
      new Gauge({
        name: 'kantine_central_db_pool_connections',
        help: "This worker's Postgres pool: connections by state (in_use, idle)",
        labelNames: ['state'] as const,
        registers,
        collect() {
          const p = pool();
          this.set({ state: 'in_use' }, p.total - p.idle);
          this.set({ state: 'idle' }, p.idle);
        },
      });
      new Gauge({
        name: 'kantine_central_db_pool_waiting',
        help: "Queries waiting for a connection of this worker's Postgres pool",
        registers,
        collect() {
          this.set(pool().waiting);
        },
      });
    }

    // This worker's own broker knows which sites are connected; on a shared broker that broker
    // knows (its own metrics), and this gauge is absent.
    if (probe.connectedSites() !== undefined) {
      new Gauge({
        name: 'kantine_central_site_link_up',
        help: "1 while the site's link is connected to central's own broker, 0 while not (absent on a shared broker)",
        labelNames: ['site'] as const,
        registers,
      });
    }
    // — topup (issue 19): money in through the payment provider, read from the database at each scrape —
    new Gauge({
      name: 'kantine_central_reconciliation_differences',
      help: "Differences between the payment provider's records and central's books at the latest daily check (0 before any)",
      registers,
      async collect() {
        this.set(await latestDifferences(db).catch(() => 0));
      },
    });
    new Gauge({
      name: 'kantine_central_payment_intents',
      help: 'Payment intents by state (created, pending, paid, failed, cancelled, expired)',
      labelNames: ['state'] as const,
      registers,
      async collect() {
        this.reset();
        for (const r of await intentsByState(db).catch(() => [])) this.set({ state: r.state }, r.n);
      },
    });
    new Gauge({
      name: 'kantine_central_database_up',
      help: "1 when this scrape read the sites' figures from the database, 0 when it could not (they are absent then)",
      registers,
    });
    new Gauge({
      name: 'kantine_central_site_last_seen_timestamp_seconds',
      help: 'When central last handled a message from the site (Unix time; absent before its first)',
      labelNames: ['site'] as const,
      registers,
    });
    new Gauge({
      name: 'kantine_central_site_backlog',
      help: 'Changes central queued for the site (accounts, cards, deposits, blocks) the site has not acknowledged',
      labelNames: ['site'] as const,
      registers,
    });
    new Gauge({
      name: 'kantine_central_site_backlog_oldest_seconds',
      help: 'How long the oldest change the site has not acknowledged has waited (0 with none)',
      labelNames: ['site'] as const,
      registers,
    });
    new Gauge({
      name: 'kantine_central_site_set_aside',
      help:
        "Changes set aside and kept for IT (an alarm): by=site: central's changes the site could not apply " +
        "(down_set_aside); by=central: the site's reports central refused (refused_up)",
      labelNames: ['site', 'by'] as const,
      registers,
    });
  }

  /** Reads the sites' figures (one query) into their gauges; absent when the database does not answer. */
  private async refresh(): Promise<void> {
    const { db, probe } = this.sources;
    const gauge = (name: string) => this.registry.getSingleMetric(name) as Gauge<string>;
    const lastSeen = gauge('kantine_central_site_last_seen_timestamp_seconds');
    const backlog = gauge('kantine_central_site_backlog');
    const oldest = gauge('kantine_central_site_backlog_oldest_seconds');
    const setAside = gauge('kantine_central_site_set_aside');
    let figures: SiteFigures[] | undefined;
    try {
      figures = await readSiteFigures(db);
    } catch {
      figures = undefined; // the scrape still answers: database_up says why the sites are missing
    }
    for (const g of [lastSeen, backlog, oldest, setAside]) g.reset();
    gauge('kantine_central_database_up').set(figures ? 1 : 0);
    const connected = probe.connectedSites();
    if (connected) {
      const linkUp = gauge('kantine_central_site_link_up');
      linkUp.reset();
      // Every site the database knows, and (with the database away) those connected now.
      for (const site of new Set([...(figures ?? []).map((f) => f.site), ...connected]))
        linkUp.set({ site }, connected.has(site) ? 1 : 0);
    }
    for (const f of figures ?? []) {
      if (f.last_seen_s !== null) lastSeen.set({ site: f.site }, f.last_seen_s);
      backlog.set({ site: f.site }, f.backlog);
      oldest.set({ site: f.site }, f.oldest_s);
      setAside.set({ site: f.site, by: 'site' }, f.set_aside_by_site);
      setAside.set({ site: f.site, by: 'central' }, f.refused_by_central);
    }
  }

  request(method: string, route: string | undefined, status: number, seconds: number): void {
    const labels = { method: METHODS.has(method) ? method : 'other', route: route ?? 'unmatched' };
    this.httpRequests.inc({ ...labels, status: String(status) });
    this.httpSeconds.observe(labels, seconds);
  }

  refused(code: string, reason: string): void {
    this.authRefused.inc({ code, reason });
  }

  /** The exposition text: the sites' figures read now (one query; scrapes at once share it). */
  async text(): Promise<string> {
    this.scraping ??= this.refresh().finally(() => {
      this.scraping = undefined;
    });
    await this.scraping;
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
