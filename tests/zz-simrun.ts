import { openPglite } from '@kantine/central';
import { SIM_STEPS, Simulation } from '/work/main/tests/helpers/sim.ts';
const raw = await openPglite();
const stats = new Map<string, [number, number]>();
const rec = (sql: string, ms: number) => { const k = sql.replace(/\s+/g, ' ').slice(0, 140); const s = stats.get(k) ?? [0, 0]; s[0]++; s[1] += ms; stats.set(k, s); };
const wrapSql = (o: any) => new Proxy(o, { get(t, p) { const v = t[p]; if (p === 'query') return async (sql: string, params?: unknown[]) => { const a = performance.now(); try { return await v.call(t, sql, params); } finally { rec(sql, performance.now() - a); } }; return typeof v === 'function' ? v.bind(t) : v; } });
const db: any = new Proxy(raw as any, { get(t, p) { const v = t[p]; if (p === 'query') return wrapSql(t).query; if (p === 'transaction') return (fn: any) => v.call(t, (tx: any) => fn(wrapSql(tx))); return typeof v === 'function' ? v.bind(t) : v; } });
const N = Number(process.env.N ?? 20);
const t0 = Date.now();
for (let seed = 1; seed <= N; seed++) {
  const sim = new Simulation({ seed, steps: SIM_STEPS, db });
  await sim.run();
}
console.log('ms/seed', (Date.now() - t0) / N);
let tot = 0; for (const [, [, ms]] of stats) tot += ms;
console.log('sql ms/seed', tot / N);
for (const [k, [n, ms]] of [...stats].sort((a, b) => b[1][1] - a[1][1]).slice(0, 30)) console.log((ms / N).toFixed(1).padStart(8), String(n / N).padStart(6), k);
await raw.close();
