import { type ReaderConfig, readerTopic } from '@kantine/protocol';
import type { Logger } from 'pino';
import type { MessageBus } from '../broker/bus.ts';
import type { GatewayConfig } from '../config.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { ReaderRow } from '../ledger/readers.ts';
import type { ReleaseStore } from './releases.ts';

/**
 * The site's readers that may connect, read once and kept: every message checks its reader, and a
 * SQL lookup per tap is avoidable work on the tap path. Reloaded whenever a reader is changed
 * (here, or by the command line: the gateway's sweep). Each reader gets its retained config.
 */
export class ReaderDirectory {
  private rows = new Map<string, ReaderRow>();
  // The release targets (site-wide and per reader) last sent in the readers' configs.
  private releaseTargets: string;

  constructor(
    private readonly ledger: Ledger,
    private readonly releases: ReleaseStore,
    private readonly config: Pick<GatewayConfig, 'site' | 'readers'>,
    private readonly log: Logger,
  ) {
    this.releaseTargets = JSON.stringify(releases.targets());
    this.reload();
  }

  /** The reader of this id that may connect (known, not revoked), or undefined. */
  get(id: string): ReaderRow | undefined {
    return this.rows.get(id);
  }

  all(): IterableIterator<ReaderRow> {
    return this.rows.values();
  }

  /** Re-reads the readers from the ledger. */
  reload(): void {
    this.rows = new Map(
      this.ledger.readers
        .listReaders()
        .filter((r) => !r.revoked_at)
        .map((r) => [r.id, r]),
    );
  }

  /** Publishes a reader's retained config: its till, the site's timing and its target release. */
  publishConfig(bus: MessageBus, readerId: string): void {
    const reader = this.rows.get(readerId);
    const till = reader?.till_id ? this.ledger.catalogue.getTill(reader.till_id) : undefined;
    if (!till) return;
    const place = this.ledger.catalogue.getPlace(till.place_id);
    const cfg: ReaderConfig = {
      v: 1,
      reader_id: readerId,
      till_id: till.id,
      till_name: till.name,
      place_name: place?.name ?? '',
      answer_timeout_ms: this.config.readers.answer_timeout_ms,
      resend_interval_ms: this.config.readers.resend_interval_ms,
    };
    const release = this.releases.target(readerId);
    if (release) cfg.release = { version: release, path: `/releases/${release}/` };
    bus.publish(readerTopic(this.config.site.id, readerId, 'config'), JSON.stringify(cfg), {
      qos: 1,
      retain: true,
    });
  }

  publishAll(bus: MessageBus): void {
    for (const r of this.rows.values()) this.publishConfig(bus, r.id);
  }

  /** A new target release (set by `kantine-gateway release target`) goes to every reader. */
  checkReleaseTarget(bus: MessageBus): void {
    const targets = JSON.stringify(this.releases.targets());
    if (targets === this.releaseTargets) return;
    this.releaseTargets = targets;
    this.log.info({ targets: JSON.parse(targets) }, 'reader release targets');
    this.publishAll(bus);
  }
}
