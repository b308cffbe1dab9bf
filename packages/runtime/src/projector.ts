// Runs one projection: consumes its topics through the Kafka port and applies each batch with the
// BatchApplier, retrying with backoff. Keeps per-partition lag for readiness and metrics.
// createProjector wires it to Kafka from the service configuration, for the live service and rebuilds.
import type { EventCatalog } from "@idp/events";
import type pg from "pg";
import type { Logger } from "pino";
import { BatchApplier } from "./applier.ts";
import type { ServiceConfig } from "./config.ts";
import { classifyError } from "./errors.ts";
import { recordAttemptOf } from "./failures.ts";
import { createConsumer } from "./kafka/consumer.ts";
import type { AdminPort, BatchContext, BatchOutcome, ConsumedRecord, ConsumerPort, RecordBatch, TopicPartition } from "./kafka/port.ts";
import { LOG_CHECK_EVERY_MS, LogGuard, type LogMismatch } from "./log-guard.ts";
import type { ProjectorMetrics } from "./metrics.ts";
import type { Projection } from "./projection.ts";
import { batchTraceParent, inSpan, SpanKind, TRACE_HEADER } from "./tracing.ts";
import type { WriteBehindOptions } from "./write-behind.ts";

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
  /** Called after each commit with the partition's new next offset (read-your-writes). */
  onApplied?: (topic: string, partition: number, nextOffset: string) => void;
  /** Fold catching-up batches into a window written many at a time (write-behind.ts). */
  writeBehind?: WriteBehindOptions;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Projector {
  private readonly applier: BatchApplier;
  private readonly lag = new Map<string, number>();
  /** The next offset after the last batch applied or folded, per partition ("topic/partition"): ahead of the stored offset while a write-behind window holds it. */
  private readonly reached = new Map<string, bigint>();
  private readonly guard: LogGuard;
  private assigned: TopicPartition[] = [];
  private logCheck?: NodeJS.Timeout;
  private running = false;
  private paused = false;

  private readonly opts: ProjectorOptions;

  constructor(opts: ProjectorOptions) {
    this.opts = opts;
    this.applier = new BatchApplier({
      pool: opts.pool,
      projection: opts.projection,
      catalog: opts.catalog,
      admin: opts.admin,
      logger: opts.logger,
      maxAttempts: opts.maxAttempts ?? 3,
      ...(opts.recordFilter ? { recordFilter: opts.recordFilter } : {}),
      ...(opts.writeBehind ? { writeBehind: opts.writeBehind } : {}),
      onCommitted: (tp, next) => opts.onApplied?.(tp.topic, tp.partition, next),
      onWindow: ({ held, flushedSeconds }) => {
        const labels = { projection: opts.projection.name };
        opts.metrics.writeBehindHeld.set(labels, held);
        if (flushedSeconds !== undefined) opts.metrics.writeBehindFlush.observe(labels, flushedSeconds);
      },
      rewind: (tp, offset) => {
        try {
          opts.consumer.seek(tp, offset);
        } catch (err) {
          // Not assigned any more, or the consumer is stopping: whoever reads it next starts from the stored offset.
          opts.logger.debug({ err, ...tp }, "could not seek a partition back");
        }
      },
    });
    const { consumer } = opts;
    this.guard = new LogGuard({
      pool: opts.pool,
      projection: opts.projection.name,
      admin: opts.admin,
      logger: opts.logger,
      metrics: opts.metrics,
      pause: (tp) => consumer.pausePartitions?.([tp]),
      resume: (tp) => consumer.resumePartitions?.([tp]),
      seek: (tp, offset) => consumer.seek(tp, offset),
    });
  }

  async start(): Promise<void> {
    this.running = true;
    this.logCheck = setInterval(() => this.guard.suspect(), LOG_CHECK_EVERY_MS);
    this.logCheck.unref();
    await this.opts.consumer.start(this.opts.topics, {
      onAssigned: async (assigned) => {
        this.opts.logger.info({ assigned }, "partitions assigned");
        this.assigned = assigned;
        return this.guard.onAssigned(await this.applier.startOffsets(assigned));
      },
      onBatch: (batch, ctx) => this.onBatch(batch, ctx),
      onLogMayHaveChanged: () => this.guard.suspect(),
    });
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.logCheck);
    await this.opts.consumer.stop();
    // What the window still holds is written now; if that fails, the next start reads it again.
    await this.applier.close().catch((err) => this.opts.logger.warn({ err }, "could not flush the write-behind window on stop"));
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
    // The operator placed this position on the log read now: a stopped partition may go on from there.
    this.guard.accept({ topic, partition }).catch((err) => this.opts.logger.error({ err, topic, partition }, "could not reset the partition's log identity"));
  }

  /** The stored offsets changed under the projector (a rebuild switch): check them again, resume stopped partitions. */
  recheckLog(): Promise<void> {
    return this.guard.recheck();
  }

  /** Partitions stopped because their stored position belongs to another log. */
  logMismatches(): Promise<LogMismatch[]> {
    return this.guard.logMismatches().then(() => this.guard.mismatches());
  }

  /** The broker's end of a partition was seen below its stored offset: stop it if that holds on a fresh look. */
  checkLogEnd(tp: TopicPartition): Promise<void> {
    return this.guard.checkEnd(tp);
  }

  /** The partitions assigned to this member by the last rebalance. */
  assignedPartitions(): TopicPartition[] {
    return this.assigned;
  }

  /** How far each partition is applied or folded into the write-behind window, committed or not (progress, not a position to resume from). */
  reachedOffsets(): ReadonlyMap<string, bigint> {
    return this.reached;
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
    const trace = batchTraceParent(batch.records.map((r) => r.headers[TRACE_HEADER]));
    for (let attempt = 0; ; attempt++) {
      if (!ctx.isActive()) return { kind: "abandon" };
      const timer = metrics.batchDuration.startTimer(labels);
      try {
        // Is the stored position still one of this log? (May read the broker: retried like a batch.)
        const refused = await this.guard.beforeBatch(batch);
        if (refused) {
          // Without per-partition pause (another client adapter) the refused batch comes again: not in a hot loop.
          if (refused.kind === "abandon" && !this.opts.consumer.pausePartitions) await sleep(1000);
          return refused;
        }
        const result = await inSpan(
          `apply ${projection.name}`,
          {
            kind: SpanKind.CONSUMER,
            ...trace,
            attributes: {
              "messaging.system": "kafka",
              "messaging.operation.type": "process",
              "messaging.destination.name": batch.topic,
              "messaging.destination.partition.id": String(batch.partition),
              "messaging.batch.message_count": batch.records.length,
              "idp.first_offset": batch.records[0]?.offset ?? "",
              "idp.attempt": attempt,
            },
          },
          async (span) => {
            const r = await this.applier.apply(batch);
            if (r.stats) span.setAttributes({ "idp.applied": r.stats.applied, "idp.parked": r.stats.parked, "idp.duplicates": r.stats.duplicates });
            return r;
          },
        );
        timer();
        if (result.kind === "done") {
          this.guard.afterBatch(batch, result.nextOffset);
          const s = result.stats;
          if (s) {
            metrics.eventsApplied.inc(labels, s.applied);
            metrics.eventsIgnored.inc(labels, s.ignored);
            metrics.duplicates.inc(labels, s.duplicates);
            metrics.outOfOrder.inc(labels, s.outOfOrder);
            metrics.eventsParked.inc(labels, s.parked);
          }
          const tpKey = `${batch.topic}/${batch.partition}`;
          this.reached.set(tpKey, BigInt(result.nextOffset));
          const lag = Number(BigInt(batch.highWatermark) - BigInt(result.nextOffset));
          this.lag.set(tpKey, Math.max(0, lag));
          metrics.partitionLag.set({ ...labels, topic: batch.topic, partition: String(batch.partition) }, Math.max(0, lag));
        }
        return result;
      } catch (err) {
        const kind = classifyError(err);
        metrics.batchRetries.inc({ ...labels, kind });
        // A failing record's backoff grows with its own attempts, not with the batch's earlier records.
        const delay = Math.min(10_000, 100 * 2 ** Math.min((recordAttemptOf(err) ?? attempt + 1) - 1, 7)) * (0.5 + Math.random() / 2);
        logger.warn(
          {
            err: { message: (err as Error).message, code: (err as { code?: string }).code },
            kind,
            attempt,
            topic: batch.topic,
            partition: batch.partition,
            retryInMs: Math.round(delay),
          },
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

export interface ProjectorSetup {
  config: ServiceConfig;
  projection: Projection;
  catalog: EventCatalog;
  /** Pool of the schema the projector writes (the live schema, or a rebuild's shadow). */
  pool: pg.Pool;
  admin: AdminPort;
  logger: Logger;
  metrics: ProjectorMetrics;
  /** A rebuild's shadow schema: the projector then consumes in its own group, from the beginning. */
  shadowSchema?: string;
  recordFilter?: (r: ConsumedRecord) => boolean;
  onApplied?: ProjectorOptions["onApplied"];
}

/** A projector consuming the service's topics with the configured Kafka client. */
export function createProjector(s: ProjectorSetup): Projector {
  const { config } = s;
  return new Projector({
    projection: s.projection,
    catalog: s.catalog,
    pool: s.pool,
    consumer: createConsumer(config.kafkaClient, {
      brokers: config.kafkaBrokers,
      clientId: `${config.service}-${s.shadowSchema === undefined ? "projector" : "rebuild"}`,
      groupId: s.shadowSchema === undefined ? config.groupId : `${config.groupId}-${s.shadowSchema}`,
      partitionsConsumedConcurrently: config.partitionsConcurrency,
      maxBytesPerPartition: config.fetchMaxBytesPerPartition,
      sessionTimeoutMs: config.sessionTimeoutMs,
      logger: s.logger,
    }),
    admin: s.admin,
    topics: config.topics,
    logger: s.logger,
    metrics: s.metrics,
    maxAttempts: config.maxAttempts,
    writeBehind: config.writeBehind,
    ...(s.recordFilter ? { recordFilter: s.recordFilter } : {}),
    ...(s.onApplied ? { onApplied: s.onApplied } : {}),
  });
}
