// Fault: the Kafka broker goes away mid-stream and comes back. This file runs its OWN single-node broker
// (infra/kafka.sh on ports 28092/28093, data in .kafka-run-faults) so the shared one is never touched.
// The users service runs in-process against it; the broker is stopped while the service is applying,
// stays down for a few seconds, and is started again (same data). The projector must reconnect and
// resume by itself; the final read model equals the independent reference, each event applied once.

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Position } from "@idp/events";
import { EventPublisher } from "@idp/producer";
import { generateHistory } from "@idp/producer/src/history.ts";
import { KafkaJsAdmin, loadConfig, type RunningService, startService } from "@idp/runtime";
import { afterAll, beforeAll, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { uniqueName } from "../support/env.ts";
import { dropSchema, serviceEnv, waitForPositions } from "../support/service.ts";
import { appliedEvents, chunksOf, expectUsersMatchReference, faultLine, relevantCount, sleep, waitForProgress, within } from "./fault-support.ts";

const exec = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
const brokerEnv = {
  ...process.env,
  KAFKA_BROKER_PORT: "28092",
  KAFKA_CONTROLLER_PORT: "28093",
  KAFKA_RUN_DIR: `${root}.kafka-run-faults`,
};
const kafka = async (command: "start" | "stop" | "reset") => {
  const { stdout } = await exec("bash", ["infra/kafka.sh", command], { cwd: root, env: brokerEnv, timeout: 180_000 });
  return stdout;
};

const OUTAGE_MS = 5000;
const schema = uniqueName("fault_broker");
let brokers = "";
let svc: RunningService | undefined;
let publisher: EventPublisher | undefined;

beforeAll(async () => {
  await kafka("reset"); // leftovers of an interrupted run: start from empty storage
  const m = /^KAFKA_BROKERS=(.+)$/m.exec(await kafka("start"));
  if (!m) throw new Error("infra/kafka.sh start printed no KAFKA_BROKERS= line");
  brokers = (m[1] as string).trim();
});

afterAll(async () => {
  // The service and producer must leave while the broker is up (a failed test may have left it down).
  await kafka("start").catch((err) => console.error(err));
  await within(publisher?.close() ?? Promise.resolve(), 20_000, "publisher close").catch((err) => console.error(err));
  await within(svc?.stop() ?? Promise.resolve(), 30_000, "service stop").catch((err) => console.error(err));
  await kafka("reset").catch((err) => console.error(err));
  await dropSchema(schema);
});

it("the projector reconnects by itself after a broker restart mid-stream and resumes where it was", async () => {
  expect(brokers).toBe("127.0.0.1:28092"); // never the shared broker
  const topic = uniqueName("t_fault_broker");
  const admin = new KafkaJsAdmin({ brokers: [brokers], clientId: "fault-test-admin" });
  await admin.ensureTopic(topic, 4);
  await admin.close();

  svc = await startService(usersService, loadConfig("users", 0, serviceEnv(topic, schema, { KAFKA_BROKERS: brokers })));
  const pool = svc.pool;
  publisher = await EventPublisher.connect({ brokers: [brokers], topic });
  const history = generateHistory({ seed: 2020, instances: 8, orgsPerInstance: 3, usersPerOrg: 40, eventsPerUser: 8, orgRemovalRate: 0.1, prefix: "brk-" });
  const expected = relevantCount(history);
  const half = Math.floor(history.length * 0.55);
  const positions: Position[] = [];

  // First part of the stream; the broker is stopped as soon as the projector is seen applying it.
  for (const slice of chunksOf(history.slice(0, half), 6)) positions.push(...(await publisher.publish(slice)));
  await waitForProgress(pool, 0, 60_000, "users projector");
  await kafka("stop");
  const appliedAtStop = await appliedEvents(pool);
  await sleep(OUTAGE_MS);
  const appliedDuringOutage = (await appliedEvents(pool)) - appliedAtStop;
  await kafka("start");

  // The rest of the stream after the restart (the producer reconnects too).
  for (const slice of chunksOf(history.slice(half), 6)) positions.push(...(await publisher.publish(slice)));
  await waitForPositions(pool, "users", positions, 90_000);

  const applied = await appliedEvents(pool);
  faultLine("broker-restart", expected, applied, {
    appliedAtStop,
    firstPart: relevantCount(history.slice(0, half)),
    appliedDuringOutage,
    outageMs: OUTAGE_MS,
  });
  expect(applied).toBe(expected); // each event applied exactly once
  await expectUsersMatchReference(pool, history, 500);
});
