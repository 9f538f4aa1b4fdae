export { CentralMetrics, type HttpMetrics, type MetricsSources } from './central-metrics.ts';
export { instrumentIngest } from './ingest.ts';
export { LastSeen } from './last-seen.ts';
export { type LinkProbe, probeTransport } from './link-probe.ts';
export { readSiteFigures, type SiteFigures, withTimeout } from './site-figures.ts';
