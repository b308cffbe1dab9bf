// The log guard decides per partition from the state it loaded last: a batch fetched while an
// assignment was still loading must not stop the partition on a state nobody reads any more (readiness
// would say "ready" while the partition sits paused), and a pause it left must not outlive its state.
import type pg from "pg";
import { describe, expect, it } from "vitest";
import { createLogger } from "../src/index.ts";
import type { AdminPort, ConsumedRecord, RecordBatch } from "../src/kafka/port.ts";
import { LogGuard } from "../src/log-guard.ts";
import type { ProjectorMetrics } from "../src/metrics.ts";
import { recordHash } from "../src/store/instance-partitions.ts";

const tp = { topic: "t", partition: 0 };
const record = (offset: number, value: string): ConsumedRecord => ({
  ...tp,
  offset: String(offset),
  key: Buffer.from("inst"),
  value: Buffer.from(value),
  headers: {},
});
const applied = record(0, "the record applied at offset 0");
const admin: AdminPort = {
  ensureTopic: async () => {},
  partitionOffsets: async () => [{ partition: 0, low: "0", high: "20" }],
  offsetsAt: async () => [],
  close: async () => {},
};
const metrics = { logMismatch: { set: () => {} } } as unknown as ProjectorMetrics;

/** A pool holding one stored offset row; `gate` holds back the next identity read until released. */
function fakePool(identity: { check_offset: string | null; check_hash: string | null }) {
  let gate: Promise<void> | undefined;
  const pool = {
    query: async (sql: string) => {
      if (!sql.trimStart().startsWith("SELECT")) return { rows: [] };
      const g = gate;
      gate = undefined;
      if (g) await g;
      return { rows: [{ next: "10", cluster_id: null, log_mismatch: null, ...identity }] };
    },
  } as unknown as pg.Pool;
  return {
    pool,
    holdNextRead: () => {
      let release = () => {};
      gate = new Promise<void>((r) => {
        release = r;
      });
      return release;
    },
  };
}

function guardOn(pool: pg.Pool) {
  const calls: string[] = [];
  const guard = new LogGuard({
    pool,
    projection: "users",
    admin,
    logger: createLogger("log-guard-test", "silent"),
    metrics,
    pause: () => calls.push("pause"),
    resume: () => calls.push("resume"),
    seek: () => {},
  });
  return { guard, calls };
}

const batchOf = (...records: ConsumedRecord[]): RecordBatch => ({ ...tp, records, highWatermark: "20", fetchedOffset: records[0]?.offset ?? "0" });

describe("LogGuard", () => {
  it("a batch judged while the assignment reloads stops the partition in the state readiness reads", async () => {
    const db = fakePool({ check_offset: "0", check_hash: recordHash(applied) });
    const { guard, calls } = guardOn(db.pool);
    const release = db.holdNextRead();
    const judged = guard.beforeBatch(batchOf(record(0, "another log's record at offset 0"), record(1, "x")));
    const starts = await guard.onAssigned([{ ...tp, offset: "10" }]);
    expect(starts).toEqual([{ ...tp, offset: "0" }]); // the fingerprinted record is read first
    release();
    expect(await judged).toEqual({ kind: "abandon" });
    expect((await guard.mismatches()).map((m) => m.reason)).toEqual([expect.stringMatching(/not the one applied there/)]);
    expect(new Set(calls)).toEqual(new Set(["pause"]));
  });

  it("a pause left by a replaced state is lifted when the new assignment finds the log fine", async () => {
    const db = fakePool({ check_offset: "0", check_hash: recordHash(applied) });
    const { guard, calls } = guardOn(db.pool);
    await guard.onAssigned([{ ...tp, offset: "10" }]);
    expect(await guard.beforeBatch(batchOf(record(0, "another log's record")))).toEqual({ kind: "abandon" });
    expect(new Set(calls)).toEqual(new Set(["pause"]));
    // Another member rebuilt the partition meanwhile: no fingerprint is stored any more.
    const fine = fakePool({ check_offset: null, check_hash: null });
    (db.pool as unknown as { query: unknown }).query = fine.pool.query;
    await guard.onAssigned([{ ...tp, offset: "10" }]);
    expect(calls.at(-1)).toBe("resume");
    expect(await guard.mismatches()).toEqual([]);
    expect(await guard.beforeBatch(batchOf(record(10, "next")))).toBeUndefined();
  });

  it("a partition whose assignment could not load (topic gone) and that gets no batch is stopped once its end is seen below the stored offset", async () => {
    const db = fakePool({ check_offset: "0", check_hash: recordHash(applied) });
    const ends = { fail: true, high: "0" };
    const guard = new LogGuard({
      pool: db.pool,
      projection: "users",
      admin: {
        ...admin,
        partitionOffsets: async () => {
          if (ends.fail) throw new Error("This server does not host this topic-partition");
          return [{ partition: 0, low: "0", high: ends.high }];
        },
      },
      logger: createLogger("log-guard-test", "silent"),
      metrics,
      pause: () => {},
      resume: () => {},
      seek: () => {},
    });
    await expect(guard.onAssigned([{ ...tp, offset: "10" }])).rejects.toThrow(/does not host/);
    // The topic is back, re-created and empty: no batch will ever come; readiness sees end 0 < stored 10.
    ends.fail = false;
    await guard.checkEnd(tp);
    expect((await guard.mismatches()).map((m) => m.reason)).toEqual([expect.stringMatching(/stored offset 10 is past the partition's end 0/)]);
  });

  it("never resumes a partition it did not pause (an operator's pause stays)", async () => {
    const db = fakePool({ check_offset: null, check_hash: null });
    const { guard, calls } = guardOn(db.pool);
    await guard.onAssigned([{ ...tp, offset: "10" }]);
    await guard.onAssigned([{ ...tp, offset: "10" }]);
    expect(calls).toEqual([]);
  });
});
