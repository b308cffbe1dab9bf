// Admin scopes with tenants in mind. A platform admin (scope projections:admin, no instance_id claim)
// sees and acts on everything. An instance admin (the same scope with an instance_id claim) sees and
// acts only on its instance's parked events, lag and single-instance rebuild; whole-projection actions
// (full rebuild, replay, pause/resume, status, audit log, schema switches) answer 403, and another
// instance's parked events are not found. Both ways, against the running users service.
import * as ev from "@idp/events";
import { afterAll, beforeAll, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { waitForRebuild } from "../support/admin.ts";
import { aggregate } from "../support/events.ts";
import { signToken, startTestService, type TestService, waitForPositions } from "../support/service.ts";

let t: TestService;
const A = "as-inst-a";
const B = "as-inst-b";
const human = (userName: string) => ({ userName, firstName: "S", lastName: "C", email: `${userName}@x.example`, changeRequired: false });

// biome-ignore lint/suspicious/noExplicitAny: a JSON response; the assertions check its shape
async function call(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${t.url}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json() };
}

let platform: string;
let adminA: string;
const parkedIds: Record<string, number> = {};

beforeAll(async () => {
  t = await startTestService(usersService, { env: { MAX_ATTEMPTS: "2" } });
  platform = await signToken({ instanceId: "", scope: "projections:admin" });
  adminA = await signToken({ instanceId: A, scope: "projections:admin" });
  await t.svc.pool.query("ALTER TABLE users ADD CONSTRAINT no_evil CHECK (username NOT LIKE 'evil%')");
  // One poison event (and one waiting behind it) in each instance.
  for (const inst of [A, B]) {
    const u = aggregate(inst, "u1", "org");
    await waitForPositions(t.svc.pool, "users", await t.publisher.publish([u(ev.userHumanAdded, human("evil"))]));
    await waitForPositions(t.svc.pool, "users", await t.publisher.publish([u(ev.userLocked, {})]));
  }
  const all = await call(platform, "GET", "/parked");
  for (const inst of [A, B])
    parkedIds[inst] = all.json.result.find((p: { instance_id: string; aggregate_sequence: number }) => p.instance_id === inst && p.aggregate_sequence === 1).id;
});
afterAll(async () => t?.close());

const instancesOf = (r: { json: { result: { instance_id: string }[] } }) => [...new Set(r.json.result.map((p) => p.instance_id))].sort();

it("a platform admin sees every instance's parked events", async () => {
  expect(instancesOf(await call(platform, "GET", "/parked"))).toEqual([A, B]);
  expect((await call(platform, "GET", `/parked/${parkedIds[B]}`)).json.instance_id).toBe(B);
  expect((await call(platform, "GET", `/instances/${B}/lag`)).status).toBe(200);
  expect((await call(platform, "GET", "/status")).status).toBe(200);
  expect((await call(platform, "GET", "/audit")).status).toBe(200);
});

it("an instance admin lists and reads only its own instance's parked events", async () => {
  const mine = await call(adminA, "GET", "/parked");
  expect(mine.status).toBe(200);
  expect(instancesOf(mine)).toEqual([A]);
  expect((await call(adminA, "GET", `/parked?instanceId=${A}`)).json.result.length).toBe(2);
  expect((await call(adminA, "GET", `/parked?instanceId=${B}`)).status).toBe(403);
  expect((await call(adminA, "GET", `/parked?status=skipped`)).json.result.every((p: { instance_id: string }) => p.instance_id === A)).toBe(true);
  expect((await call(adminA, "GET", `/parked/${parkedIds[A]}`)).status).toBe(200);
  const other = await call(adminA, "GET", `/parked/${parkedIds[B]}`);
  expect([other.status, other.json.code]).toEqual([404, "not_found"]);
});

it("an instance admin retries and skips only its own instance's parked events", async () => {
  const retryB = await call(adminA, "POST", "/parked/retry", { instanceId: B, aggregateType: "user", aggregateId: "u1" });
  expect([retryB.status, retryB.json.code]).toEqual([403, "permission_denied"]);
  const skipB = await call(adminA, "POST", `/parked/${parkedIds[B]}/skip`);
  expect(skipB.status).toBe(404);
  // B's events are untouched.
  expect((await call(platform, "GET", `/parked?instanceId=${B}`)).json.result.length).toBe(2);

  const retryA = await call(adminA, "POST", "/parked/retry", { instanceId: A, aggregateType: "user", aggregateId: "u1" });
  expect(retryA.status).toBe(200);
  expect(retryA.json.failed.id).toBe(parkedIds[A]); // the constraint still refuses it
  const skipA = await call(adminA, "POST", `/parked/${parkedIds[A]}/skip`);
  expect(skipA.status).toBe(200);
  expect(skipA.json.skipped.instance_id).toBe(A);
});

it("an instance admin sees its lag and rebuilds only its instance", async () => {
  expect((await call(adminA, "GET", `/instances/${A}/lag`)).json.instanceId).toBe(A);
  expect((await call(adminA, "GET", `/instances/${B}/lag`)).status).toBe(403);
  expect((await call(adminA, "POST", "/rebuild", { instanceId: B, dryRun: true })).status).toBe(403);
  const started = await call(adminA, "POST", "/rebuild", { instanceId: A, dryRun: true });
  expect(started.status, JSON.stringify(started.json)).toBe(202);
  expect(started.json.instanceId).toBe(A);
  // Its own rebuild's progress is visible to it.
  expect((await call(adminA, "GET", "/rebuild")).json.id).toBe(started.json.id);
  expect((await waitForRebuild(t.url)).state).toBe("done");
  // A platform admin's rebuild of another instance is not shown to it.
  expect((await call(platform, "POST", "/rebuild", { instanceId: B, dryRun: true })).status).toBe(202);
  expect((await call(adminA, "GET", "/rebuild")).status).toBe(404);
  expect((await waitForRebuild(t.url)).state).toBe("done");
});

it("an instance admin cannot act on the whole projection (403)", async () => {
  const refused: [string, string, unknown?][] = [
    ["POST", "/rebuild", {}],
    ["POST", "/rebuild", { dryRun: true }],
    ["POST", "/replay", { offset: "0" }],
    ["POST", "/pause"],
    ["POST", "/resume"],
    ["GET", "/status"],
    ["GET", "/audit"],
    ["POST", "/rebuild/rollback", { oldSchema: `${t.schema}_old_19700101000000` }],
    ["DELETE", `/rebuild/old/${t.schema}_old_19700101000000`],
  ];
  for (const [method, path, body] of refused) {
    const r = await call(adminA, method, path, body);
    expect([method, path, r.status, r.json.code]).toEqual([method, path, 403, "permission_denied"]);
  }
  // Nothing of it happened: still consuming, offsets where they were.
  const st = await call(platform, "GET", "/status");
  expect([st.json.paused, st.json.consuming]).toEqual([false, true]);
  expect(st.json.partitions.every((p: { lag: number }) => p.lag === 0)).toBe(true);
});

it("an admin token restricted to an organisation is refused; a platform admin can do all of it", async () => {
  const orgAdmin = await signToken({ instanceId: A, orgId: "org-1", scope: "projections:admin" });
  expect((await call(orgAdmin, "GET", "/parked")).status).toBe(403);
  expect((await call(platform, "POST", `/parked/${parkedIds[B]}/skip`)).status).toBe(200);
  expect((await call(platform, "POST", "/pause")).status).toBe(200);
  expect((await call(platform, "POST", "/resume")).status).toBe(200);
  expect((await call(platform, "POST", "/replay", { offset: "0" })).status).toBe(200);
});
