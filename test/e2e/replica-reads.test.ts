// Reads from a streaming replica: a private primary and a standby of it (infra/pg-replica.sh, ports
// 25432/25433, never the cluster on 5432). The users projector writes to the primary; an API-only process
// migrates on the primary and answers queries from the standby (DATABASE_URL_QUERY). The applied offsets
// replicate with the rows, so X-Min-Position waits for what the standby has replayed, not for what the
// primary has committed; readiness reports how long the standby has been behind.

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as ev from "@idp/events";
import { formatPosition } from "@idp/events";
import { EventPublisher } from "@idp/producer";
import { loadConfig, type RunningService, startService } from "@idp/runtime";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { kafkaBrokers, uniqueName } from "../support/env.ts";
import { aggregate } from "../support/events.ts";
import { createTopic, serviceEnv, signToken, waitForPositions } from "../support/service.ts";

const exec = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
const replicaScript = async (command: "start" | "reset") => (await exec("bash", ["infra/pg-replica.sh", command], { cwd: root, timeout: 180_000 })).stdout;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const I = "replica-inst";
const schema = uniqueName("replica_users");
let urls: { primary: string; replica: string };
let writer: RunningService | undefined;
let reader: RunningService | undefined;
let publisher: EventPublisher | undefined;
let standby: pg.Client | undefined;

beforeAll(async () => {
  await replicaScript("reset"); // leftovers of an interrupted run
  const out = await replicaScript("start");
  const primary = /^PRIMARY_URL=(.+)$/m.exec(out)?.[1];
  const replica = /^REPLICA_URL=(.+)$/m.exec(out)?.[1];
  if (!primary || !replica) throw new Error(`infra/pg-replica.sh start printed no URLs:\n${out}`);
  urls = { primary, replica };
  expect(new URL(primary).port).toBe("25432"); // never the shared cluster
});

afterAll(async () => {
  await standby?.query("SELECT pg_wal_replay_resume()").catch(() => {});
  await standby?.end().catch(() => {});
  await publisher?.close().catch(() => {});
  await reader?.stop().catch(() => {});
  await writer?.stop().catch(() => {});
  await replicaScript("reset").catch((err) => console.error(err));
});

const human = (userName: string) => ({ userName, firstName: "R", lastName: "P", email: `${userName}@x.example`, changeRequired: false });

// biome-ignore lint/suspicious/noExplicitAny: the readiness body; the assertions check its shape
async function readiness(): Promise<{ status: number; body: any }> {
  const res = await fetch(`${reader?.url}/readyz`);
  return { status: res.status, body: await res.json() };
}

it("X-Min-Position waits for what the replica has replayed; readiness says how long it has been behind", async () => {
  const topic = await createTopic("replica", 1);
  // The projector's own process also answers from the replica: its local commits must not count as positions there.
  writer = await startService(
    usersService,
    loadConfig("users", 0, serviceEnv(topic, schema, { DATABASE_URL: urls.primary, DATABASE_URL_QUERY: urls.replica, READ_YOUR_WRITES_TIMEOUT_MS: "1500" })),
  );
  reader = await startService(
    usersService,
    loadConfig(
      "users",
      0,
      serviceEnv(topic, schema, {
        DATABASE_URL: urls.primary,
        DATABASE_URL_QUERY: urls.replica,
        PROJECTOR_ENABLED: "false",
        READ_YOUR_WRITES_TIMEOUT_MS: "1500",
        READY_REPLICA_MAX_LAG_MS: "1000",
      }),
    ),
  );
  publisher = await EventPublisher.connect({ brokers: kafkaBrokers(), topic });
  const auth = { authorization: `Bearer ${await signToken({ instanceId: I })}` };
  const get = (id: string, token?: string, via = reader) =>
    fetch(`${via?.url}/v1/users/${id}`, { headers: { ...auth, ...(token ? { "x-min-position": token } : {}) } });

  // Replaying: a write is visible on the replica with its token.
  const first = await publisher.publishOne(aggregate(I, "u1", "org")(ev.userHumanAdded, human("first")));
  expect((await get("u1", first)).status).toBe(200);
  expect((await readiness()).body.replica).toMatchObject({ replica: true, replayPaused: false });

  // Replay paused: the primary has the next write, the replica does not.
  standby = new pg.Client({ connectionString: urls.replica });
  await standby.connect();
  await standby.query("SELECT pg_wal_replay_pause()");
  const second = await publisher.publishOne(aggregate(I, "u2", "org")(ev.userHumanAdded, human("second")));
  const [topicName, partition, offset] = second.split(":");
  await waitForPositions(writer.pool, "users", [{ topic: topicName as string, partition: Number(partition), offset: offset as string }]);
  const behind = await get("u2", second);
  expect(behind.status).toBe(503); // not a stale 404: the position is not on the replica yet
  expect(await behind.json()).toMatchObject({ code: "projection_behind", details: { requested: [second] } });
  expect((await get("u2", second, writer)).status).toBe(503);
  expect((await get("u2")).status).toBe(404); // without the token: the replica's (older) state, as documented

  let r = await readiness();
  for (let i = 0; i < 75 && r.status !== 503; i++) {
    await sleep(200);
    r = await readiness();
  }
  expect(r.status, JSON.stringify(r.body)).toBe(503);
  expect(r.body.replica).toMatchObject({ replica: true, replayPaused: true });
  expect(r.body.replica.behindBytes).toBeGreaterThan(0);
  expect(r.body.reasons.join("\n")).toMatch(/query replica behind for \d+ ms .*replay paused.* above READY_REPLICA_MAX_LAG_MS=1000/);
  expect(await (await fetch(`${reader.url}/metrics`)).text()).toMatch(/projector_query_replica_behind_seconds\{projection="users"\} [1-9]/);

  // Replay resumed: the same request now answers with the write, and readiness recovers.
  await standby.query("SELECT pg_wal_replay_resume()");
  const caughtUp = await get("u2", second);
  expect(caughtUp.status).toBe(200);
  expect(await caughtUp.json()).toMatchObject({ id: "u2", username: "second" });
  expect((await get("u2", second, writer)).status).toBe(200);
  expect(caughtUp.headers.get("x-projection-position")).toBe(
    formatPosition({ topic: topicName as string, partition: Number(partition), offset: offset as string }),
  );
  r = await readiness();
  for (let i = 0; i < 50 && r.status !== 200; i++) {
    await sleep(200);
    r = await readiness();
  }
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}, 240_000);
