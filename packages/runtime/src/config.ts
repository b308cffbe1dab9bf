// Service configuration from the environment (12-factor); validated once at start with clear messages.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { AUTH_DEFAULTS, type AuthConfig } from "./http/auth.ts";
import { RATE_LIMIT_DEFAULTS, type RateLimitConfig } from "./http/rate-limit.ts";
import { KAFKA_CLIENTS, type KafkaClient } from "./kafka/consumer.ts";
import { WRITE_BEHIND_DEFAULTS, type WriteBehindOptions } from "./write-behind.ts";

const bool = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");

const envSchema = z.object({
  KAFKA_BROKERS: z.string().default("127.0.0.1:19092"),
  DATABASE_URL: z.string().default("postgres://postgres@127.0.0.1:5432/idp"),
  /** Connection used by the query API; defaults to DATABASE_URL. Point it at a read replica to scale reads. */
  DATABASE_URL_QUERY: z.string().optional(),
  /** Connections of the query API's pool (each is a PostgreSQL backend process). */
  DB_QUERY_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  DB_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/)
    .optional(),
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
  /** Explicit opt-out of the issuer check (tokens of any `iss` accepted); never implied by a missing AUTH_ISSUER. */
  AUTH_ALLOW_ANY_ISSUER: bool.default(false),
  AUTH_MAX_TOKEN_LIFETIME_S: z.coerce
    .number()
    .int()
    .min(1)
    .max(30 * 24 * 3600)
    .default(AUTH_DEFAULTS.maxTokenLifetimeS),
  AUTH_CLOCK_SKEW_S: z.coerce.number().int().min(0).max(600).default(AUTH_DEFAULTS.clockSkewS),
  AUTH_JWKS_REFRESH_S: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 3600)
    .default(AUTH_DEFAULTS.jwksRefreshS),
  AUTH_AUDIENCE: z.string().default("idp-projectors"),
  READY_MAX_LAG: z.coerce.number().int().min(0).default(1000),
  /** Not ready once the broker has been unreachable this long. */
  READY_BROKER_TIMEOUT_MS: z.coerce.number().int().min(500).max(3_600_000).default(15_000),
  /** Not ready once a partition with lag has made no progress this long. */
  READY_STALL_TIMEOUT_MS: z.coerce.number().int().min(500).max(3_600_000).default(60_000),
  /** Not ready once the query database, a streaming replica, has been behind the WAL it received this long. */
  READY_REPLICA_MAX_LAG_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(3),
  PARTITIONS_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  /** Largest fetch per partition, so the largest batch (one transaction) while catching up. */
  KAFKA_FETCH_MAX_BYTES_PER_PARTITION: z.coerce
    .number()
    .int()
    .min(64 * 1024)
    .max(64 * 1024 * 1024)
    .default(2 * 1024 * 1024),
  /** Write-behind (catching up): rows and aggregate states held in memory before a flush; 0 turns it off. */
  WRITE_BEHIND_MAX_ROWS: z.coerce.number().int().min(0).max(10_000_000).default(WRITE_BEHIND_DEFAULTS.maxRows),
  /** Longest a folded event waits for its flush; default 30 s, or half of READY_STALL_TIMEOUT_MS if that is less. */
  WRITE_BEHIND_MAX_DELAY_MS: z.coerce.number().int().min(10).max(600_000).optional(),
  /** A batch leaving fewer records than this behind the partition's end is written at once (caught up). */
  WRITE_BEHIND_MIN_LAG: z.coerce.number().int().min(0).default(WRITE_BEHIND_DEFAULTS.minLag),
  /** The Kafka client the projector consumes with (both behind the same port). */
  KAFKA_CLIENT: z.enum(KAFKA_CLIENTS).default("kafkajs"),
  /** How long a crashed member keeps its partitions before the group reassigns them. */
  KAFKA_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6000).max(300_000).default(30_000),
  PROJECTOR_ENABLED: bool.default(true),
  API_ENABLED: bool.default(true),
  /** Longest a query waits for an X-Min-Position before answering 503 projection_behind. */
  READ_YOUR_WRITES_TIMEOUT_MS: z.coerce.number().int().min(0).max(60_000).default(5000),
  RATE_LIMIT_PER_SECOND: z.coerce.number().min(0).default(500),
  RATE_LIMIT_BURST: z.coerce.number().int().min(1).default(1000),
  /** memory: buckets per process; redis: shared by every process of the service (RATE_LIMIT_REDIS_URL). */
  RATE_LIMIT_STORE: z.enum(["memory", "redis"]).default("memory"),
  RATE_LIMIT_REDIS_URL: z
    .string()
    .regex(/^redis:\/\//, "a redis:// URL")
    .default("redis://127.0.0.1:6379"),
  RATE_LIMIT_ADMIN_PER_SECOND: z.coerce.number().min(0).default(RATE_LIMIT_DEFAULTS.admin.perSecond),
  RATE_LIMIT_ADMIN_BURST: z.coerce.number().int().min(1).default(RATE_LIMIT_DEFAULTS.admin.burst),
  /** Per client address, for requests without a valid token (public routes included). */
  RATE_LIMIT_ANON_PER_SECOND: z.coerce.number().min(0).default(RATE_LIMIT_DEFAULTS.anonymous.perSecond),
  RATE_LIMIT_ANON_BURST: z.coerce.number().int().min(1).default(RATE_LIMIT_DEFAULTS.anonymous.burst),
  /** Cursor signing secrets, comma-separated: the first signs, all verify (rotation). Unset: one random key per process. */
  CURSOR_KEYS: z
    .string()
    .transform((v) =>
      v
        .split(",")
        .map((k) => k.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().min(32, "each cursor key needs at least 32 characters")))
    .optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  // OpenTelemetry's own variable names; the OTLP exporter reads OTEL_EXPORTER_OTLP_* itself.
  OTEL_TRACES_EXPORTER: z.enum(["none", "otlp"]).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url().optional(),
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
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
  readyBrokerTimeoutMs: number;
  readyStallTimeoutMs: number;
  readyReplicaMaxLagMs: number;
  maxAttempts: number;
  partitionsConcurrency: number;
  fetchMaxBytesPerPartition: number;
  writeBehind: WriteBehindOptions;
  sessionTimeoutMs: number;
  kafkaClient: KafkaClient;
  projectorEnabled: boolean;
  apiEnabled: boolean;
  logLevel: string;
  /** Traces exported over OTLP/HTTP (`otlp`) or not at all (`none`, the default without an OTLP endpoint). */
  tracing: { exporter: "none" | "otlp"; serviceName: string };
  rateLimit: RateLimitConfig;
  readYourWritesTimeoutMs: number;
  /** Secrets that sign pagination cursors (the first signs, all verify); empty: a random key per process. */
  cursorKeys: string[];
}

/**
 * jwt mode with an API: where the keys come from, and which issuer is trusted (or explicitly any). Read
 * from the raw environment, so these are reported together with any other invalid variable.
 */
function authProblems(env: NodeJS.ProcessEnv): string[] {
  const flag = (v: string | undefined, fallback: boolean) => (v === undefined ? fallback : v === "true" || v === "1");
  if ((env.AUTH_MODE ?? "jwt") !== "jwt" || !flag(env.API_ENABLED, true)) return [];
  const anyIssuer = flag(env.AUTH_ALLOW_ANY_ISSUER, false);
  const out: string[] = [];
  if (!env.AUTH_JWT_SECRET && !env.AUTH_JWKS_URL && !env.AUTH_JWKS_FILE) {
    out.push("  AUTH_JWT_SECRET: AUTH_MODE=jwt needs AUTH_JWT_SECRET, AUTH_JWKS_URL or AUTH_JWKS_FILE");
  }
  if (env.AUTH_JWT_SECRET && Buffer.byteLength(env.AUTH_JWT_SECRET) < 32) out.push("  AUTH_JWT_SECRET: must be at least 32 bytes");
  if (env.AUTH_JWKS_FILE) {
    try {
      const jwks = JSON.parse(readFileSync(env.AUTH_JWKS_FILE, "utf8")) as { keys?: unknown };
      if (!Array.isArray(jwks.keys)) out.push(`  AUTH_JWKS_FILE: ${env.AUTH_JWKS_FILE} is not a JWKS (no "keys" array)`);
    } catch (err) {
      out.push(`  AUTH_JWKS_FILE: cannot read ${env.AUTH_JWKS_FILE}: ${(err as Error).message}`);
    }
  }
  if (!env.AUTH_ISSUER && !anyIssuer) {
    out.push("  AUTH_ISSUER: required with AUTH_MODE=jwt (the iss every token must carry); set AUTH_ALLOW_ANY_ISSUER=true to accept any issuer");
  }
  if (env.AUTH_ISSUER && anyIssuer) out.push("  AUTH_ALLOW_ANY_ISSUER: contradicts AUTH_ISSUER; set only one of them");
  return out;
}

/** A window older than the stall timeout would make a catching-up partition look stalled between two flushes. */
function writeBehindProblems(e: z.infer<typeof envSchema>): string[] {
  if (e.WRITE_BEHIND_MAX_ROWS === 0 || e.WRITE_BEHIND_MAX_DELAY_MS === undefined || e.WRITE_BEHIND_MAX_DELAY_MS < e.READY_STALL_TIMEOUT_MS) return [];
  return [
    `  WRITE_BEHIND_MAX_DELAY_MS: ${e.WRITE_BEHIND_MAX_DELAY_MS} must stay below READY_STALL_TIMEOUT_MS (${e.READY_STALL_TIMEOUT_MS}): progress is committed once per flush`,
  ];
}

export function loadConfig(service: string, defaultPort: number, env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const parsed = envSchema.safeParse(env);
  // Every problem at once, before anything starts (no migration, no broker connection).
  const problems = [
    ...(parsed.success ? writeBehindProblems(parsed.data) : parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`)),
    ...authProblems(env),
  ];
  if (!parsed.success || problems.length) {
    throw new Error(`invalid configuration for ${service}:\n${problems.join("\n")}`);
  }
  const e = parsed.data;
  return {
    service,
    kafkaBrokers: e.KAFKA_BROKERS.split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    databaseUrl: e.DATABASE_URL,
    databaseUrlQuery: e.DATABASE_URL_QUERY ?? e.DATABASE_URL,
    queryPoolSize: e.DB_QUERY_POOL_SIZE,
    schema: e.DB_SCHEMA ?? service.replaceAll("-", "_"),
    topics: e.TOPICS.split(",")
      .map((s) => s.trim())
      .filter(Boolean),
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
      anyIssuer: e.AUTH_ALLOW_ANY_ISSUER,
      maxTokenLifetimeS: e.AUTH_MAX_TOKEN_LIFETIME_S,
      clockSkewS: e.AUTH_CLOCK_SKEW_S,
      jwksRefreshS: e.AUTH_JWKS_REFRESH_S,
    },
    readyMaxLag: e.READY_MAX_LAG,
    readyBrokerTimeoutMs: e.READY_BROKER_TIMEOUT_MS,
    readyStallTimeoutMs: e.READY_STALL_TIMEOUT_MS,
    readyReplicaMaxLagMs: e.READY_REPLICA_MAX_LAG_MS,
    maxAttempts: e.MAX_ATTEMPTS,
    partitionsConcurrency: e.PARTITIONS_CONCURRENCY,
    fetchMaxBytesPerPartition: e.KAFKA_FETCH_MAX_BYTES_PER_PARTITION,
    writeBehind: {
      maxRows: e.WRITE_BEHIND_MAX_ROWS,
      maxDelayMs: e.WRITE_BEHIND_MAX_DELAY_MS ?? Math.min(WRITE_BEHIND_DEFAULTS.maxDelayMs, Math.floor(e.READY_STALL_TIMEOUT_MS / 2)),
      minLag: e.WRITE_BEHIND_MIN_LAG,
    },
    sessionTimeoutMs: e.KAFKA_SESSION_TIMEOUT_MS,
    kafkaClient: e.KAFKA_CLIENT,
    projectorEnabled: e.PROJECTOR_ENABLED,
    apiEnabled: e.API_ENABLED,
    logLevel: e.LOG_LEVEL,
    tracing: {
      exporter: e.OTEL_TRACES_EXPORTER ?? (e.OTEL_EXPORTER_OTLP_ENDPOINT || e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? "otlp" : "none"),
      serviceName: e.OTEL_SERVICE_NAME ?? `idp-${service}`,
    },
    rateLimit: {
      perSecond: e.RATE_LIMIT_PER_SECOND,
      burst: e.RATE_LIMIT_BURST,
      admin: { perSecond: e.RATE_LIMIT_ADMIN_PER_SECOND, burst: e.RATE_LIMIT_ADMIN_BURST },
      anonymous: { perSecond: e.RATE_LIMIT_ANON_PER_SECOND, burst: e.RATE_LIMIT_ANON_BURST },
      store: e.RATE_LIMIT_STORE,
      redisUrl: e.RATE_LIMIT_REDIS_URL,
      keyPrefix: `idp-rl:${service}:`,
    },
    readYourWritesTimeoutMs: e.READ_YOUR_WRITES_TIMEOUT_MS,
    cursorKeys: e.CURSOR_KEYS ?? [],
  };
}
