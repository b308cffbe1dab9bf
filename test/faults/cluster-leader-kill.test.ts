// Fault: the leader of a partition is SIGKILLed mid-stream in a three-broker cluster, and restarted later.
// This file runs its OWN KRaft cluster (infra/kafka.sh cluster-*, brokers 28292-28294, controllers
// 28295-28297, data in .kafka-run-cluster-fault) so no other broker is touched. The topic has replication
// factor 3 and min.insync.replicas=2, the SDK's idempotent producer writes with acks=all, and the users
// service runs in-process against all three brokers. While the producer is sending, the leader of the
// busiest partition is killed: the producer and the projector must follow the new leader by themselves,
// with nothing lost and nothing applied twice; the killed node comes back and catches up. A second run
// kills the group coordinator instead: the consumer group must move to another node by itself.
import type { Position } from "@idp/events";
import { EventPublisher } from "@idp/producer";
import { generateHistory } from "@idp/producer/src/history.ts";
import { loadConfig, type RunningService, startService } from "@idp/runtime";
import { type Admin, ConfigResourceTypes, Kafka, logLevel } from "kafkajs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { uniqueName } from "../support/env.ts";
import { dropSchema, serviceEnv, waitForPositions } from "../support/service.ts";
import { appliedEvents, chunksOf, expectUsersMatchReference, faultLine, relevantCount, sleep, waitForProgress, within } from "./fault-support.ts";
import { TestCluster } from "./kafka-cluster.ts";

const BASE_PORT = 28292; // below the ephemeral range (32768+), where a client socket could hold it; broker-restart uses 28092/28093, health 28192/28193
const PARTITIONS = 4;
const cluster = new TestCluster("cluster-fault", BASE_PORT);
const schemas: string[] = [];
let admin: Admin | undefined;
let svc: RunningService | undefined;
let publisher: EventPublisher | undefined;

beforeAll(async () => {
  await cluster.create();
  admin = new Kafka({ brokers: cluster.brokers, clientId: "fault-cluster-admin", logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
});

afterAll(async () => {
  // The service and producer must leave while the cluster is whole (a failed test may have left a node down).
  await cluster.start().catch((err) => console.error(err));
  await within(admin?.disconnect() ?? Promise.resolve(), 10_000, "admin disconnect").catch((err) => console.error(err));
  await within(publisher?.close() ?? Promise.resolve(), 20_000, "publisher close").catch((err) => console.error(err));
  await within(svc?.stop() ?? Promise.resolve(), 30_000, "service stop").catch((err) => console.error(err));
  await cluster.destroy();
  for (const schema of schemas) await dropSchema(schema);
});

/** Retries an admin call: a node may not know a just-created topic for a moment ("does not host this topic-partition"). */
async function retried<T>(call: () => Promise<T>, attempts = 20): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await call();
    } catch (err) {
      if (i >= attempts) throw err;
      await sleep(500);
    }
  }
}

type Part = { partitionId: number; leader: number; isr: number[]; replicas: number[] };

/** The topic's partitions as the cluster reports them now; undefined while no broker answers. */
async function partitions(topic: string): Promise<Part[] | undefined> {
  const meta = await (admin as Admin).fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
  return meta?.topics[0]?.partitions;
}

/** Polls the topic's metadata until `ok` holds; returns the milliseconds it took. */
/** Polls the topic's partitions until `ok`; the time it took and the metadata that satisfied it. */
async function until(topic: string, ok: (ps: Part[]) => boolean, timeoutMs: number, what: string): Promise<{ ms: number; ps: Part[] }> {
  const t0 = Date.now();
  for (;;) {
    const ps = await partitions(topic);
    if (ps && ps.length === PARTITIONS && ok(ps)) return { ms: Date.now() - t0, ps };
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what} not reached within ${timeoutMs} ms: ${JSON.stringify(ps)}`);
    await sleep(100);
  }
}

/** Kills a node mid-stream: the leader of the busiest partition that is not the group coordinator, or the coordinator. */
async function killMidStream(kind: "leader" | "coordinator") {
  // The previous run's service and producer leave first (one consumer of the cluster at a time).
  await publisher?.close();
  await svc?.stop();
  const schema = uniqueName(`fault_cluster_${kind}`);
  schemas.push(schema);
  expect(cluster.brokers).toEqual(["127.0.0.1:28292", "127.0.0.1:28293", "127.0.0.1:28294"]); // never the shared broker
  const topic = uniqueName("t_fault_cluster");
  const a = admin as Admin;
  // Retried: a cluster just started may name no controller for a moment (kafkajs: "Broker -1 not found").
  await retried(() =>
    a.createTopics({
      topics: [
        {
          topic,
          // Three replicas each; leaders spread as 1,2,3,1, so that some partition with events is always
          // led by a node other than the group coordinator (the history is the same on every run).
          replicaAssignment: Array.from({ length: PARTITIONS }, (_, partition) => ({ partition, replicas: [0, 1, 2].map((i) => ((partition + i) % 3) + 1) })),
          configEntries: [
            { name: "min.insync.replicas", value: "2" },
            { name: "retention.ms", value: "-1" },
            { name: "retention.bytes", value: "-1" },
          ],
        },
      ],
      // kafkajs' own wait fails on KRaft's brief "unknown topic" answer; the poll below retries it.
      waitForLeaders: false,
    }),
  );
  await until(topic, (ps) => ps.every((p) => p.leader > 0 && p.replicas.length === 3 && p.isr.length === 3), 30_000, "all replicas in sync");
  const minIsr = async () => {
    const d = await a.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ["min.insync.replicas"] }],
      includeSynonyms: false,
    });
    return d.resources[0]?.configEntries.find((c) => c.configName === "min.insync.replicas")?.configValue;
  };
  expect(await retried(minIsr)).toBe("2");

  svc = await startService(usersService, loadConfig("users", 0, serviceEnv(topic, schema, { KAFKA_BROKERS: cluster.brokers.join(",") })));
  const pool = svc.pool;
  publisher = await EventPublisher.connect({ brokers: cluster.brokers, topic });
  const history = generateHistory({ seed: 4040, instances: 8, orgsPerInstance: 3, usersPerOrg: 30, eventsPerUser: 8, orgRemovalRate: 0.1, prefix: "cl-" });
  const expected = relevantCount(history);
  const [cut1, cut2] = [Math.floor(history.length * 0.35), Math.floor(history.length * 0.75)];
  const positions: Position[] = [];

  // Part 1: the cluster is whole; the leader is killed once the projector is seen applying.
  for (const slice of chunksOf(history.slice(0, cut1), 6)) positions.push(...(await publisher.publish(slice)));
  await waitForProgress(pool, 0, 60_000, "users projector");
  // "leader": the victim leads the busiest partition but is not the group coordinator (the leader of the
  // single __consumer_offsets partition), so the data path fails over. "coordinator": the victim is the
  // coordinator, so the group moves to another node (and the partitions it leads fail over too).
  const coordinator = (await retried(() => a.fetchTopicMetadata({ topics: ["__consumer_offsets"] }))).topics[0]?.partitions[0]?.leader;
  const perPartition = new Map<number, number>();
  for (const p of positions) perPartition.set(p.partition, (perPartition.get(p.partition) ?? 0) + 1);
  const leaders = new Map(((await partitions(topic)) ?? []).map((p) => [p.partitionId, p.leader]));
  const candidates = [...perPartition].filter(([p]) => (leaders.get(p) ?? -1) > 0 && (kind === "coordinator" || leaders.get(p) !== coordinator));
  const target = candidates.sort((x, y) => y[1] - x[1])[0]?.[0];
  if (target === undefined) throw new Error(`every partition with events is led by the coordinator (node ${coordinator}): ${JSON.stringify([...leaders])}`);
  const victim = kind === "coordinator" ? (coordinator as number) : (leaders.get(target) as number);
  if (!victim) throw new Error("no group coordinator found");

  // Part 2 is being sent when the leader dies: some sends are in flight to it, the rest find the new leader.
  const pub = publisher;
  const part2 = chunksOf(history.slice(cut1, cut2), 24);
  let sent = 0;
  const sending = (async () => {
    for (const slice of part2) {
      positions.push(...(await pub.publish(slice)));
      sent++;
    }
  })();
  while (sent < 2) await sleep(5);
  const appliedAtKill = await appliedEvents(pool);
  const killedAt = Date.now();
  const killedPid = await cluster.kill(victim);
  const failover = await until(
    topic,
    (ps) => ps.every((p) => p.leader > 0 && p.leader !== victim && !p.isr.includes(victim)),
    60_000,
    `new leaders without node ${victim}`,
  );
  const failoverMs = failover.ms;
  // From the metadata that showed the failover: a second lookup may be answered from a broker's stale metadata.
  const newLeader = failover.ps.find((p) => p.partitionId === target)?.leader;
  await sending;
  // With one node down (2 replicas left = min.insync.replicas), acks=all writes still succeed, and the
  // projector reads them from the new leader.
  await waitForPositions(pool, "users", positions, 90_000);
  const appliedWhileDown = (await appliedEvents(pool)) - appliedAtKill;
  const downMs = Date.now() - killedAt;

  // The node comes back with its old data and must catch up to rejoin every ISR.
  await cluster.start();
  const rejoinMs = (await until(topic, (ps) => ps.every((p) => p.isr.length === 3), 90_000, `node ${victim} back in every ISR`)).ms;
  for (const slice of chunksOf(history.slice(cut2), 6)) positions.push(...(await publisher.publish(slice)));
  await waitForPositions(pool, "users", positions, 90_000);

  // The log holds each event once (idempotent producer: a retried send was not written twice).
  const logRecords = (await a.fetchTopicOffsets(topic)).reduce((s, o) => s + Number(o.high) - Number(o.low), 0);
  const distinctPositions = new Set(positions.map((p) => `${p.partition}:${p.offset}`)).size;
  const applied = await appliedEvents(pool);
  faultLine(`cluster-${kind}-kill`, expected, applied, {
    partition: target,
    killedNode: victim,
    killedPid,
    coordinator: coordinator ?? "none",
    newLeader: newLeader ?? "none",
    appliedAtKill,
    appliedWhileDown,
    failoverMs,
    downMs,
    rejoinMs,
    published: history.length,
    logRecords,
  });
  expect(newLeader).not.toBe(victim);
  if (kind === "coordinator") expect(victim).toBe(coordinator);
  expect(appliedWhileDown).toBeGreaterThan(0); // the projector followed the new leader, not the restart
  expect(distinctPositions).toBe(history.length);
  expect(logRecords).toBe(history.length);
  expect(applied).toBe(expected); // each event applied exactly once
  await expectUsersMatchReference(pool, history, 300);
}

it(
  "a partition leader SIGKILLed mid-stream (RF 3, min.insync.replicas=2, acks=all): nothing lost, nothing applied twice",
  () => killMidStream("leader"),
  300_000,
);

it(
  "the group coordinator SIGKILLed mid-stream: the group moves to another node, nothing lost, nothing applied twice",
  () => killMidStream("coordinator"),
  300_000,
);
