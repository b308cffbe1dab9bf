// The partition of a key is part of the wire contract (@idp/events). It must agree with what the kafkajs
// producer's default partitioner does, since that producer writes the events the positions point at.
import { murmur2, partitionForKey } from "@idp/events";
import fc from "fast-check";
import { Partitioners } from "kafkajs";
import { describe, expect, it } from "vitest";

const kafkajs = Partitioners.DefaultPartitioner();
const viaKafkajs = (key: string, partitions: number) =>
  kafkajs({
    topic: "t",
    partitionMetadata: Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 0, replicas: [], isr: [], partitionErrorCode: 0 })),
    message: { key, value: null },
  });

describe("partitionForKey", () => {
  it("picks the partition the kafkajs default (Java-compatible murmur2) partitioner picks", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), fc.integer({ min: 1, max: 64 }), (key, partitions) => {
        expect(partitionForKey(key, partitions)).toBe(viaKafkajs(key, partitions));
      }),
      { numRuns: 2000 },
    );
  });

  it("hashes as the Java client's murmur2 (the vectors of Kafka's own unit test)", () => {
    const bytes = (s: string) => new TextEncoder().encode(s);
    expect(murmur2(bytes("21"))).toBe(-973932308);
    expect(murmur2(bytes("foobar"))).toBe(-790332482);
    expect(murmur2(bytes("a-little-bit-long-string"))).toBe(-985981536);
    expect(murmur2(bytes("a-little-bit-longer-string"))).toBe(-1486304829);
    expect(murmur2(bytes("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"))).toBe(-58897971);
    expect(murmur2(bytes("abc"))).toBe(479470107);
  });

  it("refuses a partition count that is not a positive integer", () => {
    expect(() => partitionForKey("k", 0)).toThrow(RangeError);
    expect(() => partitionForKey("k", 1.5)).toThrow(RangeError);
  });
});
