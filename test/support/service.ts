// Starts a real service (projector + API) against real Kafka and PostgreSQL, isolated by a unique topic,
// schema and consumer group; signs test tokens; waits for positions instead of sleeping.
import { formatPosition, type Position } from "@idp/events";
import { EventPublisher } from "@idp/producer";
import { KafkaJsAdmin, loadConfig, type RunningService, type ServiceDefinition, startService } from "@idp/runtime";
import { SignJWT } from "jose";
import type pg from "pg";
import { databaseUrl, kafkaBrokers, uniqueName } from "./env.ts";

export const TEST_JWT_SECRET = "test-secret-test-secret-test-secret-0123456789";
export const TEST_AUDIENCE = "idp-projectors";
export const TEST_ISSUER = "https://issuer.idp.test";

export async function signToken(claims: {
  instanceId: string;
  orgId?: string;
  scope?: string;
  /** The token's subject (the caller's user id); "test-user" by default. */
  subject?: string;
  expiresIn?: string;
  audience?: string;
  issuer?: string;
  secret?: string;
}) {
  const jwt = new SignJWT({
    // An empty instance id means "no instance claim" (operator tokens).
    ...(claims.instanceId === "" && claims.scope === "projections:admin" ? {} : { instance_id: claims.instanceId }),
    ...(claims.orgId ? { org_id: claims.orgId } : {}),
    scope: claims.scope ?? "projections:read",
  })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(claims.subject ?? "test-user")
    .setIssuer(claims.issuer ?? TEST_ISSUER)
    .setIssuedAt()
    .setAudience(claims.audience ?? TEST_AUDIENCE)
    .setExpirationTime(claims.expiresIn ?? "5m");
  return jwt.sign(new TextEncoder().encode(claims.secret ?? TEST_JWT_SECRET));
}

/** Creates a topic no other test uses. */
export async function createTopic(prefix: string, partitions = 3): Promise<string> {
  const topic = uniqueName(`t_${prefix}`);
  const admin = new KafkaJsAdmin({ brokers: kafkaBrokers(), clientId: "test-admin" });
  await admin.ensureTopic(topic, partitions);
  await admin.close();
  return topic;
}

export function serviceEnv(topic: string, schema: string, overrides: Record<string, string> = {}) {
  return {
    ...process.env,
    KAFKA_BROKERS: kafkaBrokers().join(","),
    DATABASE_URL: databaseUrl(),
    DB_SCHEMA: schema,
    TOPICS: topic,
    GROUP_ID: `g_${schema}`,
    HTTP_PORT: "0",
    AUTH_MODE: "jwt",
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    AUTH_AUDIENCE: TEST_AUDIENCE,
    AUTH_ISSUER: TEST_ISSUER,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn",
    // A killed member's partitions move on after 6 s (the broker's minimum) instead of 30 s.
    KAFKA_SESSION_TIMEOUT_MS: "6000",
    ...overrides,
  } as Record<string, string>;
}

export interface TestService {
  svc: RunningService;
  topic: string;
  schema: string;
  url: string;
  publisher: EventPublisher;
  get(path: string, instanceId: string, init?: { orgId?: string; headers?: Record<string, string> }): Promise<Response>;
  close(opts?: { keepSchema?: boolean }): Promise<void>;
}

export async function startTestService(def: ServiceDefinition, opts: { topic?: string; env?: Record<string, string> } = {}): Promise<TestService> {
  const topic = opts.topic ?? (await createTopic(def.name));
  const schema = uniqueName(def.name);
  const svc = await startService(def, loadConfig(def.name, 0, serviceEnv(topic, schema, opts.env)));
  const publisher = await EventPublisher.connect({ brokers: kafkaBrokers(), topic });
  const url = svc.url as string;
  return {
    svc,
    topic,
    schema,
    url,
    publisher,
    async get(path, instanceId, init = {}) {
      const token = await signToken({ instanceId, ...(init.orgId ? { orgId: init.orgId } : {}) });
      return fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}`, ...init.headers } });
    },
    async close({ keepSchema = false } = {}) {
      await publisher.close();
      await svc.stop();
      if (!keepSchema) await dropSchema(schema);
    },
  };
}

/** Drops a test schema and everything derived from it (rebuild shadows, old schemas kept for rollback). */
export async function dropSchema(schema: string) {
  const { default: pg } = await import("pg");
  const c = new pg.Client({ connectionString: databaseUrl() });
  await c.connect();
  const { rows } = await c.query("SELECT nspname FROM pg_namespace WHERE nspname = $1 OR nspname LIKE $2 ESCAPE '!'", [
    schema,
    `${schema.replaceAll("_", "!_")}!_%`,
  ]);
  for (const r of rows) await c.query(`DROP SCHEMA IF EXISTS "${r.nspname}" CASCADE`);
  await c.end();
}

/** Waits until the projection has applied every given position (polls its offsets table). */
export async function waitForPositions(db: pg.Pool | pg.Client, projection: string, positions: Position[], timeoutMs = 60_000) {
  const need = new Map<string, bigint>();
  for (const p of positions) {
    const k = `${p.topic}\u0000${p.partition}`;
    const o = BigInt(p.offset);
    if ((need.get(k) ?? -1n) < o) need.set(k, o);
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.query("SELECT topic, partition, next_offset::text AS next FROM projector_offsets WHERE projection = $1", [projection]);
    const done = [...need].every(([k, o]) => {
      const [topic, partition] = k.split("\u0000");
      const r = rows.find((x) => x.topic === topic && String(x.partition) === partition);
      return r && BigInt(r.next) > o;
    });
    if (done) return;
    if (Date.now() > deadline) {
      // What the projector's database sessions are doing (idle in a transaction, waiting for a lock): a stall's first clue.
      const sessions = await db
        .query(
          `SELECT state, wait_event_type AS "waitType", wait_event AS "wait", round(extract(epoch FROM now() - xact_start)) AS "xactSeconds", left(query, 120) AS query
           FROM pg_stat_activity WHERE application_name = left('projector:' || current_schema(), 63)`,
        )
        .then(
          (r) => r.rows,
          (err: Error) => err.message,
        );
      throw new Error(
        `projection ${projection} did not reach ${positions.map(formatPosition).slice(-3).join(", ")} within ${timeoutMs} ms; at ${JSON.stringify(rows)}; projector sessions ${JSON.stringify(sessions)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
