// The record decoder put in kafkajs' place (src/kafka/kafkajs-records.ts) against kafkajs' own: records
// written by kafkajs' encoder read back the same by both, and it is the one kafkajs uses once the
// runtime is loaded first (as every service loads it).
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeKafkaJsRecord } from "../src/kafka/kafkajs-records.ts";

const require = createRequire(import.meta.url);
const RecordEncoder = require("kafkajs/src/protocol/recordBatch/record/v0/index.js");
const Decoder = require("kafkajs/src/protocol/decoder.js");
const Long = require("kafkajs/src/utils/long.js");

/** kafkajs' own record decoder, read from its file whatever the module cache holds. */
function kafkajsOwnDecoder(): typeof decodeKafkaJsRecord {
  const path = require.resolve("kafkajs/src/protocol/recordBatch/record/v0/decoder.js");
  const held = require.cache[path];
  delete require.cache[path];
  try {
    return require(path);
  } finally {
    if (held) require.cache[path] = held;
    else delete require.cache[path];
  }
}

const own = kafkajsOwnDecoder();

/** A record as the fetch response carries it: its length, then its body (what the decoders read). */
function encoded(r: {
  offsetDelta: number;
  timestampDelta: number | bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | Buffer[]>;
}) {
  const body = new Decoder(RecordEncoder({ ...r, timestampDelta: Long.fromValue(r.timestampDelta) }).buffer).readVarIntBytes();
  return () => new Decoder(body);
}

// Names of Object.prototype: kafkajs' decoder mistakes them for a repeat (a header "toString" comes
// back as [function, value]); ours keeps the producer's value. Compared on their own below.
const INHERITED = new Set(Object.getOwnPropertyNames(Object.prototype));
const headerName = fc.oneof(fc.constantFrom("event-type", "instance-id", "traceparent", "x"), fc.string({ unit: "grapheme", maxLength: 12 }));
const bytes = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b));

describe("kafkajs record decoder (ours in its place)", () => {
  it("reads every record kafkajs writes as kafkajs' own decoder does", () => {
    fc.assert(
      fc.property(
        fc.record({
          offsetDelta: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          timestampDelta: fc.oneof(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n })),
          key: fc.option(bytes),
          value: fc.option(bytes),
          headers: fc.array(
            fc.tuple(
              headerName.filter((n) => !INHERITED.has(n)),
              fc.array(bytes, { minLength: 1, maxLength: 3 }),
            ),
          ),
        }),
        fc.record({
          firstOffset: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 62n }), fc.bigInt({ min: 0n, max: 2n ** 40n })).map(String),
          firstTimestamp: fc.oneof(fc.constant("-1"), fc.bigInt({ min: 0n, max: 2n ** 62n }).map(String), fc.constant("1796691872666")),
          magicByte: fc.constant(2),
          isControlBatch: fc.boolean(),
          timestampType: fc.constantFrom(0, 1),
          maxTimestamp: fc.constantFrom("1796691872999", "0"),
        }),
        (r, ctx) => {
          const headers = Object.fromEntries(r.headers.map(([n, vs]) => [n, vs.length === 1 ? (vs[0] as Buffer) : vs]));
          const read = encoded({ ...r, headers });
          expect(decodeKafkaJsRecord(read(), ctx)).toEqual(own(read(), ctx));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("keeps a header named like a property of every object as the producer sent it", () => {
    const read = encoded({
      offsetDelta: 0,
      timestampDelta: 0,
      key: null,
      value: null,
      headers: { toString: Buffer.from("a"), ["__proto__"]: Buffer.from("b"), constructor: [Buffer.from("c"), Buffer.from("d")] },
    });
    const { headers } = decodeKafkaJsRecord(read(), { firstOffset: "0", firstTimestamp: "0" });
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
    expect(Object.entries(headers)).toEqual([
      ["toString", Buffer.from("a")],
      ["__proto__", Buffer.from("b")],
      ["constructor", [Buffer.from("c"), Buffer.from("d")]],
    ]);
  });

  it("is the decoder kafkajs uses when the runtime is loaded first (as a service starts)", () => {
    const index = fileURLToPath(new URL("../src/index.ts", import.meta.url));
    // Only the runtime is imported: what kafkajs' module cache then holds for its record decoder.
    const script = `await import(${JSON.stringify(index)}); const { createRequire } = await import("node:module"); const r = createRequire(${JSON.stringify(index)}); const p = r.resolve("kafkajs/src/protocol/recordBatch/record/v0/decoder.js"); process.stdout.write(String(r.cache[p]?.exports?.name));`;
    const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8" });
    expect(out).toBe(decodeKafkaJsRecord.name);
  });
});
