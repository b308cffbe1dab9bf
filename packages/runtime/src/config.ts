// Service configuration from the environment (12-factor); validated once at start with clear messages.
import { z } from "zod";
import type { AuthConfig } from "./http/auth.ts";

const bool = z
  .enum(["true", "false", "1", "0"])
  .transform((v) => v === "true" || v === "1");

const envSchema = z.object({
  KAFKA_BROKERS: z.string().default("127.0.0.1:19092"),
  DATABASE_URL: z.string().default("postgres://postgres@127.0.0.1:5432/idp"),
  /** Connection used by the query API; defaults to DATABASE_URL. Point it at a read replica to scale reads. */
  DATABASE_URL_QUERY: z.string().optional(),
  /** Connections of the query API's pool (each is a PostgreSQL backend process). */
  DB_QUERY_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  DB_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/).optional(),
  TOPICS: z.string().default("identity.events"),
  TOPIC_PARTITIONS: z.coerce.number().int().min(1).max(1000).default(4),
  GROUP_ID: z.string().optional(),
  HTTP_HOST: z.string().default("127.0.0.1"),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  AUTH_MODE: z.enum(["jwt", "dev"]).default("jwt"),
  AUTH_JWT_SECRET: z.string().optional(),
  AUTH_JWKS_URL: z.url().optional(),
  AUTH_JWKS_FILE: z.string().optional(),
  AUTH_ISSUER: z.string().optional(),
  AUTH_AUDIENCE: z.string().default("idp-projectors"),
  READY_MAX_LAG: z.coerce.number().int().min(0).default(1000),
  MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(3),
  PARTITIONS_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  /** Largest fetch per partition, so the largest batch (one transaction) while catching up. */
  KAFKA_FETCH_MAX_BYTES_PER_PARTITION: z.coerce.number().int().min(64 * 1024).max(64 * 1024 * 1024).default(2 * 1024 * 1024),
  /** How long a crashed member keeps its partitions before the group reassigns them. */
  KAFKA_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6000).max(300_000).default(30_000),
  PROJECTOR_ENABLED: bool.default(true),
  API_ENABLED: bool.default(true),
  /** Longest a query waits for an X-Min-Position before answering 503 projection_behind. */
  READ_YOUR_WRITES_TIMEOUT_MS: z.coerce.number().int().min(0).max(60_000).default(5000),
  RATE_LIMIT_PER_SECOND: z.coerce.number().min(0).default(500),
  RATE_LIMIT_BURST: z.coerce.number().int().min(1).default(1000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export interface ServiceConfig {
  service: string;
  kafkaBrokers: string[];
  databaseUrl: string;
  databaseUrlQuery: string;
  queryPoolSize: number;
  schema: string;
  topics: string[];
  topicPartitions: number;
  groupId: string;
  httpHost: string;
  httpPort: number;
  auth: AuthConfig;
  readyMaxLag: number;
  maxAttempts: number;
  partitionsConcurrency: number;
  fetchMaxBytesPerPartition: number;
  sessionTimeoutMs: number;
  projectorEnabled: boolean;
  apiEnabled: boolean;
  logLevel: string;
  rateLimit: { perSecond: number; burst: number };
  readYourWritesTimeoutMs: number;
}

export function loadConfig(service: string, defaultPort: number, env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`).join("\n");
    throw new Error(`invalid configuration for ${service}:\n${lines}`);
  }
  const e = parsed.data;
  return {
    service,
    kafkaBrokers: e.KAFKA_BROKERS.split(",").map((s) => s.trim()).filter(Boolean),
    databaseUrl: e.DATABASE_URL,
    databaseUrlQuery: e.DATABASE_URL_QUERY ?? e.DATABASE_URL,
    queryPoolSize: e.DB_QUERY_POOL_SIZE,
    schema: e.DB_SCHEMA ?? service.replaceAll("-", "_"),
    topics: e.TOPICS.split(",").map((s) => s.trim()).filter(Boolean),
    topicPartitions: e.TOPIC_PARTITIONS,
    groupId: e.GROUP_ID ?? `idp-${service}`,
    httpHost: e.HTTP_HOST,
    httpPort: e.HTTP_PORT ?? defaultPort,
    auth: {
      mode: e.AUTH_MODE,
      audience: e.AUTH_AUDIENCE,
      ...(e.AUTH_JWT_SECRET ? { jwtSecret: e.AUTH_JWT_SECRET } : {}),
      ...(e.AUTH_JWKS_URL ? { jwksUrl: e.AUTH_JWKS_URL } : {}),
      ...(e.AUTH_JWKS_FILE ? { jwksFile: e.AUTH_JWKS_FILE } : {}),
      ...(e.AUTH_ISSUER ? { issuer: e.AUTH_ISSUER } : {}),
    },
    readyMaxLag: e.READY_MAX_LAG,
    maxAttempts: e.MAX_ATTEMPTS,
    partitionsConcurrency: e.PARTITIONS_CONCURRENCY,
    fetchMaxBytesPerPartition: e.KAFKA_FETCH_MAX_BYTES_PER_PARTITION,
    sessionTimeoutMs: e.KAFKA_SESSION_TIMEOUT_MS,
    projectorEnabled: e.PROJECTOR_ENABLED,
    apiEnabled: e.API_ENABLED,
    logLevel: e.LOG_LEVEL,
    rateLimit: { perSecond: e.RATE_LIMIT_PER_SECOND, burst: e.RATE_LIMIT_BURST },
    readYourWritesTimeoutMs: e.READ_YOUR_WRITES_TIMEOUT_MS,
  };
}
