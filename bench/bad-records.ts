// What bad records cost the good ones: the users projector applies 10,000 good events, then the same
// 10,000 with 100 bad records interleaved (garbage Avro and key ≠ instance-id, each its own aggregate),
// in the same process, each run from a fresh schema and consumer group. Decoding and the contract are
// deterministic, so a bad record parks on first sight: the delay is what parking costs, not retries.
//   npx tsx bench/bad-records.ts [good=10000] [bad=100] [rounds=3]
// Prints the median time from partitions assigned to caught up for each run kind and the difference.
import { catalog, userHumanAdded } from "@idp/events";
import { EventPublisher, encodeEvent, event } from "@idp/producer";
import { generateHistory } from "@idp/producer/src/history.ts";
import { createLogger, createMetrics, createPool, KafkaJsAdmin, KafkaJsConsumer, migrate, Projector, serviceMigrations } from "@idp/runtime";
import { Kafka, logLevel } from "kafkajs";
import { usersService } from "../services/users/src/index.ts";
import { cfg, dropSchema, log, now, round, sleep, stamp } from "./lib/common.ts";

const good = Number(process.argv[2] ?? 10_000);
const bad = Number(process.argv[3] ?? 100);
const rounds = Number(process.argv[4] ?? 3);
const partitions = cfg.partitions;

const history = generateHistory({ seed: 11, instances: 10, orgsPerInstance: 4, usersPerOrg: Math.ceil(good / 300), eventsPerUser: 7, prefix: "br-" }).slice(
  0,
  good,
);

/** Bad record i: a handled type with fine headers but garbage Avro, or (odd i) a key other than its instance id. */
function badRecord(i: number) {
  const envelope = { instanceId: `bad-${i}`, aggregateId: `bad-${i}`, resourceOwner: "o", aggregateSequence: 1 };
  const r = encodeEvent(
    event(userHumanAdded, envelope, { userName: `bad-${i}`, firstName: "B", lastName: "R", email: "b@x.example", changeRequired: false }),
    catalog,
  );
  return i % 2 === 0 ? { key: r.key, value: Buffer.from("not avro"), headers: r.headers } : { key: `${r.key}-other`, value: r.value, headers: r.headers };
}

async function publishTopic(withBad: boolean): Promise<string> {
  const topic = `bench.bad.${stamp}.${withBad ? "mixed" : "good"}`;
  const admin = new KafkaJsAdmin({ brokers: cfg.brokers, clientId: "bench-admin" });
  await admin.ensureTopic(topic, partitions);
  await admin.close();
  const publisher = await EventPublisher.connect({ brokers: cfg.brokers, topic });
  const raw = new Kafka({ brokers: cfg.brokers, clientId: "bench-raw", logLevel: logLevel.NOTHING }).producer();
  await raw.connect();
  const chunk = Math.ceil(good / bad);
  for (let i = 0, b = 0; i < history.length; i += chunk, b++) {
    await publisher.publish(history.slice(i, i + chunk));
    if (withBad && b < bad) await raw.send({ topic, acks: -1, messages: [badRecord(b)] });
  }
  await publisher.close();
  await raw.disconnect();
  return topic;
}

/** Seconds from partitions assigned to every partition caught up, seconds inside batch transactions (summed over partitions), parked, retries. */
async function run(topic: string, label: string): Promise<{ seconds: number; applying: number; parked: number; retries: number }> {
  const schema = `bench_bad_${stamp}_${label}`;
  const logger = createLogger("users", "error");
  const pool = createPool({ connectionString: cfg.databaseUrl, schema, max: cfg.concurrency + 2 });
  await migrate(pool, schema, serviceMigrations(usersService));
  const admin = new KafkaJsAdmin({ brokers: cfg.brokers, clientId: "bench-admin", logger });
  const ends = await admin.partitionOffsets(topic);
  const metrics = createMetrics({ projection: "users" });
  const projector = new Projector({
    projection: usersService.projection,
    catalog: usersService.catalog,
    pool,
    consumer: new KafkaJsConsumer({
      brokers: cfg.brokers,
      clientId: "bench-bad",
      groupId: `bench_${schema}`,
      partitionsConsumedConcurrently: cfg.concurrency,
      logger,
    }),
    admin,
    topics: [topic],
    logger,
    metrics,
  });
  try {
    // Polled while the consumer starts: the applier writes the offsets rows on assignment, before any batch.
    const started = projector.start();
    let assignedAt: number | undefined;
    for (;;) {
      const { rows } = await pool.query("SELECT partition, next_offset::text AS next FROM projector_offsets WHERE topic = $1", [topic]);
      if (assignedAt === undefined && rows.length > 0) assignedAt = now();
      if (rows.length === ends.length && ends.every((e) => rows.find((r) => r.partition === e.partition)?.next === e.high)) break;
      await sleep(5);
    }
    const seconds = (now() - (assignedAt as number)) / 1000;
    await started;
    const parked = (await pool.query("SELECT count(*)::int AS n FROM projector_parked_events")).rows[0].n as number;
    const retries = (await metrics.batchRetries.get()).values.reduce((n, v) => n + v.value, 0);
    const applying = (await metrics.batchDuration.get()).values.find((v) => v.metricName === "projector_batch_duration_seconds_sum")?.value ?? Number.NaN;
    return { seconds, applying, parked, retries };
  } finally {
    await projector.stop();
    await admin.close();
    await pool.end();
    if (!cfg.keep) await dropSchema(schema);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

log(`publishing ${good} good events, and again with ${bad} bad records interleaved (${partitions} partitions)`);
const goodTopic = await publishTopic(false);
const mixedTopic = await publishTopic(true);
const times = { good: [] as number[], mixed: [] as number[], goodApplying: [] as number[], mixedApplying: [] as number[] };
for (let r = 0; r < rounds; r++) {
  const g = await run(goodTopic, `g${r}`);
  const m = await run(mixedTopic, `m${r}`);
  if (g.parked !== 0 || m.parked !== bad) throw new Error(`expected 0 and ${bad} parked, got ${g.parked} and ${m.parked}`);
  log(
    `round ${r + 1}: good ${round(g.seconds, 3)} s (${round(g.applying, 3)} s in batches), with bad ${round(m.seconds, 3)} s (${round(m.applying, 3)} s in batches; ` +
      `${m.parked} parked, ${m.retries} batch retries)`,
  );
  times.good.push(g.seconds);
  times.mixed.push(m.seconds);
  times.goodApplying.push(g.applying);
  times.mixedApplying.push(m.applying);
}
const delay = median(times.mixed) - median(times.good);
const delayApplying = median(times.mixedApplying) - median(times.goodApplying);
console.log(
  `| run (median of ${rounds}) | assigned → caught up, s | inside batch transactions, s |\n|---|---|---|\n` +
    `| ${good} good | ${round(median(times.good), 3)} | ${round(median(times.goodApplying), 3)} |\n` +
    `| ${good} good + ${bad} bad | ${round(median(times.mixed), 3)} | ${round(median(times.mixedApplying), 3)} |\n` +
    `\ndelay of the good events: ${round(delay, 3)} s in total (wall clock), ${round(delayApplying, 3)} s inside batches`,
);
if (!cfg.keep) {
  const admin = new Kafka({ brokers: cfg.brokers, clientId: "bench-admin", logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [goodTopic, mixedTopic] }).catch(() => {});
  await admin.disconnect();
}
