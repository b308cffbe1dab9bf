// The users projector wired by hand around the runtime's Projector class (as service.ts does), in this
// process, with either Kafka adapter behind the ConsumerPort: the side-by-side client comparison.
import {
  createConsumer,
  createLogger,
  createMetrics,
  createPool,
  type KafkaClient,
  KafkaJsAdmin,
  loadConfig,
  migrate,
  type PartitionOffsets,
  Projector,
  serviceMigrations,
} from "@idp/runtime";
import { usersService } from "../../services/users/src/index.ts";
import { cfg, cpuPer1k, now, ProgressProbe } from "./common.ts";
import { RssSampler } from "./proc.ts";
import { type StatementStats, startSqlTiming } from "./sql-timing.ts";

export type Adapter = KafkaClient;

export interface InProcessResult {
  adapter: Adapter;
  eventsPerSecond: number;
  seconds: number;
  secondsFromStart: number;
  rss: { minMiB: number; maxMiB: number; lastMiB: number; samples: number };
  cpu: ReturnType<typeof cpuPer1k>;
  /** With BENCH_SQL_TIMING=true: wall time per statement kind, summed over connections. */
  statements?: StatementStats[];
}

export async function inProcessProjector(adapter: Adapter, topic: string, ends: PartitionOffsets[], schema: string): Promise<InProcessResult> {
  const logger = createLogger("users", "warn");
  const pool = createPool({ connectionString: cfg.databaseUrl, schema, max: cfg.concurrency + 2, applicationName: `bench:${adapter}` });
  await migrate(pool, schema, serviceMigrations(usersService));
  const admin = new KafkaJsAdmin({ brokers: cfg.brokers, clientId: "bench-admin", logger });
  const common = {
    brokers: cfg.brokers,
    clientId: `bench-${adapter}`,
    groupId: `bench_${schema}`,
    partitionsConsumedConcurrently: cfg.concurrency,
    maxBytesPerPartition: cfg.maxBytesPerPartition,
    sessionTimeoutMs: 30_000,
    logger,
  };
  const consumer = createConsumer(adapter, common);
  const projector = new Projector({
    projection: usersService.projection,
    catalog: usersService.catalog,
    pool,
    consumer,
    admin,
    topics: [topic],
    logger,
    metrics: createMetrics({ projection: usersService.projection.name }),
    // As the service would run it (WRITE_BEHIND_* from the environment, else the defaults).
    writeBehind: loadConfig("users", 0, { ...process.env, AUTH_MODE: "dev" }).writeBehind,
  });
  const probe = new ProgressProbe(schema, topic, ends, { pid: process.pid, backendApp: `bench:${adapter}` });
  await probe.open();
  global.gc?.();
  const rss = new RssSampler(process.pid).start();
  const timing = process.env.BENCH_SQL_TIMING === "true" ? startSqlTiming() : undefined;
  const t0 = now();
  try {
    await projector.start();
    const r = await probe.waitCaughtUp(30 * 60_000);
    rss.stop();
    const statements = timing?.stop();
    const seconds = (r.doneAt - r.firstAt) / 1000;
    return {
      adapter,
      eventsPerSecond: Math.round((r.total - r.firstConsumed) / seconds),
      seconds,
      secondsFromStart: (r.doneAt - t0) / 1000,
      rss: rss.summary(r.firstAt, r.doneAt),
      cpu: cpuPer1k(r),
      ...(statements ? { statements } : {}),
    };
  } finally {
    timing?.stop();
    rss.stop();
    await projector.stop();
    await probe.close();
    await admin.close();
    await pool.end();
  }
}
