import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface ProjectorMetrics {
  registry: Registry;
  eventsApplied: Counter<"projection">;
  eventsIgnored: Counter<"projection">;
  duplicates: Counter<"projection">;
  outOfOrder: Counter<"projection">;
  eventsParked: Counter<"projection">;
  batchDuration: Histogram<"projection">;
  batchRetries: Counter<"projection" | "kind">;
  partitionLag: Gauge<"projection" | "topic" | "partition">;
  parkedOpen: Gauge<"projection">;
  rebuildProgress: Gauge<"projection">;
  logMismatch: Gauge<"projection" | "topic" | "partition">;
  brokerReachable: Gauge<"projection">;
  partitionStalled: Gauge<"projection" | "topic" | "partition">;
  replicaBehindSeconds: Gauge<"projection">;
  writeBehindHeld: Gauge<"projection">;
  writeBehindFlush: Histogram<"projection">;
}

export interface MetricsOptions {
  projection: string;
  /** Read at scrape time: parked events waiting for an operator. */
  countParked?: () => Promise<number>;
}

export function createMetrics(o: MetricsOptions): ProjectorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const opts = { registers: [registry] };
  return {
    registry,
    eventsApplied: new Counter({ name: "projector_events_applied_total", help: "Events applied to the read model", labelNames: ["projection"], ...opts }),
    eventsIgnored: new Counter({
      name: "projector_events_ignored_total",
      help: "Records of event types the projection does not read",
      labelNames: ["projection"],
      ...opts,
    }),
    duplicates: new Counter({
      name: "projector_events_duplicate_total",
      help: "Events dropped because their aggregate sequence was already applied",
      labelNames: ["projection"],
      ...opts,
    }),
    outOfOrder: new Counter({
      name: "projector_events_out_of_order_total",
      help: "New events at or below their aggregate's applied sequence, parked (a producer that reorders)",
      labelNames: ["projection"],
      ...opts,
    }),
    eventsParked: new Counter({
      name: "projector_events_parked_total",
      help: "Events parked for an operator (see /admin/parked)",
      labelNames: ["projection"],
      ...opts,
    }),
    batchDuration: new Histogram({
      name: "projector_batch_duration_seconds",
      help: "Time to apply one batch (one transaction)",
      labelNames: ["projection"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      ...opts,
    }),
    batchRetries: new Counter({ name: "projector_batch_retries_total", help: "Batches retried after an error", labelNames: ["projection", "kind"], ...opts }),
    partitionLag: new Gauge({
      name: "projector_partition_lag",
      help: "Records behind the partition end",
      labelNames: ["projection", "topic", "partition"],
      ...opts,
    }),
    rebuildProgress: new Gauge({
      name: "projector_rebuild_progress_ratio",
      help: "Progress of the running rebuild (0..1)",
      labelNames: ["projection"],
      ...opts,
    }),
    logMismatch: new Gauge({
      name: "projector_partition_log_mismatch",
      help: "1 while a partition is stopped because its stored position belongs to another log (reset broker, re-created topic, other cluster)",
      labelNames: ["projection", "topic", "partition"],
      ...opts,
    }),
    writeBehindHeld: new Gauge({
      name: "projector_write_behind_rows",
      help: "Rows and aggregate states held by the write-behind window (bounded by WRITE_BEHIND_MAX_ROWS)",
      labelNames: ["projection"],
      ...opts,
    }),
    writeBehindFlush: new Histogram({
      name: "projector_write_behind_flush_seconds",
      help: "Time to commit one write-behind window (many batches)",
      labelNames: ["projection"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      ...opts,
    }),
    brokerReachable: new Gauge({ name: "projector_broker_reachable", help: "1 when the last broker probe succeeded", labelNames: ["projection"], ...opts }),
    partitionStalled: new Gauge({
      name: "projector_partition_stalled",
      help: "1 while a partition with lag has made no progress for READY_STALL_TIMEOUT_MS",
      labelNames: ["projection", "topic", "partition"],
      ...opts,
    }),
    replicaBehindSeconds: new Gauge({
      name: "projector_query_replica_behind_seconds",
      help: "How long the query database, a streaming replica, has been behind the WAL it received (0: caught up), as last checked by readiness",
      labelNames: ["projection"],
      ...opts,
    }),
    parkedOpen: new Gauge({
      name: "projector_parked_events",
      help: "Parked events waiting for an operator",
      labelNames: ["projection"],
      ...opts,
      async collect() {
        if (o.countParked) this.set({ projection: o.projection }, await o.countParked().catch(() => Number.NaN));
      },
    }),
  };
}
