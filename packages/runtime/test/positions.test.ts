// The position a query response reflects needs the topic's partition count from Kafka; Kafka being
// unreachable must never stall the query API.

import { partitionForKey } from "@idp/events";
import type pg from "pg";
import { describe, expect, it, vi } from "vitest";
import { type AdminPort, PositionTracker } from "../src/index.ts";

const adminWith = (partitionOffsets: AdminPort["partitionOffsets"]): AdminPort => ({
  partitionOffsets,
  ensureTopic: async () => {},
  offsetsAt: async () => [],
  close: async () => {},
});
/** A pool answering the learned-partitions lookup with these rows (topic, partition) for every instance. */
const learnedPool = (rows: { topic: string; partition: number }[]) => ({ query: async () => ({ rows }) }) as unknown as pg.Pool;
const noPool = learnedPool([]); // nothing learned yet: the default partitioner's guess

describe("PositionTracker.tenantPositions", () => {
  it("reflects the applied offset of the tenant's partition", async () => {
    let lookups = 0;
    const admin = adminWith(async () => {
      lookups++;
      return [0, 1, 2, 3].map((partition) => ({ partition, low: "0", high: "100" }));
    });
    const tracker = new PositionTracker(noPool, "users", admin, ["t.users"]);
    const partition = partitionForKey("inst-1", 4);
    tracker.noteApplied("t.users", partition, "42");
    expect(await tracker.tenantPositions("inst-1")).toEqual([`t.users:${partition}:41`]);
    expect(await tracker.tenantPositions("inst-1")).toEqual([`t.users:${partition}:41`]);
    expect(lookups).toBe(1); // the partition count is looked up once
  });

  it("answers without the position when Kafka does not answer, and later queries do not wait again", async () => {
    const never = new Promise<never>(() => {});
    const tracker = new PositionTracker(
      noPool,
      "users",
      adminWith(() => never),
      ["t.users"],
    );
    tracker.noteApplied("t.users", 0, "5");
    expect(await tracker.tenantPositions("inst-1")).toEqual([]);
    expect(await tracker.tenantPositions("inst-1")).toEqual([]);
  });

  it("tries again once a failed lookup has settled", async () => {
    let calls = 0;
    const admin = adminWith(async () => {
      if (++calls === 1) throw new Error("broker unreachable");
      return [{ partition: 0, low: "0", high: "9" }];
    });
    const tracker = new PositionTracker(noPool, "users", admin, ["t.users"]);
    tracker.noteApplied("t.users", 0, "9");
    expect(await tracker.tenantPositions("inst-1")).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(await tracker.tenantPositions("inst-1")).toEqual(["t.users:0:8"]);
  });
});

describe("PositionTracker.tenantPositions with learned partitions", () => {
  it("uses the partitions the instance's events were seen on, not the hash of its key", async () => {
    const admin = adminWith(async () => [0, 1, 2, 3].map((partition) => ({ partition, low: "0", high: "100" })));
    const guess = partitionForKey("inst-1", 4);
    const seen = (guess + 1) % 4;
    const tracker = new PositionTracker(learnedPool([{ topic: "t.users", partition: seen }]), "users", admin, ["t.users"]);
    tracker.noteApplied("t.users", guess, "42");
    tracker.noteApplied("t.users", seen, "7");
    expect(await tracker.tenantPositions("inst-1")).toEqual([`t.users:${seen}:6`]);
  });

  it("reports every partition an instance was seen on", async () => {
    const tracker = new PositionTracker(
      learnedPool([
        { topic: "t.users", partition: 0 },
        { topic: "t.users", partition: 2 },
      ]),
      "users",
      adminWith(async () => []),
      ["t.users"],
    );
    tracker.noteApplied("t.users", 0, "3");
    tracker.noteApplied("t.users", 2, "9");
    expect(await tracker.tenantPositions("inst-1")).toEqual(["t.users:0:2", "t.users:2:8"]);
  });
});

describe("PositionTracker.waitFor", () => {
  it("is woken by this process's commit at once, without polling the stored offsets", async () => {
    vi.useFakeTimers();
    try {
      let queries = 0;
      const pool = {
        query: async () => {
          queries++;
          return { rows: [] };
        },
      } as unknown as pg.Pool;
      const tracker = new PositionTracker(
        pool,
        "users",
        adminWith(async () => []),
        ["t.users"],
      );
      const waiting = tracker.waitFor([{ topic: "t.users", partition: 1, offset: "7" }], 5000);
      await Promise.resolve();
      tracker.noteApplied("t.users", 1, "8"); // no timer has fired: only the wake can end the wait
      expect(await waiting).toBe(true);
      expect(queries).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("reads what other members committed when nothing local happens, and gives up at the deadline", async () => {
    let queries = 0;
    const pool = {
      query: async () => {
        queries++;
        return { rows: [] };
      },
    } as unknown as pg.Pool;
    const tracker = new PositionTracker(
      pool,
      "users",
      adminWith(async () => []),
      ["t.users"],
    );
    expect(await tracker.waitFor([{ topic: "t.users", partition: 1, offset: "7" }], 100)).toBe(false);
    expect(queries).toBeGreaterThan(1);
  });
});
