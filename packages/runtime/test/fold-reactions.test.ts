// A set-based reaction that names the tables it touches runs inside a fold segment that uses none of
// them, so one removal in a batch does not make every row of the batch be loaded and written twice;
// when the segment does use them, it still ends the segment, and the effects keep the stream's order.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ev from "@idp/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { type ProjectionSpec, projectionSpec } from "../../../test/support/projection-spec.ts";
import { baseColumns, col, created, Projection, type ServiceDefinition } from "../src/index.ts";

const reactions = new Projection("reactions");
const things = reactions.table({ name: "things", key: ["instance_id", "id"], columns: { ...baseColumns, id: col.text, name: col.text } });
const notes = reactions.table({ name: "notes", key: ["instance_id", "id"], columns: { ...baseColumns, id: col.text, name: col.text } });
reactions.onRow(ev.userUsernameChanged, things, (_row, e) => ({ ...created(things, e), id: e.aggregateId, name: e.payload.userName }));
reactions.onRow(ev.userDomainClaimed, notes, (_row, e) => ({ ...created(notes, e), id: e.aggregateId, name: e.payload.userName }));
reactions.onSql(ev.userRemoved, (e) => [{ text: "DELETE FROM notes WHERE instance_id = $1 AND id = $2", values: [e.instanceId, e.aggregateId] }], {
  touches: [notes],
});
reactions.onRow(ev.userDeactivated, things, () => null);
// Declares notes but writes things: refused.
reactions.onSql(ev.userLocked, (e) => [{ text: "DELETE FROM things WHERE instance_id = $1 AND id = $2", values: [e.instanceId, e.aggregateId] }], {
  touches: [notes],
});

const dir = mkdtempSync(join(tmpdir(), "reactions-"));
const ddl = (t: string) => `CREATE TABLE ${t} (instance_id text NOT NULL, id text NOT NULL, resource_owner text NOT NULL,
  change_date timestamptz NOT NULL, sequence bigint NOT NULL, name text NOT NULL, PRIMARY KEY (instance_id, id));`;
writeFileSync(join(dir, "001_things.sql"), `${ddl("things")}\n${ddl("notes")}\nSELECT projector_guard_tenant_keys();`);
const def: ServiceDefinition = {
  name: "reactions",
  defaultPort: 0,
  projection: reactions,
  catalog: ev.catalog,
  migrationsDir: dir,
  routes: () => async () => {},
};

let spec: ProjectionSpec;
beforeAll(async () => {
  spec = await projectionSpec(def);
});
afterAll(async () => spec?.close());

const names = async (table: string) => (await spec.pool.query(`SELECT id, name FROM ${table} ORDER BY 1`)).rows;
const user = (id: string) => aggregate("i1", id, "o1");

describe("set-based reactions that name their tables", () => {
  it("run inside a segment that does not use those tables: the segment's rows are loaded and written once", async () => {
    const [a, b] = [user("a"), user("b")];
    const stats = await spec.given(a(ev.userUsernameChanged, { userName: "a1" }), b(ev.userRemoved, {}), a(ev.userUsernameChanged, { userName: "a2" }));
    // things: one load and one upsert for the whole batch; notes: the reaction's one DELETE.
    expect(stats.statements).toBe(3);
    expect(await names("things")).toEqual([{ id: "a", name: "a2" }]);
  });

  it("do not split the loads of tables they do not touch: rows wanted on both sides of them are read in one query", async () => {
    const [f, g, h] = [user("f"), user("g"), user("h")];
    const stats = await spec.given(
      f(ev.userUsernameChanged, { userName: "f1" }),
      g(ev.userRemoved, {}),
      h(ev.userUsernameChanged, { userName: "h1" }),
      g(ev.userRemoved, {}),
      f(ev.userUsernameChanged, { userName: "f2" }),
    );
    // things: one load (f and h) and one upsert; notes: the two reactions' DELETEs.
    expect(stats.statements).toBe(4);
    expect((await names("things")).filter((r) => ["f", "h"].includes(r.id))).toEqual([
      { id: "f", name: "f2" },
      { id: "h", name: "h1" },
    ]);
  });

  it("end the segment when it uses them, so the stream's order of effects holds", async () => {
    const [c, d] = [user("c"), user("d")];
    await spec.given(
      c(ev.userDomainClaimed, { userName: "c-claimed" }), // written before the removal …
      c(ev.userRemoved, {}), // … so the removal deletes it
      d(ev.userRemoved, {}), // runs before d's row below is written: d stays
      d(ev.userDomainClaimed, { userName: "d-claimed" }),
    );
    expect(await names("notes")).toEqual([{ id: "d", name: "d-claimed" }]);
  });

  it("are held to the tables they named", async () => {
    const e = user("e");
    await expect(spec.given(e(ev.userUsernameChanged, { userName: "e1" }), e(ev.userLocked, {}))).rejects.toThrow(
      /declared it touches notes but its statement names things/,
    );
  });

  it("a row deleted and created again in one batch, by another org, is inserted afresh (as one by one), not moved", async () => {
    const fromA = aggregate("i1", "again", "org-a");
    const fromB = aggregate("i1", "again", "org-b", Date.parse("2026-04-01T00:00:00Z"));
    await spec.given(fromA(ev.userUsernameChanged, { userName: "first" }));
    // Sequences 1 and 2 of org-b's view are not published: its event is the aggregate's sequence 3.
    fromB(ev.userUsernameChanged, { userName: "skipped" });
    fromB(ev.userUsernameChanged, { userName: "skipped" });
    await spec.given(fromA(ev.userDeactivated, {}), fromB(ev.userUsernameChanged, { userName: "second" }));
    const { rows } = await spec.pool.query("SELECT resource_owner, name FROM things WHERE id = 'again'");
    expect(rows).toEqual([{ resource_owner: "org-b", name: "second" }]);
  });
});
