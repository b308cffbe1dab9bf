// End to end through real Kafka and HTTP: the producer SDK publishes users of two instances; each
// instance's token sees its own users and none of the other's. Duplicated delivery changes nothing.
import { generateHistory } from "@idp/producer/src/history.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestService, type TestService, waitForPositions } from "../../../test/support/service.ts";
import { REF_COLUMNS, referenceUsers } from "../../../test/support/users-reference.ts";
import { usersService } from "../src/index.ts";

let t: TestService;
const history = generateHistory({ seed: 7, instances: 2, orgsPerInstance: 2, usersPerOrg: 8, eventsPerUser: 5, prefix: "e2e-" });
const [instA, instB] = ["e2e-inst-1", "e2e-inst-2"];

beforeAll(async () => {
  t = await startTestService(usersService);
  const positions = await t.publisher.publish(history);
  await waitForPositions(t.svc.pool, "users", positions);
});
afterAll(async () => t?.close());

const listAll = async (instanceId: string) => {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const res = await t.get(`/v1/users?limit=7${cursor ? `&cursor=${cursor}` : ""}`, instanceId);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { result: { id: string; details: { resourceOwner: string } }[]; nextCursor: string | null };
    ids.push(...body.result.map((u) => u.id));
    cursor = body.nextCursor;
  } while (cursor);
  return ids.sort();
};

describe("users end to end", () => {
  it("each instance sees exactly its own users (paged through the keyset cursor)", async () => {
    const ref = [...referenceUsers(history).values()];
    for (const inst of [instA, instB]) {
      const expected = ref
        .filter((u) => u.instance_id === inst)
        .map((u) => u.id)
        .sort();
      expect(expected.length).toBeGreaterThan(5);
      expect(await listAll(inst)).toEqual(expected);
    }
  });

  it("a user of instance A is not found with a token of instance B", async () => {
    const some = [...referenceUsers(history).values()].find((u) => u.instance_id === instA);
    expect((await t.get(`/v1/users/${some?.id}`, instA)).status).toBe(200);
    const other = await t.get(`/v1/users/${some?.id}`, instB);
    expect(other.status).toBe(404);
    expect(await other.json()).toMatchObject({ code: "not_found" });
  });

  it("the read model equals a reference computed independently from the produced events", async () => {
    const rows = (await t.svc.pool.query(`SELECT ${REF_COLUMNS} FROM users ORDER BY instance_id, id`)).rows;
    const ref = [...referenceUsers(history).values()].sort((a, b) => a.instance_id.localeCompare(b.instance_id) || a.id.localeCompare(b.id));
    expect(rows).toEqual(ref);
  });

  it("publishing every event a second time (producer retries) changes nothing", async () => {
    const before = (await t.svc.pool.query("SELECT * FROM users ORDER BY instance_id, id")).rows;
    const applied = (await t.svc.pool.query("SELECT sum(applied_events)::int AS n FROM projector_offsets")).rows[0].n;
    const positions = await t.publisher.publish(history);
    await waitForPositions(t.svc.pool, "users", positions);
    expect((await t.svc.pool.query("SELECT * FROM users ORDER BY instance_id, id")).rows).toEqual(before);
    expect((await t.svc.pool.query("SELECT sum(applied_events)::int AS n FROM projector_offsets")).rows[0].n).toBe(applied);
    expect(applied).toBe(history.length);
  });
});
