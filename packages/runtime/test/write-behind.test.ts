// Write-behind (src/write-behind.ts) through the BatchApplier against real PostgreSQL: batches of a
// partition that is catching up are folded and written together; nothing is visible or committed before
// the flush; a partition written by someone else meanwhile makes the flush write nothing and rewind; a
// record to park and a write the database refuses leave the window and take the one-batch path; a full
// window commits while the next one folds over it, and a failed commit drops both.
// (The determinism specs of every service compare catching up through the window with live processing.)

import * as ev from "@idp/events";
import { type EventToPublish, encodeEvent } from "@idp/producer";
import type pg from "pg";
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { usersService } from "../../../services/users/src/index.ts";
import { databaseUrl, uniqueName } from "../../../test/support/env.ts";
import { aggregate } from "../../../test/support/events.ts";
import { noBroker } from "../../../test/support/projection-spec.ts";
import { BatchApplier, type ConsumedRecord, createLogger, createPool, migrate, serviceMigrations, type TopicPartition } from "../src/index.ts";
import { moveOffset, offsetOf } from "../src/store/offsets.ts";

let pool: pg.Pool;
let schema: string;

beforeAll(async () => {
  schema = uniqueName("wbehind");
  pool = createPool({ connectionString: databaseUrl(), schema, max: 3 });
  await migrate(pool, schema, serviceMigrations(usersService));
});
afterAll(async () => {
  await pool?.query(`DROP SCHEMA ${schema} CASCADE`);
  await pool?.end();
});

let topic: string;
let applier: BatchApplier;
let committed: [string, string][];
let rewound: [string, string][];
let next: number;
beforeEach((ctx) => {
  topic = `t${ctx.task.id}`;
  committed = [];
  rewound = [];
  next = 0;
  applier = newApplier(10_000);
});

/** An applier whose window holds up to maxRows rows and aggregate states. */
const newApplier = (maxRows: number) =>
  new BatchApplier({
    pool,
    projection: usersService.projection,
    catalog: usersService.catalog,
    admin: noBroker,
    logger: createLogger("wbehind", "silent"),
    maxAttempts: 1,
    writeBehind: { maxRows, maxDelayMs: 60_000, minLag: 100 },
    onCommitted: (tp: TopicPartition, to: string) => committed.push([`${tp.topic}/${tp.partition}`, to]),
    rewind: (tp: TopicPartition, to: string) => rewound.push([`${tp.topic}/${tp.partition}`, to]),
  });

type Wire = Omit<ConsumedRecord, "topic" | "partition" | "offset">;
const wire = (e: EventToPublish): Wire => {
  const r = encodeEvent(e, usersService.catalog);
  return { key: Buffer.from(r.key), value: r.value, headers: r.headers };
};

/** Delivers records at the next offsets as one batch; `behind` records remain after it on the partition. */
async function deliver(records: Wire[], behind: number) {
  const batch = records.map((r, i) => ({ ...r, topic, partition: 0, offset: String(next + i) }));
  const end = next + batch.length;
  const result = await applier.apply({ topic, partition: 0, records: batch, fetchedOffset: String(next), highWatermark: String(end + behind) });
  next = end;
  return result;
}
const human = (userName: string) => ({ userName, firstName: "W", lastName: "B", email: `${userName}@x.example`, changeRequired: false });
const usernames = async (instance: string) =>
  (await pool.query("SELECT id, username, sequence::int FROM users WHERE instance_id = $1 ORDER BY id", [instance])).rows;
const stored = () => offsetOf(pool, usersService.projection.name, { topic, partition: 0 });

it("folds the batches of a partition that is catching up and writes them in one flush, offsets and sequences with the rows", async () => {
  const a = aggregate("wb1", "a", "o");
  const b = aggregate("wb1", "b", "o");
  const first = wire(a(ev.userHumanAdded, human("a1")));
  expect(await deliver([first, wire(b(ev.userHumanAdded, human("b1")))], 500)).toMatchObject({
    kind: "done",
    nextOffset: "2",
    stats: { applied: 2 },
  });
  await deliver([wire(a(ev.userUsernameChanged, { userName: "a2" }))], 400);
  await deliver([wire(a(ev.userUsernameChanged, { userName: "a3" })), wire(b(ev.userUsernameChanged, { userName: "b2" }))], 300);
  // Nothing is visible, nothing is committed, read-your-writes is not told.
  expect(await usernames("wb1")).toEqual([]);
  expect(await stored()).toBe("0");
  expect(committed).toEqual([]);

  // The batch that leaves the partition caught up (lag below minLag) flushes everything at once.
  await deliver([wire(b(ev.userUsernameChanged, { userName: "b3" }))], 10);
  expect(await usernames("wb1")).toEqual([
    { id: "a", username: "a3", sequence: 3 },
    { id: "b", username: "b3", sequence: 3 },
  ]);
  expect(await stored()).toBe("6");
  expect(committed).toEqual([[`${topic}/0`, "6"]]);
  const { rows } = await pool.query("SELECT applied_events::int AS n FROM projector_offsets WHERE topic = $1", [topic]);
  expect(rows).toEqual([{ n: 6 }]);
  const sequences = await pool.query("SELECT aggregate_id, sequence::int FROM projector_aggregate_sequences WHERE instance_id = 'wb1' ORDER BY 1");
  expect(sequences.rows).toEqual([
    { aggregate_id: "a", sequence: 3 },
    { aggregate_id: "b", sequence: 3 },
  ]);
  // A redelivery from 0 is below the stored offset: skipped.
  next = 0;
  expect(await deliver([first], 0)).toMatchObject({ kind: "done", nextOffset: "6", stats: { applied: 0 } });
});

it("writes nothing when someone else wrote the partition meanwhile, and reads it again from the stored offset", async () => {
  const a = aggregate("wb2", "a", "o");
  const x1 = wire(a(ev.userHumanAdded, human("x1")));
  const x2 = wire(a(ev.userUsernameChanged, { userName: "x2" }));
  await deliver([x1], 500);
  await deliver([x2], 400);
  // An operator's replay (or another member, or a switch) wrote the offsets row, here to where it already was.
  await moveOffset(pool, usersService.projection.name, { topic, partition: 0 }, "0");
  await expect(applier.flush()).rejects.toThrow(/written by someone else/);
  expect(await usernames("wb2")).toEqual([]);
  expect(rewound).toEqual([[`${topic}/0`, "0"]]);
  expect(committed).toEqual([]);
  // Read again from there: applied once.
  next = 0;
  await deliver([x1], 500);
  await deliver([x2], 0);
  expect(await usernames("wb2")).toEqual([{ id: "a", username: "x2", sequence: 2 }]);
  expect(await stored()).toBe("2");
});

it("flushes the window before a record that must park, then parks it in a batch of its own", async () => {
  const a = aggregate("wb3", "a", "o");
  await deliver([wire(a(ev.userHumanAdded, human("p1")))], 500);
  const broken = { ...wire(a(ev.userUsernameChanged, { userName: "p2" })), value: Buffer.from("not avro") };
  expect(await deliver([broken], 400)).toMatchObject({ kind: "done", nextOffset: "2", stats: { parked: 1 } });
  expect(await usernames("wb3")).toEqual([{ id: "a", username: "p1", sequence: 1 }]);
  expect(await stored()).toBe("2");
  expect(committed).toEqual([
    [`${topic}/0`, "1"],
    [`${topic}/0`, "2"],
  ]);
});

it("a write the database refuses drops the window; the partition then finds the culprit event by event and parks it", async () => {
  const a = aggregate("wb4", "a", "o");
  const b = aggregate("wb4", "b", "o");
  const batch = [wire(a(ev.userHumanAdded, human("r1"))), wire(b(ev.userHumanAdded, human("refused")))];
  await pool.query("ALTER TABLE users ADD CONSTRAINT wb4_refused CHECK (username <> 'refused')");
  try {
    await deliver(batch, 500);
    await expect(applier.flush()).rejects.toThrow(/wb4_refused/);
    expect(rewound).toEqual([[`${topic}/0`, "0"]]);
    expect(await usernames("wb4")).toEqual([]);
    // Read again: this partition now takes the one-batch path, event by event, and parks the refused one.
    next = 0;
    expect(await deliver(batch, 500)).toMatchObject({
      kind: "done",
      stats: { applied: 1, parked: 1 },
    });
    expect(await usernames("wb4")).toEqual([{ id: "a", username: "r1", sequence: 1 }]);
  } finally {
    await pool.query("ALTER TABLE users DROP CONSTRAINT wb4_refused");
  }
});

it("runs a set-based reaction inside the window, in stream order, and commits it with the rows", async () => {
  const u1 = aggregate("wb5", "u1", "o1");
  const u2 = aggregate("wb5", "u2", "o2");
  const o1 = aggregate("wb5", "o1", "o1");
  await deliver([wire(u1(ev.userHumanAdded, human("o1-user"))), wire(u2(ev.userHumanAdded, human("o2-user")))], 500);
  await deliver([wire(u1(ev.userUsernameChanged, { userName: "o1-user-2" }))], 400);
  // org o1 removed: its users are deleted by SQL, after the rows folded before it were written in the window.
  await deliver([wire(o1(ev.orgRemoved, {})), wire(u2(ev.userUsernameChanged, { userName: "o2-user-2" }))], 300);
  expect(await usernames("wb5")).toEqual([]);
  await deliver([wire(u1(ev.userUsernameChanged, { userName: "too-late" }))], 0);
  expect(await usernames("wb5")).toEqual([{ id: "u2", username: "o2-user-2", sequence: 2 }]);
  expect(await stored()).toBe("6");
});

it("folds the next window over a full one while that one commits, and commits them in order", async () => {
  applier = newApplier(5); // a user: its row, its aggregate state and the org rows its login names read; a second fills the window
  const a = aggregate("wb6", "a", "o");
  const b = aggregate("wb6", "b", "o");
  await deliver([wire(a(ev.userHumanAdded, human("f1")))], 500);
  await deliver([wire(b(ev.userHumanAdded, human("g1")))], 400); // full: commits in the background
  // The next window reads a's row and state from the committing one, not from the database.
  await deliver([wire(a(ev.userUsernameChanged, { userName: "f2" }))], 300);
  await applier.flush();
  expect(await usernames("wb6")).toEqual([
    { id: "a", username: "f2", sequence: 2 },
    { id: "b", username: "g1", sequence: 1 },
  ]);
  expect(committed).toEqual([
    [`${topic}/0`, "2"],
    [`${topic}/0`, "3"],
  ]);
  expect(await stored()).toBe("3");
  expect(rewound).toEqual([]);
});

it("drops the window folded over one whose commit failed, and reads both again from where the first began", async () => {
  applier = newApplier(5);
  const a = aggregate("wb7", "a", "o");
  const b = aggregate("wb7", "b", "o");
  const records = [wire(a(ev.userHumanAdded, human("h1"))), wire(b(ev.userHumanAdded, human("i1"))), wire(a(ev.userUsernameChanged, { userName: "h2" }))];
  await deliver([records[0] as Wire], 500);
  await moveOffset(pool, usersService.projection.name, { topic, partition: 0 }, "0"); // someone else wrote the partition
  await deliver([records[1] as Wire], 400); // full: its commit fails in the background
  // Folded over the failing window, or refused when its failure is already known: either way nothing lands.
  await deliver([records[2] as Wire], 300).catch(() => {});
  await applier.flush().catch(() => {});
  expect(await usernames("wb7")).toEqual([]);
  expect(await stored()).toBe("0");
  expect(committed).toEqual([]);
  expect(rewound.at(-1)).toEqual([`${topic}/0`, "0"]);
  expect(rewound.every(([, offset]) => offset === "0")).toBe(true);
  // Read again from there: applied once.
  next = 0;
  for (const r of records) await deliver([r], 300);
  await applier.flush();
  expect(await usernames("wb7")).toEqual([
    { id: "a", username: "h2", sequence: 2 },
    { id: "b", username: "i1", sequence: 1 },
  ]);
  expect(await stored()).toBe("3");
});
