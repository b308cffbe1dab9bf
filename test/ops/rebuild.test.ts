// Full rebuild while producers keep producing: queries answer throughout, and the switched read model
// equals both a control projection that stayed live the whole time and a reference computed from the events.
import { generateHistory } from "@idp/producer/src/history.ts";
import { afterAll, beforeAll, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { adminCall, waitForRebuild } from "../support/admin.ts";
import { startTestService, type TestService, waitForPositions } from "../support/service.ts";
import { REF_COLUMNS, referenceUsers } from "../support/users-reference.ts";

let t: TestService;
let control: TestService;
const history = generateHistory({ seed: 21, instances: 4, orgsPerInstance: 2, usersPerOrg: 40, eventsPerUser: 6, orgRemovalRate: 0.1, prefix: "rb-" });
const cut = Math.floor(history.length / 2);

beforeAll(async () => {
  t = await startTestService(usersService);
  control = await startTestService(usersService, { topic: t.topic }); // same topic, own group and schema
  await waitForPositions(t.svc.pool, "users", await t.publisher.publish(history.slice(0, cut)));
});
afterAll(async () => {
  await control?.close();
  await t?.close(); // drops the old and rebuilt schemas too
});

const rows = async (svc: TestService) => (await svc.svc.pool.query(`SELECT ${REF_COLUMNS} FROM users ORDER BY instance_id, id`)).rows;

it("rebuilds into a shadow schema while producing and querying, then switches atomically", async () => {
  const started = await adminCall(t.url, "POST", "/rebuild", {});
  expect(started.status).toBe(202);
  expect(started.json).toMatchObject({ kind: "full", state: "running", shadowSchema: `${t.schema}_rebuild` });
  // The shadow's consumer is still joining its group: a second rebuild is refused meanwhile.
  const second = await adminCall(t.url, "POST", "/rebuild", {});
  expect([second.status, second.json.code]).toEqual([409, "rebuild_running"]);

  // Keep producing and querying while the rebuild runs.
  let published = cut;
  const positions = [];
  let queries = 0;
  const final = await waitForRebuild(t.url, 180_000, async () => {
    if (published < history.length) {
      const next = Math.min(history.length, published + 150);
      positions.push(...(await t.publisher.publish(history.slice(published, next))));
      published = next;
    }
    const res = await t.get("/v1/users?limit=5", "rb-inst-1");
    expect(res.status).toBe(200);
    queries++;
  });
  expect(final.state, final.error).toBe("done");
  expect(final.oldSchema).toMatch(new RegExp(`^${t.schema}_old_`));
  expect(queries).toBeGreaterThan(0);
  if (published < history.length) positions.push(...(await t.publisher.publish(history.slice(published))));
  await waitForPositions(t.svc.pool, "users", positions);
  await waitForPositions(control.svc.pool, "users", positions);

  const ref = [...referenceUsers(history).values()].sort((a, b) => a.instance_id.localeCompare(b.instance_id) || a.id.localeCompare(b.id));
  const rebuilt = await rows(t);
  expect(rebuilt.length).toBeGreaterThan(100);
  expect(rebuilt).toEqual(ref);
  expect(rebuilt).toEqual(await rows(control));
  // Every event applied exactly once in the rebuilt schema (it replayed the whole topic).
  const applied = (await t.svc.pool.query("SELECT sum(applied_events)::int AS n FROM projector_offsets")).rows[0].n;
  expect(applied).toBe(history.length);

  const audit = await adminCall(t.url, "GET", "/audit");
  expect(audit.json.result.map((a: { action: string }) => a.action)).toContain("rebuild.start");
  // The switched-in tables come with statistics: the planner never meets the rebuilt rows as an empty table's.
  const analyzed = await t.svc.pool.query("SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = $1 AND tablename = ANY($2)", [
    t.schema,
    ["users", "projector_aggregate_sequences"],
  ]);
  expect(analyzed.rows.map((r) => r.tablename).sort()).toEqual(["projector_aggregate_sequences", "users"]);
});

it("rolls back to the old schema on request, and refuses schemas that are not old ones", async () => {
  const status = await adminCall(t.url, "GET", "/status");
  expect(status.json.oldSchemas.length).toBe(1);
  const rolled = await adminCall(t.url, "POST", "/rebuild/rollback", { oldSchema: status.json.oldSchemas[0] });
  expect(rolled.status).toBe(200);
  // The restored schema stopped at the switch; the live projector catches it up by itself.
  const res = await t.get("/v1/users?limit=1", "rb-inst-1");
  expect(res.status).toBe(200);
  expect((await adminCall(t.url, "POST", "/rebuild/rollback", { oldSchema: "users" })).status).toBe(400);
  const missing = await adminCall(t.url, "POST", "/rebuild/rollback", { oldSchema: `${t.schema}_old_19700101000000` });
  expect([missing.status, missing.json.code]).toEqual([404, "not_found"]);
});
