// Poison events: a reducer failure is retried, then parked with its error; a record that does not decode
// parks at once; later events of the same aggregate park behind it (per-aggregate order is never broken)
// while other aggregates flow.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ev from "@idp/events";
import { encodeEvent } from "@idp/producer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { type ProjectionSpec, projectionSpec } from "../../../test/support/projection-spec.ts";
import { baseColumns, col, created, Projection, recordAttemptOf, type ServiceDefinition, touched } from "../src/index.ts";

const poison = new Projection("poison");
const things = poison.table({
  name: "things",
  key: ["instance_id", "id"],
  columns: { ...baseColumns, id: col.text, name: col.text },
});
poison.onRow(ev.userUsernameChanged, things, (row, e) => {
  if (e.payload.userName === "boom") throw new Error("cannot handle boom");
  return touched(row ?? { ...created(things, e), id: e.aggregateId, name: "" }, e, { name: e.payload.userName });
});
// A set-based statement that fails in SQL for one value: exercises the savepoint-per-event isolation.
poison.onSql(ev.userDomainClaimed, (e) => [
  {
    text: "INSERT INTO things VALUES ($1, $2, $3, now(), $4, $5::int::text)",
    values: [e.instanceId, `claim-${e.aggregateId}`, e.resourceOwner, e.aggregateSequence, e.payload.userName],
  },
]);

const dir = mkdtempSync(join(tmpdir(), "poison-"));
writeFileSync(
  join(dir, "001_things.sql"),
  "CREATE TABLE things (instance_id text, id text, resource_owner text, change_date timestamptz, sequence bigint, name text, PRIMARY KEY (instance_id, id));",
);
const def: ServiceDefinition = { name: "poison", defaultPort: 0, projection: poison, catalog: ev.catalog, migrationsDir: dir, routes: () => async () => {} };

let spec: ProjectionSpec;
beforeAll(async () => {
  spec = await projectionSpec(def, { maxAttempts: 2 });
});
afterAll(async () => spec?.close());

const names = async () => (await spec.pool.query("SELECT id, name FROM things WHERE id NOT LIKE 'claim-%' ORDER BY id")).rows;
const parked = async () =>
  (await spec.pool.query("SELECT aggregate_id, aggregate_sequence, status, error, blocked_by IS NOT NULL AS blocked FROM projector_parked_events ORDER BY id"))
    .rows;

describe("poison events", () => {
  it("retry, then park the failing event and the later events of its aggregate; others flow", async () => {
    const a = aggregate("p1", "a", "o");
    const b = aggregate("p1", "b", "o");
    const batch = [
      a(ev.userUsernameChanged, { userName: "a1" }),
      a(ev.userUsernameChanged, { userName: "boom" }),
      b(ev.userUsernameChanged, { userName: "b1" }),
      a(ev.userUsernameChanged, { userName: "a3" }),
      b(ev.userUsernameChanged, { userName: "b2" }),
    ];
    // Attempts 1 and 2 fail and roll back everything (each failure is counted)...
    await expect(spec.given(...batch)).rejects.toThrow(/cannot handle boom/);
    await expect(spec.given(...batch)).rejects.toThrow(/cannot handle boom/);
    expect(await names()).toEqual([]);
    // ...the next delivery parks it and its successor, and applies the rest.
    const stats = await spec.given(...batch);
    expect(stats).toMatchObject({ applied: 3, parked: 2 });
    expect(await names()).toEqual([
      { id: "a", name: "a1" },
      { id: "b", name: "b2" },
    ]);
    expect(await parked()).toEqual([
      { aggregate_id: "a", aggregate_sequence: 2, status: "parked", error: expect.stringContaining("cannot handle boom"), blocked: false },
      { aggregate_id: "a", aggregate_sequence: 3, status: "parked", error: expect.stringContaining("waiting behind parked event"), blocked: true },
    ]);

    // A later batch: aggregate a still waits behind its parked event; b keeps flowing.
    await spec.given(a(ev.userUsernameChanged, { userName: "a4" }), b(ev.userUsernameChanged, { userName: "b3" }));
    expect(await names()).toEqual([
      { id: "a", name: "a1" },
      { id: "b", name: "b3" },
    ]);
    expect((await parked()).map((p) => p.aggregate_sequence)).toEqual([2, 3, 4]);
  });

  it("the retry backoff follows each record's own attempts, not the batch's earlier failures", async () => {
    const x = aggregate("p4", "x", "o");
    const y = aggregate("p4", "y", "o");
    const batch = [x(ev.userUsernameChanged, { userName: "boom" }), y(ev.userUsernameChanged, { userName: "boom" })];
    const attempts: (number | undefined)[] = [];
    for (let i = 0; i < 4; i++) attempts.push(recordAttemptOf(await spec.given(...batch).catch((err) => err)));
    // x fails twice (maxAttempts 2) and parks; then y starts again at its first attempt.
    expect(attempts).toEqual([1, 2, 1, 2]);
    expect(await spec.given(...batch)).toMatchObject({ applied: 0, parked: 2 });
  });

  it("find the culprit of a failing set-based statement with one savepoint per event", async () => {
    const c = aggregate("p2", "c", "o");
    const d = aggregate("p2", "d", "o");
    const batch = [
      c(ev.userDomainClaimed, { userName: "1" }),
      d(ev.userDomainClaimed, { userName: "not-a-number" }),
      c(ev.userUsernameChanged, { userName: "c2" }),
    ];
    await expect(spec.given(...batch)).rejects.toThrow(/invalid input syntax/);
    // Later attempts run isolated: the bad event is identified and counted, and parked once it has
    // failed maxAttempts (2) times.
    await expect(spec.given(...batch)).rejects.toThrow(/invalid input syntax/);
    const stats = await spec.given(...batch);
    expect(stats).toMatchObject({ applied: 2, parked: 1 });
    expect((await spec.pool.query("SELECT id FROM things WHERE instance_id = 'p2' ORDER BY id")).rows).toEqual([{ id: "c" }, { id: "claim-c" }]);
    expect((await spec.pool.query("SELECT aggregate_id, status FROM projector_parked_events WHERE instance_id = 'p2'")).rows).toEqual([
      { aggregate_id: "d", status: "parked" },
    ]);
  });

  it("park an undecodable record on first sight (no retry), without blocking other aggregates", async () => {
    const good = encodeEvent(aggregate("p3", "e", "o")(ev.userUsernameChanged, { userName: "e1" }));
    const corrupt = encodeEvent(aggregate("p3", "f", "o")(ev.userUsernameChanged, { userName: "f1" }));
    corrupt.value = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    // Decoding is deterministic: the first delivery parks it (maxAttempts is for reducer failures).
    const stats = await spec.givenRecords(corrupt, good);
    expect(stats).toMatchObject({ applied: 1, parked: 1 });
    expect((await spec.pool.query("SELECT id FROM things WHERE instance_id = 'p3'")).rows).toEqual([{ id: "e" }]);
    const [row] = (
      await spec.pool.query("SELECT aggregate_id, error, last_error, attempts, payload, record_key FROM projector_parked_events WHERE instance_id = 'p3'")
    ).rows;
    expect(row).toMatchObject({
      aggregate_id: "f",
      error: expect.stringContaining("user.username.changed v1"),
      last_error: expect.stringContaining("user.username.changed v1"),
      attempts: 1,
      payload: Buffer.from([0xff, 0xff, 0xff, 0xff]),
      record_key: Buffer.from("p3"),
    });
  });
});
