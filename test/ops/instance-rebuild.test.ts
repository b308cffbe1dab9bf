// Rebuilding one instance repairs that tenant's rows from the topic and leaves the others' rows untouched
// while their processing keeps going; a dry run reports differences without changing anything.
import { generateHistory } from "@idp/producer/src/history.ts";
import { afterAll, beforeAll, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { adminCall, waitForRebuild } from "../support/admin.ts";
import { startTestService, type TestService, waitForPositions } from "../support/service.ts";
import { REF_COLUMNS, referenceUsers } from "../support/users-reference.ts";

let t: TestService;
const history = generateHistory({ seed: 33, instances: 3, orgsPerInstance: 2, usersPerOrg: 20, eventsPerUser: 5, prefix: "ir-" });
const target = "ir-inst-2";
const others = history.filter((e) => e.instanceId !== target);

beforeAll(async () => {
  t = await startTestService(usersService);
  await waitForPositions(t.svc.pool, "users", await t.publisher.publish(history));
});
afterAll(async () => t?.close());

const rows = async (where: string) =>
  (await t.svc.pool.query(`SELECT ${REF_COLUMNS}, xmin::text AS xmin FROM users WHERE ${where} ORDER BY instance_id, id`)).rows;
const strip = (rs: Record<string, unknown>[]) => rs.map(({ xmin: _x, ...r }) => r);
const sorted = <T extends { instance_id: string; id: string }>(xs: T[]) =>
  xs.sort((a, b) => a.instance_id.localeCompare(b.instance_id) || a.id.localeCompare(b.id));

it("dry run reports what a rebuild would change, and changes nothing", async () => {
  await t.svc.pool.query(
    "UPDATE users SET username = 'corrupted' WHERE instance_id = $1 AND id IN (SELECT id FROM users WHERE instance_id = $1 ORDER BY id LIMIT 3)",
    [target],
  );
  await t.svc.pool.query("DELETE FROM users WHERE instance_id = $1 AND id = (SELECT max(id) FROM users WHERE instance_id = $1)", [target]);
  const before = await rows(`instance_id = '${target}'`);
  expect((await adminCall(t.url, "POST", "/rebuild", { instanceId: target, dryRun: true })).status).toBe(202);
  const done = await waitForRebuild(t.url);
  expect(done.state, done.error).toBe("done");
  expect(done.diff.find((d: { table: string }) => d.table === "users")).toEqual({ table: "users", added: 1, changed: 3, removed: 0 });
  expect(await rows(`instance_id = '${target}'`)).toEqual(before);
});

it("repairs the instance's rows; other instances' rows are untouched and keep being processed", async () => {
  const otherBefore = await rows(`instance_id <> '${target}'`);
  expect((await adminCall(t.url, "POST", "/rebuild", { instanceId: target })).status).toBe(202);
  // Other tenants keep flowing during the rebuild: their events published now are applied.
  const extra = generateHistory({ seed: 34, instances: 1, orgsPerInstance: 1, usersPerOrg: 10, eventsPerUser: 3, prefix: "ir-late-" });
  const positions = await t.publisher.publish(extra);
  const done = await waitForRebuild(t.url);
  expect(done.state, done.error).toBe("done");
  await waitForPositions(t.svc.pool, "users", positions);

  const ref = sorted([...referenceUsers(history).values()]);
  expect(strip(await rows(`instance_id = '${target}'`))).toEqual(ref.filter((u) => u.instance_id === target));
  // Untouched: same row versions (xmin) for every row of the other instances.
  expect(await rows(`instance_id <> '${target}' AND instance_id NOT LIKE 'ir-late-%'`)).toEqual(otherBefore);
  expect(strip(await rows("instance_id LIKE 'ir-late-%'"))).toEqual(sorted([...referenceUsers(extra).values()]));
  expect(others.length).toBeGreaterThan(0);
});
