// Starts one projector service: migrations, projector (Kafka → PostgreSQL) and query API in one process.

import { fileURLToPath } from "node:url";
import type { EventCatalog } from "@idp/events";
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import type pg from "pg";
import type { Logger } from "pino";
import { loadConfig, type ServiceConfig } from "./config.ts";
import { loadMigrations, type Migration, migrate } from "./db/migrate.ts";
import { createPool } from "./db/pool.ts";
import { ReplicaLagProbe } from "./db/replica.ts";
import { HealthMonitor } from "./health.ts";
import { adminRoutes } from "./http/admin.ts";
import { createApiServer } from "./http/server.ts";
import { KafkaJsAdmin } from "./kafka/kafkajs.ts";
import { createLogger } from "./logger.ts";
import { createMetrics, type ProjectorMetrics } from "./metrics.ts";
import { PositionTracker } from "./positions.ts";
import type { Projection } from "./projection.ts";
import { createProjector, type Projector } from "./projector.ts";
import { RebuildManager } from "./rebuild/manager.ts";
import { countParked } from "./store/parked.ts";
import { registerTracing } from "./tracing.ts";

export const RUNTIME_MIGRATIONS_DIR = fileURLToPath(new URL("../migrations", import.meta.url));

export interface RouteDeps {
  /** Pool of the query API (separate from the projector's, so queries never starve projection). */
  db: pg.Pool;
  config: ServiceConfig;
  projection: Projection;
}

export interface ServiceDefinition {
  name: string;
  defaultPort: number;
  projection: Projection;
  catalog: EventCatalog;
  migrationsDir: string;
  routes: (deps: RouteDeps) => FastifyPluginAsync;
}

export interface RunningService {
  config: ServiceConfig;
  rebuilds: RebuildManager;
  app?: FastifyInstance;
  url?: string;
  projector?: Projector;
  pool: pg.Pool;
  queryPool: pg.Pool;
  metrics: ProjectorMetrics;
  logger: Logger;
  stop(): Promise<void>;
}

export function serviceMigrations(def: Pick<ServiceDefinition, "name" | "migrationsDir">): Migration[] {
  return [...loadMigrations("runtime", RUNTIME_MIGRATIONS_DIR), ...loadMigrations(def.name, def.migrationsDir)];
}

export async function startService(def: ServiceDefinition, config = loadConfig(def.name, def.defaultPort)): Promise<RunningService> {
  const logger = createLogger(def.name, config.logLevel);
  const pool = createPool({
    connectionString: config.databaseUrl,
    schema: config.schema,
    max: config.partitionsConcurrency + 2,
    applicationName: `projector:${config.schema}`.slice(0, 63),
  });
  const metrics = createMetrics({
    projection: def.projection.name,
    countParked: () => countParked(pool, def.projection.name),
  });
  const queryPool = createPool({
    connectionString: config.databaseUrlQuery,
    schema: config.schema,
    max: config.queryPoolSize,
    min: config.queryPoolSize,
    applicationName: `api:${config.schema}`.slice(0, 63),
  });
  // A streaming replica shows a commit only once it has replayed it: positions then come from it alone.
  const replicaProbe = new ReplicaLagProbe(queryPool);
  const queryReplica = await replicaProbe.isReplica().catch(() => false);
  if (queryReplica) logger.info("the query database is a streaming replica: read-your-writes positions are read from it");
  const { applied } = await migrate(pool, config.schema, serviceMigrations(def));
  if (applied.length) logger.info({ applied, schema: config.schema }, "migrations applied");

  const admin = new KafkaJsAdmin({ brokers: config.kafkaBrokers, clientId: `${def.name}-admin`, logger });
  const positions = new PositionTracker(queryPool, def.projection.name, admin, config.topics);
  let projector: Projector | undefined;
  if (config.projectorEnabled) {
    for (const topic of config.topics) await admin.ensureTopic(topic, config.topicPartitions);
    projector = createProjector({
      config,
      projection: def.projection,
      catalog: def.catalog,
      pool,
      admin,
      logger,
      metrics,
      ...(queryReplica ? {} : { onApplied: (topic: string, partition: number, next: string) => positions.noteApplied(topic, partition, next) }),
    });
    await projector.start();
  }
  const rebuilds = new RebuildManager({
    config,
    projection: def.projection,
    catalog: def.catalog,
    migrations: serviceMigrations(def),
    pool,
    admin,
    logger,
    onSwitched: () => {
      positions.reset();
      projector?.recheckLog().catch((err) => logger.error({ err }, "could not check the stored offsets after a switch"));
    },
    onProgress: (ratio) => metrics.rebuildProgress.set({ projection: def.projection.name }, ratio),
  });

  // The probe gives up after one try: its failures are what readiness reports, and it must not hang.
  const probe = new KafkaJsAdmin({ brokers: config.kafkaBrokers, clientId: `${def.name}-health`, retries: 0, requestTimeoutMs: 5000 });
  const health = new HealthMonitor({
    pool,
    projection: def.projection.name,
    admin: probe,
    topics: config.topics,
    metrics,
    logger,
    brokerTimeoutMs: config.readyBrokerTimeoutMs,
    stallTimeoutMs: config.readyStallTimeoutMs,
    ...(projector
      ? { assigned: () => projector.assignedPartitions(), mismatches: () => projector.logMismatches(), pastEnd: (tp) => projector.checkLogEnd(tp) }
      : {}),
  });
  health.start();

  let app: FastifyInstance | undefined;
  let url: string | undefined;
  let refresher: NodeJS.Timeout | undefined;
  if (config.apiEnabled) {
    app = await createApiServer({
      name: def.name,
      logger,
      auth: config.auth,
      rateLimit: config.rateLimit,
      positions: { tracker: positions, timeoutMs: config.readYourWritesTimeoutMs },
      metrics: metrics.registry,
      routes: def.routes({ db: queryPool, config, projection: def.projection }),
      adminRoutes: adminRoutes({
        pool,
        projection: def.projection,
        catalog: def.catalog,
        admin,
        topics: config.topics,
        ...(projector ? { projector } : {}),
        rebuilds,
      }),
      readiness: async () => {
        const replica = queryReplica ? await replicaProbe.sample().catch(() => undefined) : undefined;
        const db =
          replica !== undefined ||
          (await queryPool.query("SELECT 1").then(
            () => true,
            () => false,
          ));
        if (replica) metrics.replicaBehindSeconds.set({ projection: def.projection.name }, replica.behindForMs / 1000);
        const h = health.current();
        const lag = Math.max(projector?.maxLag() ?? 0, h.maxLag);
        const consuming = projector ? projector.isRunning() : true;
        const reasons = [
          ...(db ? [] : ["database unreachable"]),
          ...(consuming ? [] : ["projector not consuming"]),
          ...(lag > config.readyMaxLag ? [`lag ${lag} above READY_MAX_LAG=${config.readyMaxLag}`] : []),
          ...(replica && replica.behindForMs > config.readyReplicaMaxLagMs
            ? [
                `query replica behind for ${replica.behindForMs} ms (${replica.behindBytes} bytes of WAL received, not replayed${replica.replayPaused ? ", replay paused" : ""}) above READY_REPLICA_MAX_LAG_MS=${config.readyReplicaMaxLagMs}`,
              ]
            : []),
          ...h.reasons,
        ];
        return {
          ready: reasons.length === 0,
          checks: {
            database: db,
            consuming,
            lag,
            maxLag: config.readyMaxLag,
            broker: { reachable: h.brokerReachable, unreachableForMs: h.brokerUnreachableForMs },
            stalled: h.stalled,
            logMismatch: h.logMismatch,
            ...(queryReplica ? { replica: replica ?? null } : {}),
            reasons,
          },
        };
      },
    });
    // Replicas without a local projector (API-only, or other group members' partitions) learn progress here.
    await Promise.all([positions.refresh(), positions.prefetchPartitionCounts()]);
    refresher = setInterval(() => positions.refresh().catch(() => {}), 1000);
    refresher.unref();
    url = await app.listen({ host: config.httpHost, port: config.httpPort });
    logger.info({ url }, "query API listening");
  }

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info("shutting down: draining the current batch, leaving the group");
      clearInterval(refresher);
      health.stop();
      await rebuilds.stop();
      await app?.close().catch((err) => logger.error({ err }, "http close failed"));
      await projector?.stop().catch((err) => logger.error({ err }, "consumer stop failed"));
      await admin.close().catch(() => {});
      await probe.close().catch(() => {});
      await Promise.all([pool.end(), queryPool.end()]).catch(() => {});
      logger.info("stopped");
    })());
  return { config, rebuilds, app, url, projector, pool, queryPool, metrics, logger, stop };
}

/** Entry point of a service process: start, and stop gracefully on SIGTERM/SIGINT. */
export async function runService(def: ServiceDefinition): Promise<void> {
  let svc: RunningService;
  let tracing: { shutdown(): Promise<void> } | undefined;
  try {
    const config = loadConfig(def.name, def.defaultPort);
    // One tracer provider per process, registered before anything can start a span.
    if (config.tracing.exporter === "otlp") tracing = registerTracing(config.tracing.serviceName);
    svc = await startService(def, config);
  } catch (err) {
    console.error(`${def.name}: failed to start: ${(err as Error).message}`);
    process.exit(1);
  }
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      const force = setTimeout(() => process.exit(1), 30_000);
      force.unref();
      svc
        .stop()
        .then(() => tracing?.shutdown())
        .catch(() => {})
        .then(() => process.exit(0));
    });
  }
}
