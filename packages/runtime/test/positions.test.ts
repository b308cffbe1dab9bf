// The position a query response reflects needs the topic's partition count from Kafka; Kafka being
// unreachable must never stall the query API.
import type pg from "pg";
import { describe, expect, it } from "vitest";
import { type AdminPort, PositionTracker, partitionForKey } from "../src/index.ts";

const adminWith = (partitionOffsets: AdminPort["partitionOffsets"]): AdminPort => ({
  partitionOffsets,
  ensureTopic: async () => {},
  offsetsAt: async () => [],
  close: async () => {},
});
const noPool = {} as pg.Pool; // tenantPositions reads only what the tracker already knows

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
    const tracker = new PositionTracker(noPool, "users", adminWith(() => never), ["t.users"]);
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
