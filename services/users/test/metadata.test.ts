// Projection specs of user metadata: given events, then the expected user_metadata rows, against real
// PostgreSQL (set, replace, remove, remove all, and the user, org and instance cascades).
import * as ev from "@idp/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { type ProjectionSpec, projectionSpec } from "../../../test/support/projection-spec.ts";
import { usersService } from "../src/index.ts";

let spec: ProjectionSpec;
beforeAll(async () => {
  spec = await projectionSpec(usersService);
});
afterAll(async () => spec?.close());

let n = 0;
/** A fresh user per test, so the tests share one schema without interfering. */
const fresh = (instance = "i1", org = "o1") => {
  const id = `mu${++n}`;
  const u = aggregate(instance, id, org);
  return { id, u, added: u(ev.userHumanAdded, { userName: id, firstName: "F", lastName: "L", email: "f@x.com", changeRequired: false }) };
};
const T0 = Date.parse("2026-03-01T10:00:00Z");
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const bytes = (s: string) => Buffer.from(s, "utf8");

const entries = async (userId: string, instance = "i1") =>
  (await spec.pool.query("SELECT * FROM user_metadata WHERE instance_id = $1 AND user_id = $2 ORDER BY key", [instance, userId])).rows;

describe("user metadata projection", () => {
  it("user.metadata.set creates one row per key, value as bytes", async () => {
    const { id, u, added } = fresh();
    // Arbitrary bytes, not only text: NUL, 0xff and invalid UTF-8 survive the fold's JSON path.
    const binary = Buffer.from([0x00, 0xff, 0xc3, 0x28, 0x5c, 0x78]);
    await spec.given(added, u(ev.userMetadataSet, { key: "plan", value: bytes("gold") }), u(ev.userMetadataSet, { key: "blob", value: binary }));
    expect(await entries(id)).toEqual([
      { instance_id: "i1", user_id: id, key: "blob", resource_owner: "o1", creation_date: at(3), change_date: at(3), sequence: 3, value: binary },
      { instance_id: "i1", user_id: id, key: "plan", resource_owner: "o1", creation_date: at(2), change_date: at(2), sequence: 2, value: bytes("gold") },
    ]);
  });

  it("setting a key again replaces the value and keeps the creation date (also within one batch)", async () => {
    const { id, u, added } = fresh();
    await spec.given(added, u(ev.userMetadataSet, { key: "plan", value: bytes("gold") }));
    await spec.given(u(ev.userMetadataSet, { key: "plan", value: bytes("silver") }), u(ev.userMetadataSet, { key: "plan", value: bytes("bronze") }));
    expect(await entries(id)).toMatchObject([{ key: "plan", value: bytes("bronze"), creation_date: at(2), change_date: at(4), sequence: 4 }]);
  });

  it("keys are case-sensitive: Plan and plan are two entries", async () => {
    const { id, u, added } = fresh();
    await spec.given(added, u(ev.userMetadataSet, { key: "plan", value: bytes("a") }), u(ev.userMetadataSet, { key: "Plan", value: bytes("b") }));
    expect((await entries(id)).map((r) => r.key).sort()).toEqual(["Plan", "plan"]);
  });

  it("user.metadata.removed deletes that key only; removing a missing key is a no-op", async () => {
    const { id, u, added } = fresh();
    await spec.given(
      added,
      u(ev.userMetadataSet, { key: "a", value: bytes("1") }),
      u(ev.userMetadataSet, { key: "b", value: bytes("2") }),
      u(ev.userMetadataRemoved, { key: "a" }),
      u(ev.userMetadataRemoved, { key: "never-set" }),
    );
    expect((await entries(id)).map((r) => r.key)).toEqual(["b"]);
  });

  it("user.metadata.removed.all deletes every key of the user and no other user's", async () => {
    const one = fresh();
    const other = fresh();
    await spec.given(
      one.added,
      other.added,
      one.u(ev.userMetadataSet, { key: "a", value: bytes("1") }),
      one.u(ev.userMetadataSet, { key: "b", value: bytes("2") }),
      other.u(ev.userMetadataSet, { key: "a", value: bytes("3") }),
      one.u(ev.userMetadataRemovedAll, {}),
      // A key set after the removal of all is kept (the SQL reaction ends the fold segment: order holds).
      one.u(ev.userMetadataSet, { key: "c", value: bytes("4") }),
    );
    expect((await entries(one.id)).map((r) => r.key)).toEqual(["c"]);
    expect((await entries(other.id)).map((r) => r.key)).toEqual(["a"]);
  });

  it("user.removed deletes the user's metadata (cascade)", async () => {
    const { id, u, added } = fresh();
    const other = fresh();
    await spec.given(added, other.added, u(ev.userMetadataSet, { key: "a", value: bytes("1") }), other.u(ev.userMetadataSet, { key: "a", value: bytes("2") }));
    await spec.given(u(ev.userRemoved, {}));
    expect(await entries(id)).toEqual([]);
    expect(await entries(other.id)).toHaveLength(1);
  });

  it("org.removed deletes the metadata of the org's users only; a late set for the removed org is skipped", async () => {
    const inOrg = fresh("i1", "org-gone");
    const elsewhere = fresh("i1", "org-kept");
    await spec.given(
      inOrg.added,
      elsewhere.added,
      inOrg.u(ev.userMetadataSet, { key: "a", value: bytes("1") }),
      elsewhere.u(ev.userMetadataSet, { key: "a", value: bytes("2") }),
    );
    await spec.given(aggregate("i1", "org-gone", "org-gone")(ev.orgRemoved, {}));
    expect(await entries(inOrg.id)).toEqual([]);
    expect(await entries(elsewhere.id)).toHaveLength(1);
    // Multi-topic order: an event of the removed org's user arriving after the removal leaves no row.
    await spec.given(inOrg.u(ev.userMetadataSet, { key: "late", value: bytes("x") }));
    expect(await entries(inOrg.id)).toEqual([]);
  });

  it("instance.removed deletes the instance's metadata; late sets in it are skipped", async () => {
    const gone = fresh("i-gone", "o1");
    const kept = fresh("i-kept", "o1");
    await spec.given(
      gone.added,
      kept.added,
      gone.u(ev.userMetadataSet, { key: "a", value: bytes("1") }),
      kept.u(ev.userMetadataSet, { key: "a", value: bytes("2") }),
    );
    await spec.given(aggregate("i-gone", "i-gone", "i-gone")(ev.instanceRemoved, {}));
    expect(await entries(gone.id, "i-gone")).toEqual([]);
    expect(await entries(kept.id, "i-kept")).toHaveLength(1);
    await spec.given(gone.u(ev.userMetadataSet, { key: "late", value: bytes("x") }));
    expect(await entries(gone.id, "i-gone")).toEqual([]);
  });

  it("a redelivered set changes nothing (sequence guard)", async () => {
    const { id, u, added } = fresh();
    const set = u(ev.userMetadataSet, { key: "a", value: bytes("1") });
    const replace = u(ev.userMetadataSet, { key: "a", value: bytes("2") });
    await spec.given(added, set, replace);
    const stats = await spec.given(set);
    expect(stats.duplicates).toBe(1);
    expect(await entries(id)).toMatchObject([{ value: bytes("2"), sequence: 3 }]);
  });
});
