// instance.removed is derived from the projection's declared tables: every table, including one declared
// after cascadeInstanceRemoval() was called, loses the instance's rows; other instances keep theirs; the
// instance tombstone is written, so a late event of the removed instance adds nothing.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ev from "@idp/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { type ProjectionSpec, projectionSpec } from "../../../test/support/projection-spec.ts";
import { baseColumns, col, created, instanceTombstone, Projection, type ServiceDefinition } from "../src/index.ts";

const cascade = new Projection("cascade");
const first = cascade.table({ name: "first_things", key: ["instance_id", "id"], columns: { ...baseColumns, id: col.text, name: col.text } });
cascade.cascadeInstanceRemoval();
// Declared after the cascade was registered, and never named by it.
const second = cascade.table({ name: "second_things", key: ["instance_id", "id"], columns: { ...baseColumns, id: col.text, name: col.text } });

cascade.onRow(ev.userUsernameChanged, first, (_row, e) => ({ ...created(first, e), id: e.aggregateId, name: e.payload.userName }), {
  unlessRemoved: instanceTombstone,
});
cascade.onRow(ev.userDomainClaimed, second, (_row, e) => ({ ...created(second, e), id: e.aggregateId, name: e.payload.userName }), {
  unlessRemoved: instanceTombstone,
});

const dir = mkdtempSync(join(tmpdir(), "cascade-"));
const ddl = (t: string) => `CREATE TABLE ${t} (instance_id text NOT NULL, id text NOT NULL, resource_owner text NOT NULL,
  change_date timestamptz NOT NULL, sequence bigint NOT NULL, name text NOT NULL, PRIMARY KEY (instance_id, id));`;
writeFileSync(join(dir, "001_things.sql"), `${ddl("first_things")}\n${ddl("second_things")}`);
const def: ServiceDefinition = { name: "cascade", defaultPort: 0, projection: cascade, catalog: ev.catalog, migrationsDir: dir, routes: () => async () => {} };

let spec: ProjectionSpec;
beforeAll(async () => {
  spec = await projectionSpec(def);
});
afterAll(async () => spec?.close());

const rowsOf = async (table: string) => (await spec.pool.query(`SELECT instance_id, id, name FROM ${table} ORDER BY 1, 2`)).rows;

describe("instance removal cascade", () => {
  it("names every declared table, including one declared after it was registered", () => {
    const statements = cascade
      .handlersFor(ev.instanceRemoved.type)
      ?.flatMap((h) => (h.kind === "sql" ? h.statements({ instanceId: "i" } as never) : []))
      .map((s) => s.text);
    expect(statements).toEqual(['DELETE FROM "first_things" WHERE instance_id = $1', 'DELETE FROM "second_things" WHERE instance_id = $1']);
  });

  it("deletes the instance's rows of every table, writes its tombstone and skips its late events", async () => {
    const userOf = (instance: string) => aggregate(instance, `u-${instance}`, `org-${instance}`);
    const [u1, u2] = [userOf("i1"), userOf("i2")];
    await spec.given(
      u1(ev.userUsernameChanged, { userName: "one" }),
      u1(ev.userDomainClaimed, { userName: "one-claimed" }),
      u2(ev.userUsernameChanged, { userName: "two" }),
      u2(ev.userDomainClaimed, { userName: "two-claimed" }),
    );
    expect(await rowsOf("second_things")).toHaveLength(2);

    await spec.given(aggregate("i1", "i1", "i1")(ev.instanceRemoved, {}));
    expect(await rowsOf("first_things")).toEqual([{ instance_id: "i2", id: "u-i2", name: "two" }]);
    expect(await rowsOf("second_things")).toEqual([{ instance_id: "i2", id: "u-i2", name: "two-claimed" }]);
    const { rows: tombstones } = await spec.pool.query("SELECT instance_id, kind, id FROM projector_tombstones ORDER BY 1, 2, 3");
    expect(tombstones).toEqual([{ instance_id: "i1", kind: "instance", id: "i1" }]);

    // A late event of the removed instance (e.g. from another topic) brings no row back.
    const late = aggregate("i1", "u-late", "org-i1");
    await spec.given(late(ev.userUsernameChanged, { userName: "late" }), late(ev.userDomainClaimed, { userName: "late" }));
    expect(await rowsOf("first_things")).toEqual([{ instance_id: "i2", id: "u-i2", name: "two" }]);
    expect(await rowsOf("second_things")).toEqual([{ instance_id: "i2", id: "u-i2", name: "two-claimed" }]);
  });
});
