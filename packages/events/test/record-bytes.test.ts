// The contract's checks on a record's raw bytes, and the readable rendering of bytes for operators.
import { describe, expect, it } from "vitest";
import { ContractViolationError, checkRecordBytes, HEADER, renderBytes } from "../src/index.ts";

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
