// Fault: the log under the stored offsets is replaced. The users service projects a first history, then
// its topic is deleted and created again (as after a broker data reset) while PostgreSQL keeps
// projector_offsets, and a second history is published into the new log. Offsets of the old log must
// not be taken for positions in the new one: no record of the new log may be skipped as "already
// applied". Each affected partition stops, readiness and status say why, a metric shows it, a dry-run
// rebuild finishes, and a full rebuild brings the read model to the new log.

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { EventPublisher } from "@idp/producer";
import { generateHistory } from "@idp/producer/src/history.ts";
import { loadConfig, type RunningService, startService } from "@idp/runtime";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { adminCall, waitForRebuild } from "../support/admin.ts";
import { kafkaBrokers, uniqueName } from "../support/env.ts";
import { createTopic, dropSchema, serviceEnv, signToken, waitForPositions } from "../support/service.ts";
import { REF_COLUMNS, referenceUsers } from "../support/users-reference.ts";
import { sleep } from "./fault-support.ts";

const exec = promisify(execFile);
const bin = fileURLToPath(new URL("../../packages/cli/bin/idp-admin.mjs", import.meta.url));
const schema = uniqueName("fault_mismatch");
const liveSchema = uniqueName("fault_mismatch_live");
const clusterSchema = uniqueName("fault_mismatch_cluster");
let svc: RunningService | undefined;
let publisher: EventPublisher | undefined;

afterAll(async () => {
  await publisher?.close().catch(() => {});
  await svc?.stop().catch(() => {});
  await dropSchema(schema);
  await dropSchema(liveSchema);
  await dropSchema(clusterSchema);
});

/** Deletes the topic and creates it again (Kafka deletes asynchronously: retried until the name is free). */
async function recreateTopic(topic: string, partitions: number) {
  const admin = new Kafka({ brokers: kafkaBrokers(), clientId: "mismatch-test", logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic], timeout: 30_000 });
  for (let i = 0; ; i++) {
    try {
      if (await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: -1 }], waitForLeaders: true })) break;
    } catch (err) {
      if (i > 100) throw err;
    }
    await sleep(300);
  }
  await admin.disconnect();
}

// biome-ignore lint/suspicious/noExplicitAny: the readiness body; the assertions check its shape
async function readiness(): Promise<{ status: number; body: any }> {
  const res = await fetch(`${svc?.url}/readyz`);
  return { status: res.status, body: await res.json() };
}

const offsets = async () =>
  (
    await (svc as RunningService).pool.query(
      "SELECT partition, next_offset::text AS next, applied_events::text AS applied FROM projector_offsets ORDER BY partition",
    )
  ).rows;

it("a re-created topic under kept offsets stops the partitions, says why, and a rebuild recovers", async () => {
  const topic = await createTopic("mismatch", 3);
  const env = serviceEnv(topic, schema, { READY_MAX_LAG: "1000000", READY_BROKER_TIMEOUT_MS: "4000" });
  svc = await startService(usersService, loadConfig("users", 0, env));
  publisher = await EventPublisher.connect({ brokers: kafkaBrokers(), topic });
  const first = generateHistory({ seed: 71, instances: 3, orgsPerInstance: 1, usersPerOrg: 8, eventsPerUser: 3, prefix: "mm-a-" });
  await waitForPositions(svc.pool, "users", await publisher.publish(first));
  const kept = await offsets();
  await publisher.close();
  await svc.stop();
  const used = kept.filter((r) => BigInt(r.next) > 0n).map((r) => r.partition as number);
  expect(used.length).toBeGreaterThan(0);

  // The new log: another history, longer than the first on some partitions, shorter on others.
  await recreateTopic(topic, 3);
  publisher = await EventPublisher.connect({ brokers: kafkaBrokers(), topic });
  const second = generateHistory({ seed: 72, instances: 5, orgsPerInstance: 1, usersPerOrg: 8, eventsPerUser: 3, prefix: "mm-b-" });
  await publisher.publish(second);
  svc = await startService(usersService, loadConfig("users", 0, env));

  // Readiness: 503 naming each stopped partition and its reason.
  let r = await readiness();
  for (let i = 0; i < 300 && !(r.status === 503 && r.body.logMismatch?.length === used.length); i++) {
    await sleep(200);
    r = await readiness();
  }
  expect(r.status, JSON.stringify(r.body)).toBe(503);
  expect(r.body.logMismatch.map((m: { partition: number }) => m.partition).sort()).toEqual(used);
  expect(r.body.reasons.join("\n")).toMatch(/stopped, log mismatch: .*(past the partition's end|not the one applied there|no record at stored offset)/);

  // Nothing of the new log was applied or dropped on the stopped partitions: their offsets are untouched.
  await sleep(2000);
  const now = await offsets();
  for (const p of used) expect(now.find((x) => x.partition === p)).toEqual(kept.find((x) => x.partition === p));
  const metrics = await (await fetch(`${svc.url}/metrics`)).text();
  for (const p of used) expect(metrics).toMatch(new RegExp(`projector_partition_log_mismatch\\{projection="users",topic="${topic}",partition="${p}"\\} 1`));
  expect(metrics).not.toMatch(/projector_events_duplicate_total\{projection="users"\} [1-9]/);

  // Positions on a stopped partition are not claimed: a tenant's response names none of them.
  const tenantToken = await signToken({ instanceId: "mm-a-inst-0" });
  const answer = await fetch(`${svc.url}/v1/users?limit=1`, { headers: { authorization: `Bearer ${tenantToken}` } });
  expect(answer.status).toBe(200);
  for (const p of used) expect(answer.headers.get("x-projection-position") ?? "").not.toContain(`${topic}:${p}:`);

  // Status (API and CLI) shows the stopped partitions.
  const status = await adminCall(svc.url as string, "GET", "/status");
  expect(status.json.partitions.filter((p: { logMismatch: string | null }) => p.logMismatch).map((p: { partition: number }) => p.partition)).toEqual(used);
  const token = await signToken({ instanceId: "", scope: "projections:admin" });
  const cli = await exec(process.execPath, [bin, "--url", svc.url as string, "status"], { env: { ...process.env, IDP_ADMIN_TOKEN: token } });
  expect(cli.stdout).toMatch(new RegExp(`STOPPED ${topic}/${used[0]}: .+idp-admin rebuild`));

  // A dry run finishes (the live offsets past the new log's end are not waited for).
  expect((await adminCall(svc.url as string, "POST", "/rebuild", { dryRun: true })).status).toBe(202);
  const dry = await waitForRebuild(svc.url as string, 120_000);
  expect(dry.state, dry.error).toBe("done");

  // The way out: a full rebuild from the new log; the partitions go on and readiness recovers.
  expect((await adminCall(svc.url as string, "POST", "/rebuild", {})).status).toBe(202);
  const full = await waitForRebuild(svc.url as string, 120_000);
  expect(full.state, full.error).toBe("done");
  const late = generateHistory({ seed: 73, instances: 2, orgsPerInstance: 1, usersPerOrg: 4, eventsPerUser: 2, prefix: "mm-c-" });
  await waitForPositions(svc.pool, "users", await publisher.publish(late), 30_000);
  r = await readiness();
  for (let i = 0; i < 50 && r.status !== 200; i++) {
    await sleep(200);
    r = await readiness();
  }
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const rows = (await svc.pool.query(`SELECT ${REF_COLUMNS} FROM users ORDER BY instance_id, id`)).rows;
  const ref = [...referenceUsers([...second, ...late]).values()].sort((a, b) => a.instance_id.localeCompare(b.instance_id) || a.id.localeCompare(b.id));
  expect(rows).toEqual(ref);
}, 300_000); // two rebuilds and three waits for positions: minutes on a loaded 2-core machine

it("a topic re-created under a running service: the partitions stop instead of skipping the new log's records", async () => {
  await publisher?.close();
  await svc?.stop();
  const topic = await createTopic("mismatch_live", 3);
  svc = await startService(usersService, loadConfig("users", 0, serviceEnv(topic, liveSchema, { READY_MAX_LAG: "1000000", READY_BROKER_TIMEOUT_MS: "4000" })));
  publisher = await EventPublisher.connect({ brokers: kafkaBrokers(), topic });
  await waitForPositions(
    svc.pool,
    "users",
    await publisher.publish(generateHistory({ seed: 74, instances: 3, orgsPerInstance: 1, usersPerOrg: 8, eventsPerUser: 3, prefix: "ml-a-" })),
  );
  const kept = await offsets();
  const used = kept.filter((r) => BigInt(r.next) > 0n).map((r) => r.partition as number);
  await publisher.close();

  await recreateTopic(topic, 3);
  publisher = await EventPublisher.connect({ brokers: kafkaBrokers(), topic });
  await publisher.publish(generateHistory({ seed: 75, instances: 6, orgsPerInstance: 1, usersPerOrg: 8, eventsPerUser: 3, prefix: "ml-b-" }));
  // Found out at once when the client saw the topic go (the usual case), at the latest by the periodic
  // look at each partition's anchor (a topic re-created between two fetches shows no error at all).
  let r = await readiness();
  for (let i = 0; i < 300 && !(r.status === 503 && r.body.logMismatch?.length === used.length); i++) {
    await sleep(200);
    r = await readiness();
  }
  const now = await offsets();
  const seen = `readiness ${JSON.stringify(r.body)}; offsets before ${JSON.stringify(kept)}, now ${JSON.stringify(now)}`;
  expect(r.status, seen).toBe(503);
  expect(r.body.logMismatch.map((m: { partition: number }) => m.partition).sort(), seen).toEqual(used);
  expect(r.body.reasons.join("\n")).toMatch(/stopped, log mismatch/);
});

it("offsets stored from another Kafka cluster are refused; a replay placed by the operator goes on", async () => {
  await publisher?.close();
  await svc?.stop();
  const topic = await createTopic("mismatch_cluster", 2);
  const env = serviceEnv(topic, clusterSchema, { READY_MAX_LAG: "1000000", READY_BROKER_TIMEOUT_MS: "4000" });
  svc = await startService(usersService, loadConfig("users", 0, env));
  publisher = await EventPublisher.connect({ brokers: kafkaBrokers(), topic });
  await waitForPositions(
    svc.pool,
    "users",
    await publisher.publish(generateHistory({ seed: 76, instances: 2, orgsPerInstance: 1, usersPerOrg: 5, eventsPerUser: 3, prefix: "mc-a-" })),
  );
  const { rows } = await svc.pool.query("SELECT count(*)::int AS n FROM projector_offsets WHERE cluster_id IS NOT NULL AND next_offset > 0");
  expect(rows[0].n).toBeGreaterThan(0); // the cluster is recorded beside the offsets
  // As if these offsets had been read from another cluster (the guard reads the cluster id on assignment).
  await svc.pool.query("UPDATE projector_offsets SET cluster_id = 'another-cluster' WHERE next_offset > 0");
  await svc.stop();

  svc = await startService(usersService, loadConfig("users", 0, env));
  let r = await readiness();
  for (let i = 0; i < 100 && r.status !== 503; i++) {
    await sleep(200);
    r = await readiness();
  }
  expect(r.status, JSON.stringify(r.body)).toBe(503);
  expect(r.body.reasons.join("\n")).toMatch(/stored offsets were read from Kafka cluster another-cluster; the brokers belong to cluster \S+/);

  // The operator replays from the start of this cluster's log: the guard lets the partitions go on.
  expect((await adminCall(svc.url as string, "POST", "/replay", { offset: "0" })).status).toBe(200);
  const late = await publisher.publish(generateHistory({ seed: 77, instances: 1, orgsPerInstance: 1, usersPerOrg: 3, eventsPerUser: 2, prefix: "mc-b-" }));
  await waitForPositions(svc.pool, "users", late, 30_000);
  r = await readiness();
  for (let i = 0; i < 50 && r.status !== 200; i++) {
    await sleep(200);
    r = await readiness();
  }
  expect(r.status, JSON.stringify(r.body)).toBe(200);
});
