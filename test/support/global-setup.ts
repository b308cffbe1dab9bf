// Real Kafka and PostgreSQL for the whole run: KAFKA_BROKERS / DATABASE_URL when set; otherwise
// testcontainers when a Docker engine answers; otherwise the local broker (infra/kafka.sh, Kafka from
// Maven) and the local PostgreSQL (infra/postgres.sh). Workers inherit the resulting env.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const exec = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));

async function dockerAvailable(): Promise<boolean> {
  if (process.env.TESTCONTAINERS === "0") return false;
  try {
    const { getContainerRuntimeClient } = await import("testcontainers");
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false; // "Could not find a working container runtime strategy"
  }
}

const lastLine = (out: string, key: string) => {
  const m = new RegExp(`^${key}=(.+)$`, "m").exec(out);
  if (!m) throw new Error(`expected a ${key}= line, got:\n${out}`);
  return (m[1] as string).trim();
};

export default async function setup() {
  const stops: (() => Promise<unknown>)[] = [];
  const docker = (!process.env.KAFKA_BROKERS || !process.env.DATABASE_URL) && (await dockerAvailable());
  if (!process.env.KAFKA_BROKERS) {
    if (docker) {
      const { GenericContainer, Wait } = await import("testcontainers");
      const kafka = await new GenericContainer("apache/kafka:3.9.1")
        .withExposedPorts({ container: 19092, host: 19092 })
        .withEnvironment({
          KAFKA_NODE_ID: "1",
          KAFKA_PROCESS_ROLES: "broker,controller",
          KAFKA_LISTENERS: "PLAINTEXT://0.0.0.0:19092,CONTROLLER://0.0.0.0:19093",
          KAFKA_ADVERTISED_LISTENERS: "PLAINTEXT://127.0.0.1:19092",
          KAFKA_CONTROLLER_LISTENER_NAMES: "CONTROLLER",
          KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
          KAFKA_CONTROLLER_QUORUM_VOTERS: "1@localhost:19093",
          KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: "1",
          KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: "1",
          KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: "1",
          KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: "0",
        })
        .withWaitStrategy(Wait.forLogMessage("Kafka Server started"))
        .start();
      stops.push(() => kafka.stop());
      process.env.KAFKA_BROKERS = "127.0.0.1:19092";
    } else {
      const { stdout } = await exec("bash", ["infra/kafka.sh", "start"], { cwd: root, timeout: 600_000 });
      process.env.KAFKA_BROKERS = lastLine(stdout, "KAFKA_BROKERS");
      // Left running for the next run (the script is idempotent); .ci/run stops it.
    }
  }
  if (!process.env.DATABASE_URL) {
    if (docker) {
      const { GenericContainer, Wait } = await import("testcontainers");
      const pg = await new GenericContainer("postgres:16")
        .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: "trust", POSTGRES_DB: "idp" })
        .withExposedPorts(5432)
        .withWaitStrategy(Wait.forLogMessage(/ready to accept connections/, 2))
        .start();
      stops.push(() => pg.stop());
      process.env.DATABASE_URL = `postgres://postgres@${pg.getHost()}:${pg.getMappedPort(5432)}/idp`;
    } else {
      const { stdout } = await exec("bash", ["infra/postgres.sh", "ensure"], { cwd: root, timeout: 120_000 });
      process.env.DATABASE_URL = lastLine(stdout, "DATABASE_URL");
    }
  }
  return async () => {
    for (const stop of stops) await stop();
  };
}
