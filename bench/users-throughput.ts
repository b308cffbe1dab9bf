// Users projector throughput: N mixed user events already in Kafka, then the projector starts and
// catches up. Prints events/s from first applied event to caught up (and from process start).
//   npx tsx bench/users-throughput.ts [events=100000]

import { writeFileSync } from "node:fs";
import { EventPublisher } from "@idp/producer";
import { generateHistory } from "@idp/producer/src/history.ts";
import { createPool, KafkaJsAdmin, loadConfig, startService } from "@idp/runtime";
import { usersService } from "../services/users/src/index.ts";

const target = Number(process.argv[2] ?? 100_000);
const brokers = (process.env.KAFKA_BROKERS ?? "127.0.0.1:19092").split(",");
const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/idp";
const partitions = Number(process.env.BENCH_PARTITIONS ?? 4);
const stamp = Date.now().toString(36);
const topic = `bench.users.${stamp}`;
const schema = `bench_users_${stamp}`;

// ~9 events per user on average with these settings.
const usersPerOrg = Math.max(1, Math.round(target / (10 * 5 * 9)));
const history = generateHistory({ seed: 3, instances: 10, orgsPerInstance: 5, usersPerOrg, eventsPerUser: 8, prefix: "b-" }).slice(0, target);

const admin = new KafkaJsAdmin({ brokers, clientId: "bench-admin" });
await admin.ensureTopic(topic, partitions);
const publisher = await EventPublisher.connect({ brokers, topic });
const t = Date.now();
for (let i = 0; i < history.length; i += 5000) await publisher.publish(history.slice(i, i + 5000));
await publisher.close();
const produceSeconds = (Date.now() - t) / 1000;

const config = loadConfig("users", 0, {
  ...process.env,
  KAFKA_BROKERS: brokers.join(","),
  DATABASE_URL: databaseUrl,
  DB_SCHEMA: schema,
  TOPICS: topic,
  GROUP_ID: `bench-${stamp}`,
  API_ENABLED: "false",
  LOG_LEVEL: "warn",
  PARTITIONS_CONCURRENCY: String(partitions),
});
const pool = createPool({ connectionString: databaseUrl, schema, max: 2 });
const started = Date.now();
const svc = await startService(usersService, config);
let firstApplied = 0;
for (;;) {
  const { rows } = await pool.query("SELECT coalesce(sum(applied_events), 0)::int AS n FROM projector_offsets");
  const n = rows[0].n as number;
  if (n > 0 && !firstApplied) firstApplied = Date.now();
  if (n >= history.length) break;
  await new Promise((r) => setTimeout(r, 20));
}
const done = Date.now();
const rss = process.memoryUsage().rss;
await svc.stop();
const users = (await pool.query("SELECT count(*)::int AS n FROM users")).rows[0].n;
await pool.query(`DROP SCHEMA ${schema} CASCADE`);
await pool.end();
await admin.close();

const result = {
  events: history.length,
  partitions,
  produceSeconds,
  applySeconds: (done - firstApplied) / 1000,
  eventsPerSecond: Math.round(history.length / ((done - firstApplied) / 1000)),
  eventsPerSecondIncludingStartup: Math.round(history.length / ((done - started) / 1000)),
  usersInReadModel: users,
  rssMiB: Math.round(rss / 2 ** 20),
  at: new Date().toISOString(),
};
console.table(result);
writeFileSync(`bench/results/users-throughput.json`, `${JSON.stringify(result, null, 2)}\n`);
