// The result table (markdown, pasteable into the main README) and topic clean-up.
import { Admin } from "@platformatic/kafka";
import type { ApiResult, LoadResult } from "./api.ts";
import { cfg } from "./common.ts";
import type { FreshnessRun } from "./freshness.ts";
import type { InProcessResult } from "./inprocess.ts";
import type { CeilingResult, NaiveResult } from "./postgres.ts";
import type { RebuildResult } from "./rebuild.ts";
import type { FetchDecodeResult } from "./stream-floor.ts";

export async function deleteTopic(topic: string) {
  const admin = new Admin({ clientId: "bench-admin", bootstrapBrokers: cfg.brokers });
  try {
    await admin.deleteTopics({ topics: [topic] });
  } finally {
    await admin.close();
  }
}

interface ChildRun {
  eventsPerSecond: number;
  seconds: number;
  secondsFromStart: number;
  eventsPerSecondFromStart: number;
  rss: { minMiB: number; maxMiB: number; lastMiB: number };
  tableWrites?: Record<string, { ins: number; upd: number; del: number }>;
  readModel?: { users: number };
  cpu?: { nodeMsPer1kEvents: number; pgMsPer1kEvents: number; brokerMsPer1kEvents?: number | undefined };
}

const fmt = (n: number | undefined, digits = 0) =>
  n === undefined || Number.isNaN(n) ? "–" : n.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const pct = (a: number, b: number) => `${fmt((100 * a) / b, 1)} %`;
const cpuText = (r: LoadResult) =>
  r.cpuPerRequestMs
    ? `; CPU per request: API ${fmt(r.cpuPerRequestMs.api, 2)} ms + PostgreSQL ${fmt(r.cpuPerRequestMs.postgres, 2)} ms + load generator ${fmt(r.cpuPerRequestMs.loadGenerator, 2)} ms`
    : "";
const verdict = (ok: boolean) => (ok ? "✅ met" : "❌ missed");
const plusBroker = (ms: number | undefined) => (ms === undefined ? "" : ` + broker ${fmt(ms, 1)} ms`);

export function markdownTable(r: Record<string, unknown>, n: number): string {
  const p = r.projector as ChildRun | undefined;
  const c = r.ceiling as CeilingResult | undefined;
  const nv = r.naive as NaiveResult | undefined;
  const rb = r.rebuild as (RebuildResult & { sameRowsAsStep1?: boolean }) | undefined;
  const api = r.api as ApiResult | undefined;
  const adapters = (r.adapters as (InProcessResult & { sameRows?: boolean })[] | undefined) ?? [];
  const fresh = (r.freshness as FreshnessRun[] | undefined) ?? [];
  const floor = r.floor as { fetchAndDecode: FetchDecodeResult; eventsPerSecond: number } | undefined;
  const rows: string[][] = [];
  const N = fmt(n);
  if (p) {
    rows.push([
      "1. projector end-to-end (users service process, kafkajs)",
      `${N} events`,
      `**${fmt(p.eventsPerSecond)} events/s** (${fmt(p.seconds, 1)} s steady; ${fmt(p.eventsPerSecondFromStart)} events/s incl. start-up)`,
      "",
    ]);
    rows.push(["1. projector RSS while applying (sampled 1/s)", "", `min ${p.rss.minMiB} / max ${p.rss.maxMiB} / last ${p.rss.lastMiB} MiB`, ""]);
    if (p.cpu) {
      const broker = p.cpu.brokerMsPer1kEvents;
      // ms per 1,000 events = µs per event.
      const total = p.cpu.nodeMsPer1kEvents + p.cpu.pgMsPer1kEvents + (broker ?? 0);
      rows.push([
        "1. projector CPU per 1,000 events",
        "",
        `Node.js ${fmt(p.cpu.nodeMsPer1kEvents, 1)} ms + PostgreSQL backends ${fmt(p.cpu.pgMsPer1kEvents, 1)} ms${broker === undefined ? " (broker not measured: no local pid file)" : plusBroker(broker)}`,
        `≤ 25 µs per event in all: ${fmt(total, 1)} µs ${verdict(total <= 25 && broker !== undefined)}`,
      ]);
    }
    const u = p.tableWrites?.users;
    const o = p.tableWrites?.projector_offsets;
    if (u && o && p.readModel) {
      // Each batch updates its offsets row once; each partition's row is also updated twice more, once for
      // its log anchor and once for its cluster id (log-guard bookkeeping).
      const batches = Math.max(1, o.upd - 2 * cfg.partitions);
      rows.push([
        "1. projector row writes (pg_stat_user_tables)",
        "",
        `users: ${fmt(u.ins + u.upd)} inserts+updates for ${fmt(p.readModel.users)} final rows (×${fmt((u.ins + u.upd) / Math.max(1, p.readModel.users), 1)}); ${fmt(batches)} batches (${fmt(n / batches)} events/batch)`,
        "",
      ]);
    }
  }
  if (c) {
    rows.push([
      "2. PostgreSQL ceiling: final rows, set-based upserts",
      `${fmt(c.rows)} rows, ${c.batches} batches of ≤ ${cfg.ceilingBatch}`,
      `${fmt(c.rowsPerSecond)} rows/s in ${fmt(c.seconds, 2)} s ≙ **${fmt(c.eventsPerSecondEquivalent)} events/s** (N / time); CPU per 1,000 events: Node.js ${fmt(c.cpu.nodeCpuMs / (n / 1000), 1)} ms + PostgreSQL ${fmt(c.cpu.pgCpuMs / (n / 1000), 1)} ms`,
      p ? `(reference, no target) projector at ${pct(p.eventsPerSecond, c.eventsPerSecondEquivalent)}` : "",
    ]);
  }
  if (nv) {
    rows.push([
      "2. naive apply: one statement per event",
      `${fmt(nv.events)}-event sample, tx of ${cfg.naiveTx}`,
      `**${fmt(nv.eventsPerSecond)} events/s** (${fmt(nv.statements)} statements in ${fmt(nv.seconds, 2)} s); CPU per 1,000 events: Node.js ${fmt(nv.cpu.nodeCpuMs / (nv.events / 1000), 1)} ms + PostgreSQL ${fmt(nv.cpu.pgCpuMs / (nv.events / 1000), 1)} ms`,
      p ? `(reference, no target) projector at ${fmt(p.eventsPerSecond / nv.eventsPerSecond, 1)}×` : "",
    ]);
  }
  if (floor && c) {
    const fd = floor.fetchAndDecode;
    rows.push([
      "2. stream floor: fetch and decode every record as the applier does (kafkajs, no fold) + the ceiling's final-row write",
      `${N} events`,
      `fetch + decode ${fmt(fd.eventsPerSecond)} events/s (${fmt(fd.seconds, 1)} s; CPU per 1,000 events: Node.js ${fmt(fd.cpu.nodeMsPer1kEvents, 1)} ms${plusBroker(fd.cpu.brokerMsPer1kEvents)}) + write ${fmt(c.seconds, 2)} s ≙ **${fmt(floor.eventsPerSecond)} events/s**`,
      p ? `projector ≥ 70 %: ${pct(p.eventsPerSecond, floor.eventsPerSecond)} ${verdict(p.eventsPerSecond >= 0.7 * floor.eventsPerSecond)}` : "",
    ]);
  }
  if (rb) {
    rows.push([
      "3. full rebuild (admin API: shadow schema, catch up, switch)",
      `${N} events`,
      `**${fmt(rb.seconds, 1)} s** (${fmt(rb.eventsPerSecond)} events/s; RSS max ${rb.rss.maxMiB} MiB; get-by-id during it: ${rb.queries.sent - rb.queries.failed}/${rb.queries.sent} answered 200; rows equal to step 1: ${rb.sameRowsAsStep1 ? "yes" : "NO"})`,
      `< 20 s for 1M: ${n >= 1_000_000 ? verdict(rb.seconds < 20) : `extrapolated ${fmt((rb.seconds * 1_000_000) / n, 0)} s ${verdict((rb.seconds * 1_000_000) / n < 20)}`}`,
    ]);
  }
  if (api) {
    const latency = (what: string, r: LoadResult, target: string) => {
      rows.push([
        what,
        `${fmt(r.targetRate)} req/s × ${cfg.apiSeconds} s`,
        `${fmt(r.achievedRate)} req/s achieved, p50 **${fmt(r.p50Ms, 2)} ms**, p99 **${fmt(r.p99Ms, 2)} ms** (max ${fmt(r.maxMs, 1)}; errors ${r.errors})${cpuText(r)}`,
        target,
      ]);
    };
    const met = (r: LoadResult, ms: number) => `p99 < ${ms} ms: ${verdict(r.p99Ms < ms && r.achievedRate >= 0.95 * r.targetRate)}`;
    latency("4. API get-by-id, evenly paced (open loop)", api.getByIdPaced, met(api.getByIdPaced, 10));
    latency("4. API filtered list (org + state + type, sort username, 20/page), evenly paced", api.listPaced, met(api.listPaced, 15));
    latency("4. API get-by-id, autocannon (per-second bursts)", api.getById, "");
    latency("4. API filtered list, autocannon (per-second bursts)", api.list, "");
  }
  for (const a of adapters) {
    rows.push([
      `5. projector in-process, ${a.adapter === "platformatic" ? "@platformatic/kafka" : "kafkajs"} adapter`,
      `${N} events`,
      `**${fmt(a.eventsPerSecond)} events/s** (${fmt(a.seconds, 1)} s; CPU per 1,000 events: Node.js ${fmt(a.cpu.nodeMsPer1kEvents, 1)} ms + PostgreSQL ${fmt(a.cpu.pgMsPer1kEvents, 1)} ms${plusBroker(a.cpu.brokerMsPer1kEvents)}; RSS of the bench process ${a.rss.minMiB}–${a.rss.maxMiB} MiB)`,
      a.sameRows === undefined ? "" : `same rows as step 3: ${a.sameRows ? "yes" : "NO"}`,
    ]);
  }
  for (const f of fresh) {
    rows.push([
      "6. freshness: publish → GET with X-Min-Position answers 200 (projector and API in one process)",
      `${fmt(f.targetRate)} events/s, ${fmt(f.probes)} probes`,
      `${fmt(f.achievedRate)} events/s achieved, p50 **${fmt(f.p50Ms, 2)} ms**, p99 **${fmt(f.p99Ms, 2)} ms** (max ${fmt(f.maxMs, 1)}; not 200: ${f.errors}; of it the publish until acknowledged: p50 ${fmt(f.publishP50Ms, 2)}, p99 ${fmt(f.publishP99Ms, 2)} ms; ${fmt(f.batches)} batches of the service, mean apply ${fmt(f.batchMeanMs, 2)} ms)`,
      `p50 ≤ 15 ms and p99 ≤ 50 ms: ${verdict(f.p50Ms <= 15 && f.p99Ms <= 50 && f.errors === 0)}`,
    ]);
  }
  const header = ["what", "size", "result", "target"];
  const esc = (s: string) => s.replaceAll("|", "\\|");
  const lines = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((row) => `| ${row.map(esc).join(" | ")} |`)];
  const m = r.machine as { cpus: number; node: string; loadavgAtStart: number[] };
  return [
    `N = ${N} mixed user events, ${cfg.instances} instances, ${cfg.partitions} partitions, PARTITIONS_CONCURRENCY=${cfg.concurrency}; ${m.cpus} CPUs, Node ${m.node}, load average at start ${m.loadavgAtStart.join(" ")}; ${String(r.at)}`,
    "",
    ...lines,
  ].join("\n");
}
