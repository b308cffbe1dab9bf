// Where the tests find real Kafka and PostgreSQL (the global setup starts them when these are unset).
import { randomBytes } from "node:crypto";

export const kafkaBrokers = () => (process.env.KAFKA_BROKERS ?? "127.0.0.1:19092").split(",");
export const databaseUrl = () => process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/idp";

/** A name no other test file or run uses: for schemas, topics and consumer groups. */
export const uniqueName = (prefix: string) => `${prefix.replace(/[^a-z0-9]/g, "_")}_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
