// The contract's checks on a record's raw bytes, and the readable rendering of bytes for operators.
import { isUtf8 } from "node:buffer";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ContractViolationError, checkRecordBytes, HEADER, headersToEnvelope, renderBytes } from "../src/index.ts";

const h = (pairs: [string, string | Buffer][]) => pairs.map(([n, v]) => [n, Buffer.from(v)] as const);

describe("renderBytes", () => {
  it("keeps valid UTF-8 and escapes NUL, control bytes, invalid sequences and the backslash", () => {
    expect(renderBytes(Buffer.from("grüße ✓"))).toBe("grüße ✓");
    expect(renderBytes(Buffer.from("t1\u0000x\n"))).toBe("t1\\x00x\\x0a");
    expect(renderBytes(Buffer.from([0x61, 0xc3, 0x28, 0xff, 0xe2, 0x82]))).toBe("a\\xc3(\\xff\\xe2\\x82");
    expect(renderBytes(Buffer.from("a\\b"))).toBe("a\\\\b");
    expect(renderBytes(Buffer.from("abcdef"), 3)).toBe("abc…");
    expect(renderBytes(Buffer.from("abc"), 3)).toBe("abc");
  });
});

describe("checkRecordBytes", () => {
  const ok: [string, string][] = [
    [HEADER.instanceId, "i1"],
    [HEADER.eventType, "user.human.added"],
    ["traceparent", "00-x"],
  ];
  it("accepts a key equal to instance-id and leaves other headers alone, whatever their bytes", () => {
    expect(() => checkRecordBytes(Buffer.from("i1"), [...h(ok), ["x-binary", Buffer.from([0, 0xff])] as const])).not.toThrow();
  });
  it.each([
    ["no key", null, ok, /the record has no key \(it must equal instance-id "i1"\)/],
    ["another key", Buffer.from("i2"), ok, /key "i2" differs from instance-id "i1"/],
    ["a NUL in the key", Buffer.from("i1\u0000"), ok, /the key contains a NUL byte/],
    ["a repeated contract header", Buffer.from("i1"), [...ok, [HEADER.eventType, "user.human.added"]], /header event-type appears more than once/],
    ["a NUL in a contract header", Buffer.from("i1"), [...ok, [HEADER.creator, "a\u0000"]], /header creator contains a NUL byte: "a\\x00"/],
    ["invalid UTF-8", Buffer.from("i1"), [...ok, [HEADER.aggregateId, Buffer.from([0xc3, 0x28])]], /header aggregate-id is not valid UTF-8/],
    ["another content-type", Buffer.from("i1"), [...ok, [HEADER.contentType, "application/json"]], /content-type "application\/json" is not application\/avro/],
  ] as const)("refuses %s", (_, key, headers, message) => {
    const run = () => checkRecordBytes(key, h(headers as unknown as [string, string | Buffer][]));
    expect(run).toThrow(ContractViolationError);
    expect(run).toThrow(message);
  });
});

/** The rules of checkRecordBytes written the plain way (a map of names, two scans per value): what it must agree with. */
function plainRuleBreak(key: Uint8Array | null, headers: readonly (readonly [string, Uint8Array])[]): string | undefined {
  const contract = new Set<string>(Object.values(HEADER));
  const seen = new Map<string, Uint8Array>();
  const fault = (b: Uint8Array) => (b.includes(0) ? "contains a NUL byte" : !isUtf8(b) ? "is not valid UTF-8" : undefined);
  for (const [name, value] of headers) {
    if (!contract.has(name)) continue;
    if (seen.has(name)) return `header ${name} appears more than once`;
    seen.set(name, value);
    const f = fault(value);
    if (f) return `header ${name} ${f}`;
  }
  if (key === null) return "the record has no key";
  const f = fault(key);
  if (f) return `the key ${f}`;
  const instance = seen.get(HEADER.instanceId);
  if (instance !== undefined && Buffer.compare(key, instance) !== 0) return "differs from instance-id";
  const type = seen.get(HEADER.contentType);
  if (type !== undefined && Buffer.compare(type, Buffer.from("application/avro")) !== 0) return "is not application/avro";
  return undefined;
}

describe("checkRecordBytes against the plain rules", () => {
  const bytes = fc.oneof(
    fc.constantFrom("i1", "application/avro", "user.human.added", "é✓", "").map((t) => Buffer.from(t)),
    fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b)),
  );
  const name = fc.oneof(fc.constantFrom(...Object.values(HEADER)), fc.constantFrom("traceparent", "x"));
  it("refuses exactly what they refuse, for the same reason", () => {
    fc.assert(
      fc.property(fc.option(bytes, { nil: null }), fc.array(fc.tuple(name, bytes), { maxLength: 14 }), (key, headers) => {
        const expected = plainRuleBreak(key, headers);
        let actual: string | undefined;
        try {
          checkRecordBytes(key, headers);
        } catch (err) {
          expect(err).toBeInstanceOf(ContractViolationError);
          actual = (err as Error).message;
        }
        if (expected === undefined) expect(actual).toBeUndefined();
        else expect(actual).toContain(expected);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("headersToEnvelope's integer headers", () => {
  const headers = (sequence: string) => ({
    [HEADER.eventId]: "e",
    [HEADER.eventType]: "user.human.added",
    [HEADER.schemaVersion]: "1",
    [HEADER.instanceId]: "i1",
    [HEADER.aggregateType]: "user",
    [HEADER.aggregateId]: "u1",
    [HEADER.aggregateSequence]: sequence,
    [HEADER.resourceOwner]: "o1",
    [HEADER.createdAt]: "2026-03-01T10:00:00Z",
  });
  it.each(["", "1a", "-1", "+1", " 1", "1.0", "١", "12345678901234567"])("refuses %j", (raw) => {
    expect(() => headersToEnvelope(headers(raw))).toThrow(`header ${HEADER.aggregateSequence} is not an integer`);
  });
  it.each([
    ["7", 7],
    ["0012", 12],
    ["9007199254740991", 9007199254740991],
  ] as const)("reads %j", (raw, n) => {
    expect(headersToEnvelope(headers(raw)).aggregateSequence).toBe(n);
  });
});
