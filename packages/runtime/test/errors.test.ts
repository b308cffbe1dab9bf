import { describe, expect, it } from "vitest";
import { classifyError } from "../src/index.ts";

describe("error classification", () => {
  it.each([
    [{ code: "ECONNREFUSED" }, "transient"],
    [{ code: "57P01", message: "terminating connection due to administrator command" }, "transient"],
    [{ code: "08006" }, "transient"],
    [{ code: "40001" }, "transient"],
    [{ code: "40P01" }, "transient"],
    [{ code: "53300" }, "transient"],
    [new Error("Connection terminated unexpectedly"), "transient"],
    [{ code: "23505", message: "duplicate key" }, "deterministic"],
    [{ code: "22001", message: "value too long" }, "deterministic"],
    [new TypeError("Cannot read properties of undefined"), "deterministic"],
  ])("%o is %s", (err, kind) => {
    expect(classifyError(err)).toBe(kind);
  });
});
