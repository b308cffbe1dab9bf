// The operator audit log is append-only for every role the services use: the projector's connection
// (here a superuser, as in development; grants do not bind it), a schema owner that is no superuser
// (grants revoked, and the trigger even after it grants itself the rights back), and the query role.
import { randomBytes } from "node:crypto";
import { createPool, loadMigrations, migrate, RUNTIME_MIGRATIONS_DIR } from "@idp/runtime";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseUrl, uniqueName } from "../support/env.ts";
import { dropSchema } from "../support/service.ts";

const runtime = loadMigrations("runtime", RUNTIME_MIGRATIONS_DIR);
const schema = uniqueName("audit");
let pool: pg.Pool;
beforeAll(async () => {
  pool = createPool({ connectionString: databaseUrl(), schema, max: 2 });
  await migrate(pool, schema, runtime);
  await pool.query("INSERT INTO projector_audit_log (actor, action) VALUES ('ops', 'pause')");
});
afterAll(async () => {
  await pool?.end();
  await dropSchema(schema);
});

const refusals = ["UPDATE projector_audit_log SET actor = 'someone else'", "DELETE FROM projector_audit_log", "TRUNCATE projector_audit_log"];

/** Runs `sql` in a transaction as `role` (via SET LOCAL ROLE) and rolls back. */
async function as(role: string | undefined, sql: string) {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    if (role) await client.query(`SET LOCAL ROLE ${role}`);
    return await client.query(sql);
  } finally {
    await client.query("ROLLBACK").catch(() => {});
    client.release();
  }
}

describe("projector_audit_log is append-only", () => {
  it("the projector's connection can INSERT, but not UPDATE, DELETE or TRUNCATE (the trigger refuses)", async () => {
    await pool.query("INSERT INTO projector_audit_log (actor, action) VALUES ('ops', 'resume')");
    for (const sql of refusals) {
      await expect(pool.query(sql), sql).rejects.toMatchObject({
        code: "42501",
        message: expect.stringMatching(/^projector_audit_log is append-only: (UPDATE|DELETE|TRUNCATE) refused$/),
      });
    }
    // Refused even when no row matches.
    await expect(pool.query("DELETE FROM projector_audit_log WHERE id < 0")).rejects.toThrow("append-only: DELETE refused");
    const { rows } = await pool.query("SELECT actor, action FROM projector_audit_log ORDER BY id");
    expect(rows).toEqual([
      { actor: "ops", action: "pause" },
      { actor: "ops", action: "resume" },
    ]);
  });

  it("the query role can neither change nor write nor read it", async () => {
    for (const sql of [...refusals, "INSERT INTO projector_audit_log (actor, action) VALUES ('x', 'y')", "SELECT * FROM projector_audit_log"]) {
      await expect(as("idp_query", sql), sql).rejects.toMatchObject({ code: "42501", message: expect.stringMatching(/permission denied/) });
    }
  });

  it("an owner that is no superuser: its rights are revoked, and granting them back still hits the trigger", async () => {
    const owner = `audit_owner_${randomBytes(4).toString("hex")}`;
    const own = `${schema}_own`;
    const client = await pool.connect();
    const refused = async (sql: string) => {
      await client.query("SAVEPOINT s");
      const err = await client.query(sql).then(
        () => undefined,
        (e: Error & { code?: string }) => e,
      );
      await client.query("ROLLBACK TO SAVEPOINT s");
      return err;
    };
    try {
      // All in one transaction, rolled back: the role and its schema never outlive the test.
      await client.query("BEGIN");
      await client.query(`CREATE ROLE ${owner} NOSUPERUSER NOBYPASSRLS`);
      await client.query(`CREATE SCHEMA ${own} AUTHORIZATION ${owner}`);
      await client.query(`SET LOCAL ROLE ${owner}`);
      await client.query(`SET LOCAL search_path TO ${own}, public`);
      for (const m of runtime) await client.query(m.sql.replaceAll("{{schema}}", own));
      await client.query("INSERT INTO projector_audit_log (actor, action) VALUES ('ops', 'pause')");
      for (const sql of refusals) expect(await refused(sql), sql).toMatchObject({ code: "42501", message: expect.stringMatching(/^permission denied/) });
      await client.query("GRANT UPDATE, DELETE, TRUNCATE ON projector_audit_log TO CURRENT_USER");
      for (const sql of refusals) expect(await refused(sql), sql).toMatchObject({ code: "42501", message: expect.stringMatching(/append-only/) });
      expect((await client.query("SELECT count(*)::int AS n FROM projector_audit_log")).rows).toEqual([{ n: 1 }]);
    } finally {
      await client.query("ROLLBACK").catch(() => {});
      client.release();
    }
  });
});
