import { describe, expect, it } from "vitest";
import { sendEveryPartition } from "../src/kafka/kafkajs.ts";

const msgs = (partitions: number[]) => partitions.map((partition, i) => ({ partition, i }));

describe("sendEveryPartition", () => {
  it("sends again the partitions a send left out (kafkajs after a leader moved to a broker that had answered)", async () => {
    const sent: number[][] = [];
    let call = 0;
    const base = await sendEveryPartition(
      async (m) => {
        sent.push(m.map((x) => x.i));
        call++;
        // First answer omits partition 3, as kafkajs does when 3's new leader had already answered.
        const parts = [...new Set(m.map((x) => x.partition))].filter((p) => call > 1 || p !== 3);
        return parts.map((partition) => ({ partition, baseOffset: String(100 * call + partition) }));
      },
      msgs([1, 3, 1, 2, 3]),
    );
    expect(sent).toEqual([
      [0, 1, 2, 3, 4],
      [1, 4],
    ]);
    expect(Object.fromEntries(base)).toEqual({ 1: 101n, 2: 102n, 3: 203n });
  });

  it("gives up after the attempts it was given and leaves the partition out, so the caller can fail loudly", async () => {
    let calls = 0;
    const base = await sendEveryPartition(
      async () => {
        calls++;
        return [];
      },
      msgs([0]),
      3,
    );
    expect(calls).toBe(3);
    expect(base.has(0)).toBe(false);
  });
});
