import { readFileSync } from 'node:fs';

/** Percentile of already-sorted samples (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export interface Summary {
  count: number;
  per_s: number;
  p50_ms: number;
  p99_ms: number;
}

export function summarize(latencies_ms: number[], seconds: number): Summary {
  const sorted = [...latencies_ms].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    count: sorted.length,
    per_s: Math.round(sorted.length / seconds),
    p50_ms: round(percentile(sorted, 50)),
    p99_ms: round(percentile(sorted, 99)),
  };
}

const CLOCK_TICKS_PER_S = 100; // USER_HZ on Linux (getconf CLK_TCK)

/**
 * CPU time (user + system) a process has used so far, in µs, read from /proc: the gateway is a
 * child process, so its own process.cpuUsage() is out of reach. Resolution 10 ms; Linux only.
 */
export function processCpu_us(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3; utime is 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / CLOCK_TICKS_PER_S;
  } catch {
    return Number.NaN;
  }
}

/** CPU µs used per operation by the gateway and by this process while `run` ran. */
export async function cpuPerOp<T extends { count: number }>(
  gatewayPid: number,
  run: () => Promise<T>,
): Promise<T & { gateway_cpu_us: number; client_cpu_us: number }> {
  const g0 = processCpu_us(gatewayPid);
  const c0 = process.cpuUsage();
  const result = await run();
  const c = process.cpuUsage(c0);
  const g = processCpu_us(gatewayPid) - g0;
  const per = (us: number) => Math.round(us / Math.max(1, result.count));
  return { ...result, gateway_cpu_us: per(g), client_cpu_us: per(c.user + c.system) };
}
