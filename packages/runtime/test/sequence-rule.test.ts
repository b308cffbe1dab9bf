// The sequence rule (src/sequence-rule.ts): a record is dropped as a duplicate only when it is one; a new
// event at or below its aggregate's applied sequence is parked as a contract violation, visibly. Then the
// parked bookkeeping across a replay of the same offsets: first error kept, attempts counted, no event
// waiting behind itself. Against real PostgreSQL, through the BatchApplier, with explicit offsets.

import { randomUUID } from "node:crypto";
import * as ev from "@idp/events";
import { type EventToPublish, encodeEvent } from "@idp/producer";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { usersService } from "../../../services/users/src/index.ts";
import { databaseUrl, uniqueName } from "../../../test/support/env.ts";
import { aggregate } from "../../../test/support/events.ts";
import { noBroker } from "../../../test/support/projection-spec.ts";
import { BatchApplier, type ConsumedRecord, createLogger, createPool, migrate, serviceMigrations } from "../src/index.ts";
import { advance, judge, type SequenceState } from "../src/sequence-rule.ts";
import { moveOffset } from "../src/store/offsets.ts";

const at = (offset: number, partition = 0) => ({ topic: "t", partition, offset: String(offset) });

describe("the rule, as a table", () => {
  const s3: SequenceState = { sequence: 3, eventId: "e3", position: at(11), missing: [[2, 2]] };
  it.each([
    ["nothing applied yet", undefined, { aggregateSequence: 5, eventId: "x", position: at(1) }, "apply"],
    ["a later sequence", s3, { aggregateSequence: 4, eventId: "e4", position: at(12) }, "apply"],
    ["a position read before (replay)", s3, { aggregateSequence: 2, eventId: "other", position: at(9) }, "duplicate"],
    ["the last event again (producer retry)", s3, { aggregateSequence: 3, eventId: "e3", position: at(15) }, "duplicate"],
    ["another event claiming the applied sequence", s3, { aggregateSequence: 3, eventId: "zz", position: at(15) }, "violation"],
    ["a late copy of an applied sequence", s3, { aggregateSequence: 1, eventId: "e1", position: at(15) }, "duplicate"],
    ["a new event filling a gap (out of order)", s3, { aggregateSequence: 2, eventId: "e2", position: at(15) }, "violation"],
    ["a skipped sequence on another partition", s3, { aggregateSequence: 2, eventId: "e2", position: at(3, 1) }, "violation"],
  ] as const)("%s", (_, state, e, kind) => {
    expect(judge(state, e).kind).toBe(kind);
  });

  it("names the violation", () => {
    expect(judge(s3, { aggregateSequence: 2, eventId: "e2", position: at(15) })).toEqual({
      kind: "violation",
      outOfOrder: true,
      error: "out of order: sequence 2 after 3",
    });
    expect(judge(s3, { aggregateSequence: 3, eventId: "zz", position: at(15) })).toMatchObject({
      outOfOrder: false,
      error: expect.stringContaining("already applied as event e3"),
    });
  });

  it("remembers the sequences skipped over", () => {
    const s = advance(advance(undefined, { aggregateSequence: 1, eventId: "a", position: at(1) }), { aggregateSequence: 4, eventId: "b", position: at(2) });
    expect(s).toEqual({ sequence: 4, eventId: "b", position: at(2), missing: [[2, 3]] });
  });
});

let pool: pg.Pool;
let schema: string;
let applier: BatchApplier;

beforeAll(async () => {
  schema = uniqueName("seqrule");
  pool = createPool({ connectionString: databaseUrl(), schema, max: 3 });
  await migrate(pool, schema, serviceMigrations(usersService));
  applier = new BatchApplier({
    pool,
    projection: usersService.projection,
    catalog: usersService.catalog,
    admin: noBroker,
    logger: createLogger("seqrule", "silent"),
    maxAttempts: 1,
  });
});
afterAll(async () => {
  await pool?.query(`DROP SCHEMA ${schema} CASCADE`);
  await pool?.end();
});

/** Applies records at consecutive offsets from `from` as one batch. */
async function deliver(from: number, records: Omit<ConsumedRecord, "topic" | "partition" | "offset">[]) {
  const batch = records.map((r, i) => ({ ...r, topic: "t", partition: 0, offset: String(from + i) }));
  const result = await applier.apply({ topic: "t", partition: 0, records: batch, fetchedOffset: String(from), highWatermark: String(from + batch.length) });
  if (result.kind !== "done" || !result.stats) throw new Error(`batch not applied: ${result.kind}`);
  return result.stats;
}
const wire = (e: EventToPublish) => {
  const r = encodeEvent(e, usersService.catalog);
  return { key: Buffer.from(r.key), value: r.value, headers: r.headers };
};
const human = (userName: string) => ({ userName, firstName: "S", lastName: "R", email: `${userName}@x.example`, changeRequired: false });
const username = async (id: string) => (await pool.query("SELECT username, sequence FROM users WHERE id = $1", [id])).rows[0];
const parkedRows = async (instance: string) =>
  (
    await pool.query(
      `SELECT id::int, aggregate_sequence::int AS seq, error, last_error, attempts, blocked_by::int, blocking, status
       FROM projector_parked_events WHERE instance_id = $1 ORDER BY id`,
      [instance],
    )
  ).rows;

describe("through the applier", () => {
  let next = 0;
  const send = async (...events: EventToPublish[]) => {
    const stats = await deliver(next, events.map(wire));
    next += events.length;
    return stats;
  };

  it("sequences 1, 3, 2: 2 is parked as out of order (not dropped), and the aggregate keeps flowing", async () => {
    const u = aggregate("sr1", "u", "o");
    const e1 = u(ev.userHumanAdded, human("one"));
    const e2 = u(ev.userUsernameChanged, { userName: "two" });
    const e3 = u(ev.userUsernameChanged, { userName: "three" });
    const e4 = u(ev.userUsernameChanged, { userName: "four" });
    expect(await send(e1, e3)).toMatchObject({ applied: 2, duplicates: 0 });
    expect(await send(e2)).toMatchObject({ applied: 0, duplicates: 0, parked: 1, outOfOrder: 1 });
    expect(await parkedRows("sr1")).toEqual([
      {
        id: expect.any(Number),
        seq: 2,
        error: "out of order: sequence 2 after 3",
        last_error: "out of order: sequence 2 after 3",
        attempts: 1,
        blocked_by: null,
        blocking: false,
        status: "parked",
      },
    ]);
    // Not a blocking park: the aggregate has moved past it.
    expect(await send(e4)).toMatchObject({ applied: 1, parked: 0 });
    expect(await username("u")).toEqual({ username: "four", sequence: 4 });
  });

  it("true duplicates are dropped: the same event again, a late copy, a replayed position", async () => {
    const u = aggregate("sr2", "v", "o");
    const e1 = { ...u(ev.userHumanAdded, human("v1")), eventId: randomUUID() };
    const e2 = { ...u(ev.userUsernameChanged, { userName: "v2" }), eventId: randomUUID() };
    const e3 = { ...u(ev.userUsernameChanged, { userName: "v3" }), eventId: randomUUID() };
    expect(await send(e1, e2, e2, e3, e1, e3)).toMatchObject({ applied: 3, duplicates: 3, parked: 0 });
    // Another event with the applied sequence 3 is no duplicate: it is parked.
    const rogue = { ...e3, eventId: randomUUID(), payload: { userName: "rogue" } };
    expect(await send(rogue)).toMatchObject({ applied: 0, duplicates: 0, parked: 1, outOfOrder: 0 });
    expect((await parkedRows("sr2"))[0]?.error).toMatch(/contract violation: sequence 3 already applied as event/);
    expect(await username("v")).toEqual({ username: "v3", sequence: 3 });
  });

  it("a replay over parked events keeps the first error, counts attempts, and never points an event at itself", async () => {
    const u = aggregate("sr3", "w", "o");
    const w1 = u(ev.userHumanAdded, human("w1"));
    const bad = wire(u(ev.userUsernameChanged, { userName: "w2" }));
    bad.value = Buffer.from([0xff, 0xff, 0xff]);
    const w3 = u(ev.userUsernameChanged, { userName: "w3" });
    const from = next;
    const records = [wire(w1), bad, wire(w3)];
    expect(await deliver(from, records)).toMatchObject({ applied: 1, parked: 2 });
    next = from + records.length;
    const first = await parkedRows("sr3");
    expect(first).toEqual([
      expect.objectContaining({ seq: 2, error: expect.stringMatching(/user.username.changed v1/), attempts: 1, blocked_by: null, blocking: true }),
      expect.objectContaining({ seq: 3, error: `waiting behind parked event #${first[0]?.id} of the same aggregate`, attempts: 0, blocked_by: first[0]?.id }),
    ]);

    // The operator replays the partition: the stored offset goes back and the same records come again.
    expect(await moveOffset(pool, "users", { topic: "t", partition: 0 }, String(from))).toBe(String(next));
    expect(await deliver(from, records)).toMatchObject({ applied: 0, duplicates: 1, parked: 2 });
    const again = await parkedRows("sr3");
    expect(again).toEqual([
      expect.objectContaining({ id: first[0]?.id, error: first[0]?.error, last_error: first[0]?.error, attempts: 2, blocked_by: null }),
      expect.objectContaining({ id: first[1]?.id, error: first[1]?.error, attempts: 0, blocked_by: first[0]?.id }),
    ]);
    expect(again.every((r) => r.blocked_by !== r.id)).toBe(true);
    expect(await username("w")).toEqual({ username: "w1", sequence: 1 });
  });
});
