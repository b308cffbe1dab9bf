// The migration runner: applies in order once, records checksums, and refuses edited or missing ones.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { databaseUrl, uniqueName } from "../../../test/support/env.ts";
import { dropSchema } from "../../../test/support/service.ts";
import { createPool, loadMigrations, MigrationError, migrate } from "../src/index.ts";

const schema = uniqueName("migrate");
const pool = createPool({ connectionString: databaseUrl(), schema, max: 2 });
afterAll(async () => {
  await pool.end();
  await dropSchema(schema);
});

const dir = () => mkdtempSync(join(tmpdir(), "mig-"));

describe("migrations", () => {
  it("apply pending migrations once, in order, into the service schema", async () => {
    const d = dir();
    writeFileSync(join(d, "001_a.sql"), "CREATE TABLE a (x int);");
    writeFileSync(join(d, "002_b.sql"), "INSERT INTO a VALUES (1);");
    const first = await migrate(pool, schema, loadMigrations("svc", d));
    expect(first.applied).toEqual(["svc/001_a", "svc/002_b"]);
    const again = await migrate(pool, schema, loadMigrations("svc", d));
    expect(again).toEqual({ applied: [], alreadyApplied: 2 });
    expect((await pool.query(`SELECT count(*)::int AS n FROM ${schema}.a`)).rows[0].n).toBe(1);
  });

  it("refuse an applied migration that was edited", async () => {
    const d = dir();
    writeFileSync(join(d, "001_a.sql"), "CREATE TABLE a (x int); -- edited");
    writeFileSync(join(d, "002_b.sql"), "INSERT INTO a VALUES (1);");
    await expect(migrate(pool, schema, loadMigrations("svc", d))).rejects.toThrow(/svc\/001_a was edited/);
  });

  it("refuse when an applied migration is missing from the code", async () => {
    const d = dir();
    writeFileSync(join(d, "001_a.sql"), "CREATE TABLE a (x int);");
    await expect(migrate(pool, schema, loadMigrations("svc", d))).rejects.toThrow(/svc\/002_b is applied .* but missing/);
  });

  it("refuse badly named or duplicate-numbered files", () => {
    const d = dir();
    writeFileSync(join(d, "1-a.sql"), "");
    expect(() => loadMigrations("svc", d)).toThrow(MigrationError);
    const e = dir();
    writeFileSync(join(e, "001_a.sql"), "");
    writeFileSync(join(e, "001_b.sql"), "");
    expect(() => loadMigrations("svc", e)).toThrow(/two migrations numbered 001/);
  });

  it("roll back a failing migration entirely", async () => {
    const d = dir();
    writeFileSync(join(d, "001_a.sql"), "CREATE TABLE a (x int);");
    writeFileSync(join(d, "002_b.sql"), "INSERT INTO a VALUES (1);");
    writeFileSync(join(d, "003_c.sql"), "CREATE TABLE c (y int); SELECT no_such_function();");
    await expect(migrate(pool, schema, loadMigrations("svc", d))).rejects.toThrow(/no_such_function/);
    expect((await pool.query("SELECT to_regclass($1) AS t", [`${schema}.c`])).rows[0].t).toBeNull();
  });
});
