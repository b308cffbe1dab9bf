// Opt-in (BENCH_SQL_TIMING=true) statement timing for the in-process projector runs: wraps
// pg.Client.prototype.query and sums wall time and calls per statement kind. Evidence for where a
// batch's time goes (loads, upserts, bookkeeping, COMMIT = WAL flush), without changing the runtime.
import pg from "pg";

export interface StatementStats {
  kind: string;
  calls: number;
  totalMs: number;
  avgMs: number;
  share: string;
}

const kindOf = (text: string): string | undefined => {
  const t = text.replace(/\s+/g, " ").trim();
  if (/^SELECT partition, next_offset|^SELECT pid FROM pg_stat_activity/.test(t)) return undefined; // the bench's own probe
  if (/^(BEGIN|COMMIT|ROLLBACK)/i.test(t)) return t.split(" ")[0]?.toUpperCase() ?? t;
  if (/^SELECT next_offset/i.test(t)) return t.includes("FOR UPDATE") ? "lock offsets row (SELECT … FOR UPDATE)" : "read offsets";
  if (/^UPDATE projector_offsets/i.test(t)) return "advance offsets";
  if (/^INSERT INTO projector_aggregate_sequences/i.test(t)) return "upsert aggregate sequences";
  if (/FROM projector_aggregate_sequences/i.test(t)) return "load aggregate sequences";
  if (/FROM projector_parked_events/i.test(t)) return "load parked aggregates";
  const load = /^SELECT t\.\* FROM "([^"]+)"/.exec(t);
  if (load) return `load rows ${load[1]}`;
  const upsert = /^INSERT INTO "([^"]+)"/.exec(t);
  if (upsert) return `upsert rows ${upsert[1]}`;
  const del = /^DELETE FROM "([^"]+)"/.exec(t);
  if (del) return `delete rows ${del[1]}`;
  return t.slice(0, 50);
};

export function startSqlTiming() {
  const stats = new Map<string, { calls: number; ms: number }>();
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const q = args[0] as string | { text?: string } | undefined;
    const text = typeof q === "string" ? q : (q?.text ?? "");
    const t0 = performance.now();
    const result = original.apply(this, args);
    const done = () => {
      const k = kindOf(text);
      if (k === undefined) return;
      const s = stats.get(k) ?? { calls: 0, ms: 0 };
      s.calls++;
      s.ms += performance.now() - t0;
      stats.set(k, s);
    };
    if (result && typeof (result as Promise<unknown>).then === "function") (result as Promise<unknown>).then(done, done);
    return result;
  };
  return {
    stop(): StatementStats[] {
      proto.query = original;
      const total = [...stats.values()].reduce((a, s) => a + s.ms, 0);
      return [...stats]
        .map(([kind, s]) => ({
          kind,
          calls: s.calls,
          totalMs: Math.round(s.ms),
          avgMs: Math.round((s.ms / s.calls) * 100) / 100,
          share: `${((100 * s.ms) / total).toFixed(1)} %`,
        }))
        .sort((a, b) => b.totalMs - a.totalMs);
    },
  };
}
