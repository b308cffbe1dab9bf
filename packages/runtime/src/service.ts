// Starts one projector service: migrations, projector (Kafka → PostgreSQL) and query API in one process.
import type { EventCatalog } from "@idp/events";
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import type pg from "pg";
import type { Logger } from "pino";
import { type ServiceConfig, loadConfig } from "./config.ts";
import { type Migration, loadMigrations, migrate } from "./db/migrate.ts";
import { createPool } from "./db/pool.ts";
import { adminRoutes } from "./http/admin.ts";
import { createApiServer } from "./http/server.ts";
import { KafkaJsAdmin, KafkaJsConsumer } from "./kafka/kafkajs.ts";
import { createLogger } from "./logger.ts";
import { type ProjectorMetrics, createMetrics } from "./metrics.ts";
import type { Projection } from "./projection.ts";
import { PositionTracker } from "./positions.ts";
import { RebuildManager } from "./rebuild.ts";
import { Projector } from "./projector.ts";
import { fileURLToPath } from "node:url";

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
  const pool = createPool({ connectionString: config.databaseUrl, schema: config.schema, max: config.partitionsConcurrency + 2, applicationName: `projector:${config.schema}`.slice(0, 63) });
  const metrics = createMetrics({
    projection: def.projection.name,
    countParked: async () =>
      (await pool.query("SELECT count(*)::int AS n FROM projector_parked_events WHERE projection = $1 AND status = 'parked'", [def.projection.name])).rows[0].n,
  });
  const queryPool = createPool({ connectionString: config.databaseUrlQuery, schema: config.schema, max: config.queryPoolSize, min: config.queryPoolSize, applicationName: `api:${config.schema}`.slice(0, 63) });
  const { applied } = await migrate(pool, config.schema, serviceMigrations(def));
  if (applied.length) logger.info({ applied, schema: config.schema }, "migrations applied");

  const admin = new KafkaJsAdmin({ brokers: config.kafkaBrokers, clientId: `${def.name}-admin`, logger });
  const positions = new PositionTracker(queryPool, def.projection.name, admin, config.topics);
  let projector: Projector | undefined;
  if (config.projectorEnabled) {
    for (const topic of config.topics) await admin.ensureTopic(topic, config.topicPartitions);
    projector = new Projector({
      projection: def.projection,
      catalog: def.catalog,
      pool,
      consumer: new KafkaJsConsumer({
        brokers: config.kafkaBrokers,
        clientId: `${def.name}-projector`,
        groupId: config.groupId,
        partitionsConsumedConcurrently: config.partitionsConcurrency,
        maxBytesPerPartition: config.fetchMaxBytesPerPartition,
        sessionTimeoutMs: config.sessionTimeoutMs,
        logger,
      }),
      admin,
      topics: config.topics,
      logger,
      metrics,
      maxAttempts: config.maxAttempts,
      onApplied: (topic, partition, next) => positions.noteApplied(topic, partition, next),
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
    onSwitched: () => positions.reset(),
    onProgress: (ratio) => metrics.rebuildProgress.set({ projection: def.projection.name }, ratio),
  });

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
      adminRoutes: adminRoutes({ pool, projection: def.projection, admin, topics: config.topics, ...(projector ? { projector } : {}), rebuilds }),
      readiness: async () => {
        const db = await queryPool.query("SELECT 1").then(() => true, () => false);
        const lag = projector?.maxLag() ?? 0;
        const consuming = projector ? projector.isRunning() : true;
        return { ready: db && consuming && lag <= config.readyMaxLag, checks: { database: db, consuming, lag, maxLag: config.readyMaxLag } };
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
      await rebuilds.stop();
      await app?.close().catch((err) => logger.error({ err }, "http close failed"));
      await projector?.stop().catch((err) => logger.error({ err }, "consumer stop failed"));
      await admin.close().catch(() => {});
      await Promise.all([pool.end(), queryPool.end()]).catch(() => {});
      logger.info("stopped");
    })());
  return { config, rebuilds, app, url, projector, pool, queryPool, metrics, logger, stop };
}

/** Entry point of a service process: start, and stop gracefully on SIGTERM/SIGINT. */
export async function runService(def: ServiceDefinition): Promise<void> {
  let svc: RunningService;
  try {
    svc = await startService(def);
  } catch (err) {
    console.error(`${def.name}: failed to start: ${(err as Error).message}`);
    process.exit(1);
  }
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      const force = setTimeout(() => process.exit(1), 30_000);
      force.unref();
      svc.stop().then(() => process.exit(0));
    });
  }
}
