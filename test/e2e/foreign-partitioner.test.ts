// A producer that partitions by another hash than Java's murmur2: librdkafka's default partitioner
// (consistent_random) takes CRC32 of the key modulo the partition count. The projector learns from the
// log which partition each instance's events arrived on; positions, per-instance lag and a
// single-instance rebuild must follow that, not the partition murmur2 would have chosen.

import { crc32 } from "node:zlib";
import { partitionForKey } from "@idp/events";
import { encodeEvent } from "@idp/producer";
import { generateHistory } from "@idp/producer/src/history.ts";
import { KafkaJsAdmin } from "@idp/runtime";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { adminCall, waitForRebuild } from "../support/admin.ts";
import { kafkaBrokers } from "../support/env.ts";
import { createTopic, startTestService, type TestService, waitForPositions } from "../support/service.ts";
import { REF_COLUMNS, referenceUsers } from "../support/users-reference.ts";

const PARTITIONS = 4;
const crc32Partition = (key: string) => crc32(Buffer.from(key)) % PARTITIONS;
const history = generateHistory({ seed: 91, instances: 6, orgsPerInstance: 1, usersPerOrg: 12, eventsPerUser: 4, prefix: "fp-" });
const instances = [...new Set(history.map((e) => e.instanceId))];
// A tenant librdkafka puts elsewhere than murmur2 would.
const target = instances.find((i) => crc32Partition(i) !== partitionForKey(i, PARTITIONS)) as string;
const partition = crc32Partition(target ?? "");
let t: TestService;
let end = 0n;

beforeAll(async () => {
  const topic = await createTopic("foreign", PARTITIONS);
  t = await startTestService(usersService, { topic });
  const kafka = new Kafka({ clientId: "crc32-producer", brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner:
      () =>
      ({ message }) =>
        crc32Partition(String(message.key)),
  });
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: history.map((e) => encodeEvent(e)) });
  await producer.disconnect();
  const admin = new KafkaJsAdmin({ brokers: kafkaBrokers(), clientId: "foreign-test" });
  const ends = await admin.partitionOffsets(topic);
  await admin.close();
  end = BigInt(ends.find((p) => p.partition === partition)?.high ?? "0");
  const last = ends.filter((p) => p.high !== "0").map((p) => ({ topic, partition: p.partition, offset: (BigInt(p.high) - 1n).toString() }));
  await waitForPositions(t.svc.pool, "users", last);
});
afterAll(async () => t?.close());

const tenantRows = async () => (await t.svc.pool.query(`SELECT ${REF_COLUMNS} FROM users WHERE instance_id = $1 ORDER BY id`, [target])).rows;
const expected = () => [...referenceUsers(history).values()].filter((u) => u.instance_id === target).sort((a, b) => a.id.localeCompare(b.id));

it("X-Projection-Position names the partition the tenant's events are on", async () => {
  expect(target).toBeDefined();
  expect(end).toBeGreaterThan(0n);
  const res = await t.get("/v1/users?limit=1", target);
  expect(res.status).toBe(200);
  expect(res.headers.get("x-projection-position")).toBe(`${t.topic}:${partition}:${end - 1n}`);
});

it("per-instance lag is the lag of that partition", async () => {
  const { status, json } = await adminCall(t.url, "GET", `/instances/${target}/lag`);
  expect(status).toBe(200);
  expect(json.topics).toEqual([{ topic: t.topic, partition, lag: 0 }]);
});

it("a single-instance rebuild replays the tenant's partition and repairs its rows", async () => {
  expect(await tenantRows()).toEqual(expected());
  await t.svc.pool.query(
    "UPDATE users SET username = 'corrupted' WHERE instance_id = $1 AND id IN (SELECT id FROM users WHERE instance_id = $1 ORDER BY id LIMIT 3)",
    [target],
  );
  await t.svc.pool.query("DELETE FROM users WHERE instance_id = $1 AND id = (SELECT max(id) FROM users WHERE instance_id = $1)", [target]);
  expect((await adminCall(t.url, "POST", "/rebuild", { instanceId: target })).status).toBe(202);
  const done = await waitForRebuild(t.url);
  expect(done.state, done.error).toBe("done");
  expect(done.progress.target).toBe(Number(end)); // the tenant's partition, not murmur2's
  expect(await tenantRows()).toEqual(expected());
});
