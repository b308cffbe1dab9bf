import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { classifyError, DomainError, registerErrorHandling } from "../src/index.ts";

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

describe("domain errors at the HTTP edge", () => {
  it.each([
    [new DomainError("conflict", "rebuild_running", "a rebuild is already running"), 409],
    [new DomainError("invalid", "invalid_argument", "x is not an old schema"), 400],
    [new DomainError("not_found", "not_found", "schema x not found"), 404],
  ])("%s answers %i with its reason as code", async (err, status) => {
    const app = Fastify();
    registerErrorHandling(app);
    app.get("/", async () => {
      throw err;
    });
    const res = await app.inject({ method: "GET", url: "/" });
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ code: err.reason, message: err.message });
    await app.close();
  });
});
