// Readiness that tells the truth: on a timer, the broker is probed for each topic's end offsets, and the
// lag of every partition this process is answerable for is computed from them and the stored offsets,
// not only when a batch finishes. Not ready, with the reason: the broker unreachable for longer than
// READY_BROKER_TIMEOUT_MS, a partition with lag that made no progress for READY_STALL_TIMEOUT_MS, a
// partition stopped on a log mismatch, or lag above READY_MAX_LAG.
import type pg from "pg";
import type { Logger } from "pino";
import type { AdminPort, TopicPartition } from "./kafka/port.ts";
import type { LogMismatch } from "./log-guard.ts";
import type { ProjectorMetrics } from "./metrics.ts";
import { offsetStatus } from "./store/offsets.ts";

export interface HealthOptions {
  pool: pg.Pool;
  projection: string;
  /** An admin client that gives up quickly (the probe must fail, not retry for minutes). */
  admin: AdminPort;
  topics: string[];
  metrics: ProjectorMetrics;
  logger: Logger;
  brokerTimeoutMs: number;
  stallTimeoutMs: number;
  /** The local projector's partitions, or undefined in an API-only process (then every stored partition counts for mismatches only). */
  assigned?: () => TopicPartition[];
  /** Partitions the local projector stopped (it also says so in the log, at most once a minute). */
  mismatches?: () => Promise<LogMismatch[]>;
  /** A partition's end was seen below its stored offset (the projector checks again and stops it). */
  pastEnd?: (tp: TopicPartition) => Promise<void>;
}

export interface PartitionHealth extends TopicPartition {
  lag: number;
  stalledForMs?: number;
}

export interface HealthReport {
  brokerReachable: boolean;
  brokerUnreachableForMs: number;
  maxLag: number;
  stalled: PartitionHealth[];
  logMismatch: LogMismatch[];
  reasons: string[];
}

const key = (tp: TopicPartition) => `${tp.topic}/${tp.partition}`;

export class HealthMonitor {
  private lastBrokerOk = Date.now();
  private brokerOk = true;
  private probing = false;
  private timer?: NodeJS.Timeout;
  private readonly ends = new Map<string, bigint>();
  /** Per partition: the stored next offset last seen, and since when it has not moved. */
  private readonly progress = new Map<string, { next: bigint; since: number }>();
  private report: HealthReport = { brokerReachable: true, brokerUnreachableForMs: 0, maxLag: 0, stalled: [], logMismatch: [], reasons: [] };
  readonly intervalMs: number;

  private readonly o: HealthOptions;

  constructor(o: HealthOptions) {
    this.o = o;
    this.intervalMs = Math.max(200, Math.min(5000, Math.floor(Math.min(o.brokerTimeoutMs, o.stallTimeoutMs) / 4)));
  }

  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The last computed report, with the broker's outage time up to now. */
  current(): HealthReport {
    return this.compose(Date.now());
  }

  async tick(): Promise<void> {
    const now = Date.now();
    if (!this.probing) {
      this.probing = true;
      void this.probe().finally(() => {
        this.probing = false;
      });
    }
    try {
      await this.measure(now);
    } catch (err) {
      this.o.logger.debug({ err }, "health check could not read the stored offsets");
    }
  }

  private async probe(): Promise<void> {
    try {
      for (const topic of this.o.topics) {
        for (const p of await this.o.admin.partitionOffsets(topic)) this.ends.set(key({ topic, partition: p.partition }), BigInt(p.high));
      }
      if (!this.brokerOk) this.o.logger.info("broker reachable again");
      this.brokerOk = true;
      this.lastBrokerOk = Date.now();
    } catch (err) {
      if (this.brokerOk) this.o.logger.warn({ err: (err as Error).message }, "broker probe failed");
      this.brokerOk = false;
    }
    this.o.metrics.brokerReachable.set({ projection: this.o.projection }, this.brokerOk ? 1 : 0);
  }

  private async measure(now: number): Promise<void> {
    const { metrics, projection } = this.o;
    const stored = await offsetStatus(this.o.pool, projection);
    const mine = this.o.assigned ? new Set(this.o.assigned().map(key)) : undefined;
    const stalled: PartitionHealth[] = [];
    let maxLag = 0;
    for (const r of stored) {
      const k = key(r);
      if (mine && !mine.has(k)) continue;
      const next = BigInt(r.next);
      const end = this.ends.get(k);
      const lag = end === undefined ? 0 : Math.max(0, Number(end - next));
      if (mine && end !== undefined && end < next && !r.logMismatch) {
        this.o.pastEnd?.(r).catch((err) => this.o.logger.debug({ err }, "could not check the partition's end"));
      }
      const labels = { projection, topic: r.topic, partition: String(r.partition) };
      if (mine) metrics.partitionLag.set(labels, lag);
      const seen = this.progress.get(k);
      if (!seen || seen.next !== next || lag === 0) this.progress.set(k, { next, since: now });
      const stalledForMs = now - (this.progress.get(k)?.since ?? now);
      const isStalled = mine !== undefined && lag > 0 && stalledForMs >= this.o.stallTimeoutMs && !r.logMismatch;
      if (mine) metrics.partitionStalled.set(labels, isStalled ? 1 : 0);
      if (isStalled) stalled.push({ topic: r.topic, partition: r.partition, lag, stalledForMs });
      if (mine) maxLag = Math.max(maxLag, lag);
    }
    // The local projector knows why it stopped; an API-only process reads the reasons stored with the offsets.
    const logMismatch = this.o.mismatches
      ? await this.o.mismatches()
      : stored.filter((r) => r.logMismatch).map((r) => ({ topic: r.topic, partition: r.partition, reason: r.logMismatch as string }));
    this.report = { ...this.report, maxLag, stalled, logMismatch };
  }

  private compose(now: number): HealthReport {
    const down = this.brokerOk ? 0 : now - this.lastBrokerOk;
    const reasons: string[] = [];
    if (down > this.o.brokerTimeoutMs) reasons.push(`broker unreachable for ${Math.round(down / 1000)} s (READY_BROKER_TIMEOUT_MS=${this.o.brokerTimeoutMs})`);
    for (const s of this.report.stalled) {
      reasons.push(
        `partition ${s.topic}/${s.partition} stalled: lag ${s.lag}, no progress for ${Math.round((s.stalledForMs ?? 0) / 1000)} s (READY_STALL_TIMEOUT_MS=${this.o.stallTimeoutMs})`,
      );
    }
    for (const m of this.report.logMismatch) reasons.push(`partition ${m.topic}/${m.partition} stopped, log mismatch: ${m.reason}`);
    return { ...this.report, brokerReachable: this.brokerOk, brokerUnreachableForMs: down, reasons };
  }
}
