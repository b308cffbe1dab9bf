import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface ProjectorMetrics {
  registry: Registry;
  eventsApplied: Counter<"projection">;
  eventsIgnored: Counter<"projection">;
  duplicates: Counter<"projection">;
  eventsParked: Counter<"projection">;
  batchDuration: Histogram<"projection">;
  batchRetries: Counter<"projection" | "kind">;
  partitionLag: Gauge<"projection" | "topic" | "partition">;
  parkedOpen: Gauge<"projection">;
  rebuildProgress: Gauge<"projection">;
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
    eventsIgnored: new Counter({ name: "projector_events_ignored_total", help: "Records of event types the projection does not read", labelNames: ["projection"], ...opts }),
    duplicates: new Counter({ name: "projector_events_duplicate_total", help: "Events dropped because their aggregate sequence was already applied", labelNames: ["projection"], ...opts }),
    eventsParked: new Counter({ name: "projector_events_parked_total", help: "Events parked in projector_parked_events", labelNames: ["projection"], ...opts }),
    batchDuration: new Histogram({
      name: "projector_batch_duration_seconds",
      help: "Time to apply one batch (one transaction)",
      labelNames: ["projection"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      ...opts,
    }),
    batchRetries: new Counter({ name: "projector_batch_retries_total", help: "Batches retried after an error", labelNames: ["projection", "kind"], ...opts }),
    partitionLag: new Gauge({ name: "projector_partition_lag", help: "Records behind the partition end", labelNames: ["projection", "topic", "partition"], ...opts }),
    rebuildProgress: new Gauge({ name: "projector_rebuild_progress_ratio", help: "Progress of the running rebuild (0..1)", labelNames: ["projection"], ...opts }),
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
