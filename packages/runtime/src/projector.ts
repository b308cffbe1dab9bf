// Runs one projection: consumes its topics through the Kafka port and applies each batch with the
// BatchApplier, retrying with backoff. Keeps per-partition lag for readiness and metrics.
import type { EventCatalog } from "@idp/events";
import type pg from "pg";
import type { Logger } from "pino";
import { BatchApplier } from "./applier.ts";
import { classifyError } from "./errors.ts";
import type { AdminPort, BatchContext, BatchOutcome, ConsumedRecord, ConsumerPort, RecordBatch } from "./kafka/port.ts";
import type { ProjectorMetrics } from "./metrics.ts";
import type { Projection } from "./projection.ts";

export interface ProjectorOptions {
  projection: Projection;
  catalog: EventCatalog;
  pool: pg.Pool;
  consumer: ConsumerPort;
  admin: AdminPort;
  topics: string[];
  logger: Logger;
  metrics: ProjectorMetrics;
  maxAttempts?: number;
  recordFilter?: (r: ConsumedRecord) => boolean;
  /** Called after each committed batch with the partition's new next offset (read-your-writes). */
  onApplied?: (topic: string, partition: number, nextOffset: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Projector {
  private readonly applier: BatchApplier;
  private readonly lag = new Map<string, number>();
  private running = false;
  private paused = false;

  constructor(private readonly opts: ProjectorOptions) {
    this.applier = new BatchApplier({
      pool: opts.pool,
      projection: opts.projection,
      catalog: opts.catalog,
      admin: opts.admin,
      logger: opts.logger,
      maxAttempts: opts.maxAttempts ?? 3,
      ...(opts.recordFilter ? { recordFilter: opts.recordFilter } : {}),
    });
  }

  async start(): Promise<void> {
    this.running = true;
    await this.opts.consumer.start(this.opts.topics, {
      onAssigned: async (assigned) => {
        this.opts.logger.info({ assigned }, "partitions assigned");
        return this.applier.startOffsets(assigned);
      },
      onBatch: (batch, ctx) => this.onBatch(batch, ctx),
    });
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.opts.consumer.stop();
  }

  /** The applier, for operator actions that must run exactly like live processing (parked retry). */
  get batchApplier(): BatchApplier {
    return this.applier;
  }

  pause(): void {
    this.paused = true;
    this.opts.consumer.pauseTopics(this.opts.topics);
  }

  resume(): void {
    this.paused = false;
    this.opts.consumer.resumeTopics(this.opts.topics);
  }

  isPaused(): boolean {
    return this.paused;
  }

  /** Moves this member's consumer position (after an operator changed the stored offsets). */
  seek(topic: string, partition: number, offset: string): void {
    this.opts.consumer.seek({ topic, partition }, offset);
  }

  /** Largest lag over the partitions this member has seen (records behind the log end). */
  maxLag(): number {
    return Math.max(0, ...this.lag.values());
  }

  isRunning(): boolean {
    return this.running;
  }

  private async onBatch(batch: RecordBatch, ctx: BatchContext): Promise<BatchOutcome> {
    const { projection, metrics, logger } = this.opts;
    const labels = { projection: projection.name };
    for (let attempt = 0; ; attempt++) {
      if (!ctx.isActive()) return { kind: "abandon" };
      const timer = metrics.batchDuration.startTimer(labels);
      try {
        const result = await this.applier.apply(batch);
        timer();
        if (result.kind === "done") {
          this.opts.onApplied?.(batch.topic, batch.partition, result.nextOffset);
          const s = result.stats;
          if (s) {
            metrics.eventsApplied.inc(labels, s.applied);
            metrics.eventsIgnored.inc(labels, s.ignored);
            metrics.duplicates.inc(labels, s.duplicates);
            metrics.eventsParked.inc(labels, s.parked);
          }
          const lag = Number(BigInt(batch.highWatermark) - BigInt(result.nextOffset));
          this.lag.set(`${batch.topic}/${batch.partition}`, Math.max(0, lag));
          metrics.partitionLag.set({ ...labels, topic: batch.topic, partition: String(batch.partition) }, Math.max(0, lag));
        }
        return result;
      } catch (err) {
        const kind = classifyError(err);
        metrics.batchRetries.inc({ ...labels, kind });
        const delay = Math.min(10_000, 100 * 2 ** Math.min(attempt, 7)) * (0.5 + Math.random() / 2);
        logger.warn(
          { err: { message: (err as Error).message, code: (err as { code?: string }).code }, kind, attempt, topic: batch.topic, partition: batch.partition, retryInMs: Math.round(delay) },
          kind === "transient" ? "batch failed (transient), retrying" : "batch failed, retrying (the failing event parks after max attempts)",
        );
        const until = Date.now() + delay;
        while (Date.now() < until && ctx.isActive()) {
          await sleep(Math.min(1000, until - Date.now()));
          await ctx.heartbeat().catch(() => {});
        }
      }
    }
  }
}
