// A consumer that subscribes while its brokers do not know the topic yet (as right after the topic was
// created, while KRaft spreads it, or while an operator is still creating it) waits for the topic
// instead of failing to start. The shared broker has auto-creation off, so the topic is truly unknown.
import { KafkaJsAdmin, KafkaJsConsumer, type RecordBatch } from "@idp/runtime";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, expect, it } from "vitest";
import { kafkaBrokers, uniqueName } from "../support/env.ts";

const topic = uniqueName("t_not_yet_known");
const consumer = new KafkaJsConsumer({ brokers: kafkaBrokers(), clientId: "not-yet-known", groupId: uniqueName("g_not_yet_known") });
const admin = new KafkaJsAdmin({ brokers: kafkaBrokers(), clientId: "not-yet-known-admin" });

afterAll(async () => {
  await consumer.stop();
  await admin.close();
});

it("subscribing to a topic the brokers do not know yet waits for it, then consumes it", async () => {
  const batches: RecordBatch[] = [];
  const started = consumer.start([topic], {
    onAssigned: async () => [],
    onBatch: async (batch) => {
      batches.push(batch);
      return { kind: "done", nextOffset: (BigInt(batch.records.at(-1)?.offset ?? "0") + 1n).toString() };
    },
  });
  let failed: unknown;
  started.catch((err) => {
    failed = err;
  });
  await new Promise((r) => setTimeout(r, 1500));
  expect(failed).toBeUndefined(); // still waiting, not failed
  await admin.ensureTopic(topic, 1);
  await started;
  const producer = new Kafka({ brokers: kafkaBrokers(), clientId: "not-yet-known-producer", logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  await producer.send({ topic, messages: [{ key: "k", value: "v" }] });
  await producer.disconnect();
  const deadline = Date.now() + 30_000;
  while (batches.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(batches.flatMap((b) => b.records.map((r) => r.value?.toString()))).toEqual(["v"]);
}, 60_000);
