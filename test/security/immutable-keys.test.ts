// Tenant keys are immutable in the database: on every read-model table of every service an UPDATE that
// changes instance_id or resource_owner fails (other columns still update), the RLS checker fails on a
// table without the guard, and a second "added" event naming another org, applied through the real
// pipeline (Avro, BatchApplier, fold, PostgreSQL), leaves the row in its org.
import * as ev from "@idp/events";
import { createPool, migrate, rlsProblems, type ServiceDefinition, serviceMigrations } from "@idp/runtime";
import type pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { authMethodsService } from "../../services/auth-methods/src/index.ts";
import { grantsService } from "../../services/grants/src/index.ts";
import { sessionsService } from "../../services/sessions/src/index.ts";
import { usersService } from "../../services/users/src/index.ts";
import { databaseUrl, uniqueName } from "../support/env.ts";
import { aggregate } from "../support/events.ts";
import { projectionSpec } from "../support/projection-spec.ts";
import { dropSchema } from "../support/service.ts";
import { allServices } from "../support/services.ts";

const services = await allServices();
const schemas: string[] = [];
afterAll(async () => {
  for (const s of schemas) await dropSchema(s);
});

async function migrated(def: ServiceDefinition): Promise<{ pool: pg.Pool; schema: string }> {
  const schema = uniqueName(`keys_${def.name}`);
  schemas.push(schema);
  const pool = createPool({ connectionString: databaseUrl(), schema, max: 2 });
  await migrate(pool, schema, serviceMigrations(def));
  return { pool, schema };
}

const SAMPLE: Record<string, string> = {
  bigint: "1",
  integer: "1",
  smallint: "1",
  boolean: "false",
  "timestamp with time zone": "now()",
  jsonb: "'{}'",
  ARRAY: "'{}'",
  bytea: "'\\x00'",
};

/** Inserts one row with every required column (values from the column types) and the given keys. */
async function insertRow(pool: pg.Pool, schema: string, table: string, keys: Record<string, string>) {
  const { rows: cols } = await pool.query(
    `SELECT column_name, data_type FROM information_schema.columns
     WHERE table_schema = $1 AND table_name = $2 AND is_nullable = 'NO' AND column_default IS NULL ORDER BY ordinal_position`,
    [schema, table],
  );
  const names = cols.map((c) => c.column_name as string);
  const values = cols.map((c) => (c.column_name in keys ? `'${keys[c.column_name]}'` : (SAMPLE[c.data_type] ?? "'x'")));
  await pool.query(`INSERT INTO ${table} (${names.map((n) => `"${n}"`).join(", ")}) VALUES (${values.join(", ")})`);
}

describe.each(services.map((s) => [s.name, s] as const))("%s: every read-model table refuses a change of tenant keys", (_name, def) => {
  it("UPDATE of instance_id or resource_owner fails with a clear error; other columns and same-value keys update", async () => {
    const { pool, schema } = await migrated(def);
    try {
      const { tables, problems } = await rlsProblems(pool, schema);
      expect(tables.length).toBeGreaterThan(0);
      expect(problems).toEqual([]);
      for (const table of tables) {
        await insertRow(pool, schema, table, { instance_id: "inst-a", resource_owner: "org-a" });
        await expect(pool.query(`UPDATE ${table} SET resource_owner = 'org-b'`), table).rejects.toMatchObject({
          code: "23000",
          message: `tenant key ${table}.resource_owner is immutable: the row belongs to org-a, an update tried to set org-b`,
        });
        await expect(pool.query(`UPDATE ${table} SET instance_id = 'inst-b'`), table).rejects.toThrow(`tenant key ${table}.instance_id is immutable`);
        // The fold's upsert rewrites every non-key column, the tenant keys included, with their own values.
        const same = await pool.query(`UPDATE ${table} SET resource_owner = resource_owner, instance_id = instance_id`);
        expect(same.rowCount, table).toBe(1);
        const { rows } = await pool.query(`SELECT instance_id, resource_owner FROM ${table}`);
        expect(rows, table).toEqual([{ instance_id: "inst-a", resource_owner: "org-a" }]);
      }
    } finally {
      await pool.end();
    }
  });
});

describe("the RLS checker", () => {
  it("fails on a table without the guard, or with the guard disabled", async () => {
    const { pool, schema } = await migrated(usersService);
    try {
      await pool.query(`CREATE TABLE extra (instance_id text NOT NULL, resource_owner text NOT NULL, PRIMARY KEY (instance_id))`);
      await pool.query("ALTER TABLE extra ENABLE ROW LEVEL SECURITY");
      await pool.query("CREATE POLICY tenant_isolation ON extra FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true))");
      await pool.query(
        "CREATE POLICY org_isolation ON extra AS RESTRICTIVE FOR SELECT TO idp_query USING (resource_owner = current_setting('app.org_id', true))",
      );
      await pool.query("GRANT SELECT ON extra TO idp_query");
      const unguarded = await rlsProblems(pool, schema);
      expect(unguarded.tables).toContain("extra");
      expect(unguarded.problems).toEqual([{ table: "extra", problem: expect.stringMatching(/^tenant keys not guarded/) }]);

      const { rows } = await pool.query("SELECT projector_guard_tenant_keys() AS t");
      expect(rows).toEqual([{ t: "extra" }]); // idempotent: the tables guarded before are skipped
      expect((await rlsProblems(pool, schema)).problems).toEqual([]);

      await pool.query("ALTER TABLE users DISABLE TRIGGER tenant_keys_immutable");
      expect((await rlsProblems(pool, schema)).problems).toEqual([{ table: "users", problem: expect.stringMatching(/^tenant keys not guarded/) }]);
    } finally {
      await pool.end();
    }
  });
});

// --- a second "added" for an existing row, naming another org, through the real pipeline ---------------

const human = {
  userName: "ada",
  firstName: "Ada",
  lastName: "Lovelace",
  displayName: "Ada L",
  preferredLanguage: "und",
  gender: 0,
  email: "ada@example.com",
  phone: null,
  changeRequired: false,
};

/** The same aggregate seen from org-a (sequence 1), then from org-b (sequence 2): not a duplicate, a move. */
function twice<P>(make: (agg: ReturnType<typeof aggregate>) => P, id: string) {
  const fromA = aggregate("inst-k", id, "org-a");
  const fromB = aggregate("inst-k", id, "org-b");
  const first = make(fromA);
  make(fromB); // sequence 1 of org-b's view: skipped, the second event must not be a redelivery
  return { first, second: make(fromB) };
}

const cases = [
  { def: usersService, table: "users", key: "id", events: twice((a) => a(ev.userHumanAdded, human), "user-moved") },
  { def: sessionsService, table: "session_users", key: "user_id", events: twice((a) => a(ev.userHumanAdded, human), "user-moved") },
  { def: grantsService, table: "lookup_users", key: "user_id", events: twice((a) => a(ev.userHumanAdded, human), "user-moved") },
  { def: authMethodsService, table: "auth_method_users", key: "user_id", events: twice((a) => a(ev.userHumanAdded, human), "user-moved") },
  {
    def: grantsService,
    table: "user_grants",
    key: "id",
    events: twice((a) => a(ev.userGrantAdded, { userId: "u1", projectId: "p1", roleKeys: ["r"] }), "grant-moved"),
  },
  { def: sessionsService, table: "sessions", key: "id", events: twice((a) => a(ev.sessionAdded, {}), "session-moved") },
];

describe.each(cases.map((c) => [`${c.def.name}.${c.table}`, c] as const))("%s: a second added naming another org", (_name, c) => {
  it("keeps the row in its org: the event is parked with the guard's error, or ignored by the projection", async () => {
    const spec = await projectionSpec(c.def, { maxAttempts: 1 });
    try {
      await spec.given(c.events.first);
      const before = (await spec.pool.query(`SELECT * FROM ${c.table} WHERE instance_id = 'inst-k'`)).rows;
      expect(before).toHaveLength(1);
      // A set-based write that fails is retried event by event; there the event fails again and is parked.
      const outcome = await spec.given(c.events.second).catch(() => spec.given(c.events.second));
      const after = (await spec.pool.query(`SELECT * FROM ${c.table} WHERE instance_id = 'inst-k'`)).rows;
      expect(after).toHaveLength(1);
      expect(after[0]).toMatchObject({ [c.key]: before[0][c.key], instance_id: "inst-k", resource_owner: before[0].resource_owner });
      // A projection that upserts the second add hits the guard (parked); one that ignores a second add
      // applies it as a no-op. Either way the row stays where it was written.
      const parked = (await spec.pool.query("SELECT event_type, aggregate_sequence, error FROM projector_parked_events")).rows;
      if (outcome.parked) {
        expect(parked).toEqual([
          { event_type: c.events.second.eventType, aggregate_sequence: 2, error: expect.stringContaining(`tenant key ${c.table}.resource_owner is immutable`) },
        ]);
      } else {
        expect(parked).toEqual([]);
      }
    } finally {
      await spec.close();
    }
  });
});

// --- a second "added" in the same org: applied, but the row keeps the date it was created -----------

const sameOrg = [
  { def: usersService, table: "users", make: (a: ReturnType<typeof aggregate>) => a(ev.userHumanAdded, human) },
  {
    def: grantsService,
    table: "user_grants",
    make: (a: ReturnType<typeof aggregate>) => a(ev.userGrantAdded, { userId: "u1", projectId: "p1", roleKeys: ["r"] }),
  },
  { def: sessionsService, table: "sessions", make: (a: ReturnType<typeof aggregate>) => a(ev.sessionAdded, {}) },
];

describe.each(sameOrg.map((c) => [`${c.def.name}.${c.table}`, c] as const))("%s: a second added in the same org", (_name, c) => {
  it("keeps the row's creation date; change date and sequence are the second event's", async () => {
    const spec = await projectionSpec(c.def, { maxAttempts: 1 });
    try {
      const a = aggregate("inst-c", "again", "org-a");
      const first = c.make(a);
      const second = c.make(a);
      await spec.given(first);
      await spec.given(second);
      const { rows } = await spec.pool.query(`SELECT creation_date, change_date, sequence FROM ${c.table} WHERE instance_id = 'inst-c'`);
      expect(rows).toEqual([{ creation_date: first.createdAt, change_date: second.createdAt, sequence: 2 }]);
    } finally {
      await spec.close();
    }
  });
});
