// Poison events through the running service and its admin API: a deterministic SQL failure parks the
// event and the later events of its aggregate while other aggregates flow; after the fault is fixed, retry
// applies the parked events in order; skip drops just that event. Retry works from an API-only process
// too (no projector of its own), against the same schema.
import * as ev from "@idp/events";
import { loadConfig, startService } from "@idp/runtime";
import { afterAll, beforeAll, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { adminCall } from "../support/admin.ts";
import { aggregate } from "../support/events.ts";
import { serviceEnv, startTestService, type TestService, waitForPositions } from "../support/service.ts";

let t: TestService;
const I = "pk-inst";
const human = (userName: string) => ({ userName, firstName: "P", lastName: "K", email: `${userName}@x.example`, changeRequired: false });

beforeAll(async () => {
  t = await startTestService(usersService, { env: { MAX_ATTEMPTS: "2" } });
  // The "fault": the database refuses one value (think of a constraint a migration got wrong).
  await t.svc.pool.query("ALTER TABLE users ADD CONSTRAINT no_evil CHECK (username NOT LIKE 'evil%')");
});
afterAll(async () => t?.close());

const user = async (id: string) => (await t.svc.pool.query("SELECT username, sequence FROM users WHERE instance_id = $1 AND id = $2", [I, id])).rows[0];
const parked = async () =>
  (await adminCall(t.url, "GET", `/parked?instanceId=${I}`)).json.result as {
    id: number;
    aggregate_id: string;
    aggregate_sequence: number;
    error: string;
    blocked_by: number | null;
  }[];

it("parks the poison event and its aggregate's later events; other aggregates flow; retry applies them in order", async () => {
  const a = aggregate(I, "a", "org");
  const b = aggregate(I, "b", "org");
  // Batches fold a row's events and write only the final row, so the poison travels in its own batch.
  const publish = async (...events: Parameters<typeof t.publisher.publish>[0]) => waitForPositions(t.svc.pool, "users", await t.publisher.publish(events));
  await publish(a(ev.userHumanAdded, human("alice")), b(ev.userHumanAdded, human("bob")));
  await publish(a(ev.userUsernameChanged, { userName: "evil-alice" }));
  await publish(a(ev.userUsernameChanged, { userName: "alice-2" }), b(ev.userUsernameChanged, { userName: "bob-2" }), a(ev.userLocked, {}));
  expect(await user("a")).toEqual({ username: "alice", sequence: 1 });
  expect(await user("b")).toEqual({ username: "bob-2", sequence: 2 });
  const p = await parked();
  expect(p.map((x) => [x.aggregate_id, x.aggregate_sequence])).toEqual([
    ["a", 2],
    ["a", 3],
    ["a", 4],
  ]);
  expect(p[0]?.error).toMatch(/no_evil/);
  expect(p[1]?.blocked_by).toBe(p[0]?.id);

  // Still failing: retry stops at the poison event, nothing after it is applied.
  const stillBroken = await adminCall(t.url, "POST", "/parked/retry", { instanceId: I, aggregateType: "user", aggregateId: "a" });
  expect(stillBroken.json).toMatchObject({ applied: [], failed: { id: p[0]?.id } });
  expect(await user("a")).toEqual({ username: "alice", sequence: 1 });

  await t.svc.pool.query("ALTER TABLE users DROP CONSTRAINT no_evil");
  const fixed = await adminCall(t.url, "POST", "/parked/retry", { instanceId: I, aggregateType: "user", aggregateId: "a" });
  expect(fixed.status).toBe(200);
  expect(fixed.json.applied).toEqual(p.map((x) => x.id));
  expect(await user("a")).toEqual({ username: "alice-2", sequence: 4 });
  expect(await parked()).toEqual([]);

  // Later events of the aggregate flow normally again.
  await waitForPositions(t.svc.pool, "users", await t.publisher.publish([a(ev.userUnlocked, {})]));
  expect(await user("a")).toMatchObject({ sequence: 5 });
});

it("skip drops just that event; retry then applies the ones behind it", async () => {
  await t.svc.pool.query("ALTER TABLE users ADD CONSTRAINT no_evil CHECK (username NOT LIKE 'evil%')");
  const c = aggregate(I, "c", "org");
  for (const e of [
    c(ev.userHumanAdded, human("carol")),
    c(ev.userUsernameChanged, { userName: "evil-carol" }),
    c(ev.userUsernameChanged, { userName: "carol-3" }),
  ]) {
    await waitForPositions(t.svc.pool, "users", await t.publisher.publish([e]));
  }
  const [poison, behind] = await parked();
  expect(poison?.aggregate_sequence).toBe(2);
  expect((await adminCall(t.url, "POST", `/parked/${poison?.id}/skip`)).status).toBe(200);
  const retried = await adminCall(t.url, "POST", "/parked/retry", { instanceId: I, aggregateType: "user", aggregateId: "c" });
  expect(retried.json.applied).toEqual([behind?.id]);
  expect(await user("c")).toEqual({ username: "carol-3", sequence: 3 });
  expect((await adminCall(t.url, "POST", `/parked/${poison?.id}/skip`)).status).toBe(404);
  const audit = (await adminCall(t.url, "GET", "/audit")).json.result.map((x: { action: string }) => x.action);
  expect(audit).toEqual(expect.arrayContaining(["parked.skip", "parked.retry"]));
});

it("retries parked events from an API-only process (PROJECTOR_ENABLED=false)", async () => {
  const apiOnly = await startService(usersService, loadConfig("users", 0, serviceEnv(t.topic, t.schema, { PROJECTOR_ENABLED: "false" })));
  try {
    const url = apiOnly.url as string;
    await t.svc.pool.query("ALTER TABLE users DROP CONSTRAINT IF EXISTS no_evil");
    await t.svc.pool.query("ALTER TABLE users ADD CONSTRAINT no_evil CHECK (username NOT LIKE 'evil%')");
    const d = aggregate(I, "d", "org");
    const events = [
      d(ev.userHumanAdded, human("dave")),
      d(ev.userUsernameChanged, { userName: "evil-dave" }),
      d(ev.userUsernameChanged, { userName: "dave-3" }),
    ];
    for (const e of events) {
      await waitForPositions(t.svc.pool, "users", await t.publisher.publish([e]));
    }
    const waiting = (await parked()).filter((x) => x.aggregate_id === "d");
    expect(waiting.map((x) => x.aggregate_sequence)).toEqual([2, 3]);
    await t.svc.pool.query("ALTER TABLE users DROP CONSTRAINT no_evil");

    // This process consumes nothing: what needs a consumer is refused, the retry is not.
    expect(apiOnly.projector).toBeUndefined();
    expect((await adminCall(url, "POST", "/pause")).json).toMatchObject({ code: "projector_disabled" });
    const retried = await adminCall(url, "POST", "/parked/retry", { instanceId: I, aggregateType: "user", aggregateId: "d" });
    expect(retried.status).toBe(200);
    expect(retried.json).toEqual({ applied: waiting.map((x) => x.id), duplicates: [] });
    expect(await user("d")).toEqual({ username: "dave-3", sequence: 3 });

    // The sequence was recorded with the rows: the live projector applies the next event, and only once.
    await waitForPositions(t.svc.pool, "users", await t.publisher.publish([d(ev.userLocked, {})]));
    expect(await user("d")).toMatchObject({ sequence: 4 });
    const audit = (await adminCall(t.url, "GET", "/audit")).json.result as { action: string; params: { aggregateId?: string } }[];
    expect(audit.find((x) => x.action === "parked.retry" && x.params.aggregateId === "d")).toBeDefined();
  } finally {
    await apiOnly.stop();
  }
});
