// Readiness tells the truth. 1: the broker goes away (this file runs its OWN single-node broker,
// infra/kafka.sh on ports 28192/28193, data in .kafka-run-health, so the shared one is never touched):
// after READY_BROKER_TIMEOUT_MS the service answers 503 with the reason, and ready again once the broker
// is back. 2: a partition with lag that makes no progress (a paused consumer, on the shared broker) is
// reported as stalled after READY_STALL_TIMEOUT_MS, with lag measured from the broker's end offsets on a
// timer, not only when a batch finishes.

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { EventPublisher } from "@idp/producer";
import { generateHistory } from "@idp/producer/src/history.ts";
import { KafkaJsAdmin, loadConfig, type RunningService, startService } from "@idp/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { uniqueName } from "../support/env.ts";
import { dropSchema, serviceEnv, startTestService, type TestService, waitForPositions } from "../support/service.ts";
import { sleep, within } from "./fault-support.ts";

const exec = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
const brokerEnv = { ...process.env, KAFKA_BROKER_PORT: "28192", KAFKA_CONTROLLER_PORT: "28193", KAFKA_RUN_DIR: `${root}.kafka-run-health` };
const kafka = async (command: "start" | "stop" | "reset") => {
  const { stdout } = await exec("bash", ["infra/kafka.sh", command], { cwd: root, env: brokerEnv, timeout: 180_000 });
  return stdout;
};

// biome-ignore lint/suspicious/noExplicitAny: the readiness body; the assertions check its shape
async function readyz(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: await res.json() };
}

/** Polls /readyz until `ok` holds; returns the last answer (the caller asserts on it). */
async function readyzUntil(url: string, ok: (r: Awaited<ReturnType<typeof readyz>>) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let r = await readyz(url);
  while (!ok(r) && Date.now() < deadline) {
    await sleep(200);
    r = await readyz(url);
  }
  return r;
}

describe("broker unreachable", () => {
  const schema = uniqueName("fault_health");
  let brokers = "";
  let svc: RunningService | undefined;

  beforeAll(async () => {
    await kafka("reset");
    const m = /^KAFKA_BROKERS=(.+)$/m.exec(await kafka("start"));
    if (!m) throw new Error("infra/kafka.sh start printed no KAFKA_BROKERS= line");
    brokers = (m[1] as string).trim();
  });

  afterAll(async () => {
    await kafka("start").catch((err) => console.error(err));
    await within(svc?.stop() ?? Promise.resolve(), 30_000, "service stop").catch((err) => console.error(err));
    await kafka("reset").catch((err) => console.error(err));
    await dropSchema(schema);
  });

  it("readiness fails with the reason after READY_BROKER_TIMEOUT_MS, and recovers when the broker is back", async () => {
    expect(brokers).toBe("127.0.0.1:28192"); // never the shared broker
    const topic = uniqueName("t_fault_health");
    const admin = new KafkaJsAdmin({ brokers: [brokers], clientId: "health-test-admin" });
    await admin.ensureTopic(topic, 2);
    await admin.close();
    svc = await startService(usersService, loadConfig("users", 0, serviceEnv(topic, schema, { KAFKA_BROKERS: brokers, READY_BROKER_TIMEOUT_MS: "3000" })));
    const url = svc.url as string;
    const publisher = await EventPublisher.connect({ brokers: [brokers], topic });
    await waitForPositions(svc.pool, "users", await publisher.publish(generateHistory({ seed: 81, instances: 2, usersPerOrg: 5, prefix: "hb-" })));
    await publisher.close();
    expect((await readyzUntil(url, (r) => r.status === 200, 10_000)).status).toBe(200);

    await kafka("stop");
    const down = await readyzUntil(url, (r) => r.status === 503, 20_000);
    expect(down.status, JSON.stringify(down.body)).toBe(503);
    expect(down.body.broker.reachable).toBe(false);
    expect(down.body.broker.unreachableForMs).toBeGreaterThan(3000); // not before the configured time
    expect(down.body.reasons.join("\n")).toMatch(/broker unreachable for \d+ s \(READY_BROKER_TIMEOUT_MS=3000\)/);
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/projector_broker_reachable\{projection="users"\} 0/);

    await kafka("start");
    const up = await readyzUntil(url, (r) => r.status === 200, 60_000);
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    expect(up.body.broker.reachable).toBe(true);
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/projector_broker_reachable\{projection="users"\} 1/);
  });
});

describe("stalled partition", () => {
  let t: TestService;
  beforeAll(async () => {
    // Lag alone must not fail readiness here: only the missing progress does.
    t = await startTestService(usersService, { env: { READY_STALL_TIMEOUT_MS: "1500", READY_MAX_LAG: "1000000" } });
  });
  afterAll(async () => t?.close());

  it("a partition with lag and no progress is reported stalled, with lag from the broker's end offsets", async () => {
    await waitForPositions(t.svc.pool, "users", await t.publisher.publish(generateHistory({ seed: 82, instances: 1, usersPerOrg: 3, prefix: "st-a-" })));
    expect((await readyzUntil(t.url, (r) => r.status === 200, 10_000)).status).toBe(200);

    t.svc.projector?.pause();
    await t.publisher.publish(generateHistory({ seed: 83, instances: 2, usersPerOrg: 5, prefix: "st-b-" }));
    const stalled = await readyzUntil(t.url, (r) => r.status === 503, 15_000);
    expect(stalled.status, JSON.stringify(stalled.body)).toBe(503);
    expect(stalled.body.stalled.length).toBeGreaterThan(0);
    expect(stalled.body.stalled[0].lag).toBeGreaterThan(0);
    expect(stalled.body.lag).toBeGreaterThan(0); // measured while no batch finishes
    expect(stalled.body.reasons.join("\n")).toMatch(/partition \S+ stalled: lag \d+, no progress for \d+ s \(READY_STALL_TIMEOUT_MS=1500\)/);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/projector_partition_stalled\{projection="users",topic="[^"]+",partition="\d+"\} 1/);
    expect(metrics).toMatch(/projector_partition_lag\{projection="users",topic="[^"]+",partition="\d+"\} [1-9]/);

    t.svc.projector?.resume();
    const ready = await readyzUntil(t.url, (r) => r.status === 200, 20_000);
    expect(ready.status, JSON.stringify(ready.body)).toBe(200);
    expect(ready.body.stalled).toEqual([]);
  });
});
