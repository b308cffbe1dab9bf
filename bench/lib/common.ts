// Shared pieces of the benchmark: configuration from the environment, PostgreSQL helpers and the
// "caught up" probe (every partition's stored next offset reached the end of the topic).
import { createPool, type PartitionOffsets } from "@idp/runtime";
import pg from "pg";
import { BackendCpu, brokerPid, cpuMs } from "./cpu.ts";

const int = (name: string, fallback: number) => {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v.replaceAll("_", ""));
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${v}`);
  return Math.floor(n);
};

export const cfg = {
  events: int("BENCH_EVENTS", 1_000_000),
  instances: int("BENCH_INSTANCES", 100),
  partitions: int("BENCH_PARTITIONS", 4),
  /** PARTITIONS_CONCURRENCY of every projector run (and the parallelism of the ceiling and naive runs). */
  concurrency: int("BENCH_CONCURRENCY", 4),
  ceilingBatch: int("BENCH_CEILING_BATCH", 5000),
  naiveEvents: int("BENCH_NAIVE_EVENTS", 20_000),
  naiveTx: int("BENCH_NAIVE_TX", 1000),
  getRate: int("BENCH_GET_RATE", 2000),
  listRate: int("BENCH_LIST_RATE", 500),
  apiSeconds: int("BENCH_API_SECONDS", 10),
  apiConnections: int("BENCH_API_CONNECTIONS", 20),
  /** Comma-separated steps to run (1..6); the default runs all. */
  steps: new Set((process.env.BENCH_STEPS ?? "1,2,3,4,5,6").split(",").map((s) => s.trim())),
  /** Step 6: total publish rates (events/s) under which freshness is measured, and seconds at each. */
  freshRates: (process.env.BENCH_FRESH_RATES ?? "200,2000").split(",").map((s) => Number(s.trim())),
  freshSeconds: int("BENCH_FRESH_SECONDS", 10),
  /** Adapters run in-process in step 5, in this order (kafkajs too, so both share one harness). */
  adapters: (process.env.BENCH_ADAPTERS ?? "platformatic,kafkajs")
    .split(",")
    .map((s) => s.trim())
    .filter((s): s is "platformatic" | "kafkajs" => s === "platformatic" || s === "kafkajs"),
  /** Fetch size per partition of the in-process runs (step 5); the runtime's default is 2 MiB. */
  maxBytesPerPartition: int("BENCH_MAX_BYTES_PER_PARTITION", 2 * 1024 * 1024),
  brokers: (process.env.KAFKA_BROKERS ?? "127.0.0.1:19092").split(",").map((s) => s.trim()),
  databaseUrl: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/idp",
  keep: process.env.BENCH_KEEP === "true",
  /** Indexes of the users schema dropped before step 1 (comma-separated names): what they cost to write. */
  dropIndexes: (process.env.BENCH_DROP_INDEXES ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
};

export const stamp = Date.now().toString(36);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const now = () => performance.now();
export const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;

export function log(message: string) {
  const t = new Date().toISOString().slice(11, 19);
  process.stderr.write(`[bench ${t}] ${message}\n`);
}

export async function withClient<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: cfg.databaseUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export const schemaPool = (schema: string, max = 4) =>
  createPool({ connectionString: cfg.databaseUrl, schema, max, applicationName: `bench:${schema}`.slice(0, 63) });

export async function dropSchema(schema: string) {
  await withClient((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
}

export interface Progress {
  /** Partitions were assigned: the applier has created their offsets rows. */
  assigned: boolean;
  /** Sum over partitions of the stored next offset (records consumed, as every record is ours). */
  consumed: number;
  caughtUp: boolean;
}

/** Polls `<schema>.projector_offsets` against the topic ends until caught up. */
export class ProgressProbe {
  private readonly client: pg.Client;
  private readonly total: number;

  private readonly schema: string;
  private readonly topic: string;
  private readonly ends: PartitionOffsets[];
  /** Also measure CPU in the steady window: the projector's process and its PostgreSQL backends. */
  private readonly cpu: { pid?: number; backendApp?: string };

  constructor(schema: string, topic: string, ends: PartitionOffsets[], cpu: { pid?: number; backendApp?: string } = {}) {
    this.schema = schema;
    this.topic = topic;
    this.ends = ends;
    this.cpu = cpu;
    this.client = new pg.Client({ connectionString: cfg.databaseUrl, application_name: "bench:probe" });
    this.total = ends.reduce((s, p) => s + Number(p.high), 0);
  }

  async open() {
    await this.client.connect();
  }

  async close() {
    await this.client.end();
  }

  async read(): Promise<Progress> {
    try {
      const { rows } = await this.client.query(`SELECT partition, next_offset::text AS next FROM ${this.schema}.projector_offsets WHERE topic = $1`, [
        this.topic,
      ]);
      const next = new Map(rows.map((r) => [Number(r.partition), BigInt(r.next)]));
      const consumed = rows.reduce((s, r) => s + Number(r.next), 0);
      const caughtUp = this.ends.every((p) => (next.get(p.partition) ?? -1n) >= BigInt(p.high) || p.high === "0");
      return { assigned: rows.length > 0, consumed, caughtUp: caughtUp && consumed >= this.total };
    } catch {
      return { assigned: false, consumed: 0, caughtUp: false }; // schema not migrated yet
    }
  }

  /**
   * Waits until caught up. `assignedAt` is the first poll (every 100 ms) that saw the partitions' offsets
   * rows, i.e. the group was joined and partitions assigned: the throughput is total / (doneAt -
   * assignedAt), so process start-up, migrations and the group join are excluded, every record counts.
   * CPU (when asked for) is measured over the same window, and the local broker's when its pid is known.
   */
  async waitCaughtUp(timeoutMs: number) {
    const deadline = now() + timeoutMs;
    let firstAt: number | undefined;
    let firstConsumed = 0;
    let lastLog = now();
    let lastBackends = 0;
    const backends = new BackendCpu();
    const { pid, backendApp } = this.cpu;
    let nodeCpuAtFirst = 0;
    const broker = brokerPid();
    let brokerCpuAtFirst = 0;
    const noteBackends = async () => {
      if (!backendApp) return;
      const { rows } = await this.client.query("SELECT pid FROM pg_stat_activity WHERE application_name = $1", [backendApp]);
      backends.note(rows.map((r) => Number(r.pid)));
    };
    for (;;) {
      const p = await this.read();
      const t = now();
      if (firstAt === undefined && (p.assigned || p.consumed > 0)) {
        firstAt = t;
        firstConsumed = p.consumed;
        nodeCpuAtFirst = pid === undefined ? 0 : (cpuMs(pid) ?? 0);
        brokerCpuAtFirst = broker === undefined ? 0 : (cpuMs(broker) ?? 0);
        await noteBackends();
        backends.reset();
        lastBackends = t;
      } else if (t - lastBackends > 1000) {
        await noteBackends();
        lastBackends = t;
      }
      if (p.caughtUp) {
        await noteBackends();
        const nodeCpuMs = pid === undefined ? undefined : (cpuMs(pid) ?? 0) - nodeCpuAtFirst;
        const pgCpuMs = backendApp ? backends.totalMs() : undefined;
        const brokerCpuMs = broker === undefined ? undefined : (cpuMs(broker) ?? 0) - brokerCpuAtFirst;
        return { firstAt: firstAt ?? t, firstConsumed, doneAt: t, total: this.total, nodeCpuMs, pgCpuMs, brokerCpuMs };
      }
      if (t - lastLog > 15_000) {
        log(`  … ${p.consumed.toLocaleString("en")} / ${this.total.toLocaleString("en")} records`);
        lastLog = t;
      }
      if (t > deadline) throw new Error(`not caught up after ${timeoutMs} ms: ${p.consumed} / ${this.total}`);
      await sleep(100);
    }
  }
}

/** CPU per 1,000 events over a probe's steady window: the projector's process, its PostgreSQL backends, the broker. */
export function cpuPer1k(r: {
  total: number;
  firstConsumed: number;
  nodeCpuMs?: number | undefined;
  pgCpuMs?: number | undefined;
  brokerCpuMs?: number | undefined;
}) {
  const k = (r.total - r.firstConsumed) / 1000;
  const per1k = (ms: number | undefined) => (ms === undefined ? undefined : round(ms / k, 1));
  return { nodeMsPer1kEvents: per1k(r.nodeCpuMs) ?? Number.NaN, pgMsPer1kEvents: per1k(r.pgCpuMs) ?? Number.NaN, brokerMsPer1kEvents: per1k(r.brokerCpuMs) };
}

/** Deterministic fingerprint of the read model, to check that two runs built the same rows. */
export async function fingerprint(schema: string): Promise<{ users: number; md5: string }> {
  return withClient(async (c) => {
    const { rows } = await c.query(
      `SELECT count(*)::int AS users, md5(coalesce(string_agg(u::text, E'\\n' ORDER BY instance_id, id), '')) AS md5 FROM ${schema}.users u`,
    );
    return rows[0];
  });
}

/** Row writes PostgreSQL counted per table of a schema (pg_stat_user_tables; flushed when backends exit). */
export async function tableWrites(schema: string) {
  return withClient(async (c) => {
    await c.query("SELECT pg_stat_clear_snapshot()");
    const { rows } = await c.query(
      `SELECT relname, n_tup_ins::bigint AS ins, n_tup_upd::bigint AS upd, n_tup_del::bigint AS del, n_tup_hot_upd::bigint AS hot, n_live_tup::bigint AS live
       FROM pg_stat_user_tables WHERE schemaname = $1 ORDER BY relname`,
      [schema],
    );
    return Object.fromEntries(
      rows.map((r) => [r.relname as string, { ins: Number(r.ins), upd: Number(r.upd), del: Number(r.del), hotUpd: Number(r.hot), live: Number(r.live) }]),
    );
  });
}
