// Organisation isolation enforced by the database: for every read-model table of every service, a query
// WITHOUT any org (or instance) filter, run for a token restricted to one org, sees only that org's rows;
// a token without org restriction still sees its whole instance. Rows are generated from each table's own
// catalogue; ORG_COLUMN says which column is the organisation, so a table added later fails here until
// that is decided (and the RLS checker fails until it has an org policy).
import { createPool, migrate, ORG_NEUTRAL, rlsProblems, serviceMigrations, type TenantScope, tenantRows, withTenant } from "@idp/runtime";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseUrl, uniqueName } from "../support/env.ts";
import { dropSchema } from "../support/service.ts";
import { allServices } from "../support/services.ts";

/** The column whose value is the organisation a row belongs to (see the migrations' org_isolation policies). */
const ORG_COLUMN: Record<string, string> = {
  users: "resource_owner",
  user_metadata: "resource_owner",
  org_domains: "org_id",
  domain_policies: "owner_id",
  sessions: "user_resource_owner",
  session_users: "resource_owner",
  user_grants: "resource_owner",
  lookup_users: "resource_owner",
  lookup_projects: "resource_owner",
  lookup_project_grants: "resource_owner",
  lookup_orgs: "org_id",
  user_auth_methods: "resource_owner",
  auth_method_users: "resource_owner",
  idp_user_links: "resource_owner",
  personal_access_tokens: "resource_owner",
  lockout_policies: "resource_owner",
};

const orgColumn = (table: string): string => {
  const col = ORG_COLUMN[table];
  if (!col) throw new Error(`${table}: which column is the organisation? (add it to ORG_COLUMN and an org policy)`);
  return col;
};

const SAMPLE: Record<string, string> = {
  bigint: "1",
  integer: "1",
  smallint: "1",
  boolean: "false",
  "timestamp with time zone": "now()",
  jsonb: "'{}'",
  ARRAY: "'{}'",
  interval: "'1 hour'",
  bytea: "'\\x00'",
};

const services = await allServices();
const pools = new Map<string, { pool: pg.Pool; schema: string; tables: string[] }>();
const migrated = (service: string) => {
  const m = pools.get(service);
  if (!m) throw new Error(`${service} was not migrated`);
  return m;
};

beforeAll(async () => {
  for (const def of services) {
    const schema = uniqueName(`org_${def.name}`);
    // One connection: every read below reuses the connection the previous one set its org on.
    const pool = createPool({ connectionString: databaseUrl(), schema, max: 1 });
    pools.set(def.name, { pool, schema, tables: [] });
    await migrate(pool, schema, serviceMigrations(def));
    migrated(def.name).tables = (await rlsProblems(pool, schema)).tables;
  }
});
afterAll(async () => {
  for (const { pool, schema } of pools.values()) {
    await pool.end();
    await dropSchema(schema);
  }
});

const q = (table: string, col: string) => `SELECT instance_id, ${col} AS org FROM ${table} ORDER BY 2`;
/** The same unfiltered read through both ways the API reads: a transaction and the one-round-trip read. */
async function readBoth(pool: pg.Pool, tenant: TenantScope, text: string) {
  const viaTx = await withTenant(pool, tenant, async (db) => (await db.query(text)).rows);
  const viaRows = await tenantRows(pool, tenant, { text, values: [] });
  expect(viaRows).toEqual(viaTx);
  return viaTx;
}

/** Inserts one row: `org` in the org column, `tag` in every other text column, samples elsewhere. */
async function insertRow(pool: pg.Pool, schema: string, table: string, instance: string, org: string, tag: string, extra: Record<string, string> = {}) {
  const { rows: cols } = await pool.query(
    `SELECT column_name, data_type, is_nullable = 'NO' AND column_default IS NULL AND is_generated = 'NEVER' AS required
     FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
    [schema, table],
  );
  const names: string[] = [];
  const values: string[] = [];
  for (const c of cols) {
    const name = c.column_name as string;
    let v: string | undefined = extra[name];
    if (v === undefined && name === "instance_id") v = `'${instance}'`;
    else if (v === undefined && name === ORG_COLUMN[table]) v = `'${org}'`;
    else if (v === undefined && c.data_type === "text") v = `'${tag}'`;
    else if (v === undefined && c.required) v = SAMPLE[c.data_type] ?? `'${tag}'`;
    if (v === undefined) continue;
    names.push(`"${name}"`);
    values.push(v);
  }
  await pool.query(`INSERT INTO ${table} (${names.join(", ")}) VALUES (${values.join(", ")})`);
}

describe.each(services.map((s) => [s.name] as const))("%s", (name) => {
  it("RLS alone keeps an org-restricted token to its org's rows, on every table; no org restriction sees the instance", async () => {
    const { pool, schema, tables } = migrated(name);
    const { problems } = await rlsProblems(pool, schema);
    expect(problems).toEqual([]);
    expect(tables.length).toBeGreaterThan(0);
    for (const table of tables) {
      const col = orgColumn(table);
      await insertRow(pool, schema, table, "tenant-a", "org-1", "r0");
      await insertRow(pool, schema, table, "tenant-a", "org-2", "r1");
      await insertRow(pool, schema, table, "tenant-b", "org-1", "r2");

      expect(await readBoth(pool, { instanceId: "tenant-a", orgId: "org-1" }, q(table, col)), table).toEqual([{ instance_id: "tenant-a", org: "org-1" }]);
      expect(await readBoth(pool, { instanceId: "tenant-a", orgId: "org-2" }, q(table, col)), table).toEqual([{ instance_id: "tenant-a", org: "org-2" }]);
      // The instance still bounds an org: org-2 exists only in tenant-a.
      expect(await readBoth(pool, { instanceId: "tenant-b", orgId: "org-2" }, q(table, col)), table).toEqual([]);
      expect(await readBoth(pool, { instanceId: "tenant-a", orgId: "org-3" }, q(table, col)), table).toEqual([]);
      // Right after an org-restricted read on the same connection: nothing of the org setting is left.
      expect(await readBoth(pool, { instanceId: "tenant-a" }, q(table, col)), table).toEqual([
        { instance_id: "tenant-a", org: "org-1" },
        { instance_id: "tenant-a", org: "org-2" },
      ]);
    }
  });

  it("an instance default (is_default) stays visible to the instance's org-restricted tokens, not to other instances'", async () => {
    const { pool, schema, tables } = migrated(name);
    const withDefault: string[] = [];
    for (const table of tables) {
      const { rowCount } = await pool.query(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = 'is_default'",
        [schema, table],
      );
      if (!rowCount) continue;
      withDefault.push(table);
      // The default is keyed and owned by the instance itself.
      await insertRow(pool, schema, table, "tenant-d", "tenant-d", "tenant-d", { is_default: "true" });
      await insertRow(pool, schema, table, "tenant-d", "org-2", "r1");
      const seen = await readBoth(pool, { instanceId: "tenant-d", orgId: "org-1" }, q(table, orgColumn(table)));
      expect(seen, table).toEqual([{ instance_id: "tenant-d", org: "tenant-d" }]);
      expect(await readBoth(pool, { instanceId: "tenant-e", orgId: "org-1" }, q(table, orgColumn(table))), table).toEqual([]);
    }
    expect(withDefault).toEqual(
      { "lockout-policies": ["lockout_policies"], users: ["domain_policies"], sessions: ["domain_policies"], grants: ["domain_policies"] }[name] ?? [],
    );
  });
});

describe("decisions that need more than one table", () => {
  it("grants: an org sees the lookups its own grants refer to (another org's user, project, project grant), no others", async () => {
    const { pool } = migrated("grants");
    const run = (sql: string) => pool.query(sql);
    await run(`INSERT INTO user_grants (instance_id, id, resource_owner, creation_date, change_date, sequence, state, user_id, project_id, grant_id, roles)
               VALUES ('g-i', 'grant-1', 'org-owner', now(), now(), 1, 1, 'u-other', 'p-other', 'pg-other', '{}')`);
    await run(`INSERT INTO lookup_users (instance_id, user_id, resource_owner, change_date, sequence, username)
               VALUES ('g-i', 'u-other', 'org-user', now(), 1, 'other'), ('g-i', 'u-unrelated', 'org-user', now(), 1, 'unrelated')`);
    await run(`INSERT INTO lookup_projects (instance_id, project_id, resource_owner, change_date, sequence)
               VALUES ('g-i', 'p-other', 'org-project', now(), 1), ('g-i', 'p-unrelated', 'org-project', now(), 1)`);
    await run(`INSERT INTO lookup_project_grants (instance_id, grant_id, resource_owner, change_date, sequence, project_id, granted_org, role_keys)
               VALUES ('g-i', 'pg-other', 'org-project', now(), 1, 'p-other', 'org-granted', '{}'),
                      ('g-i', 'pg-unrelated', 'org-project', now(), 1, 'p-unrelated', 'org-else', '{}')`);
    const joined = `SELECT g.id, u.username, u.resource_owner AS user_org, p.resource_owner AS project_org, pg.granted_org
      FROM user_grants g
      LEFT JOIN lookup_users u ON u.instance_id = g.instance_id AND u.user_id = g.user_id
      LEFT JOIN lookup_projects p ON p.instance_id = g.instance_id AND p.project_id = g.project_id
      LEFT JOIN lookup_project_grants pg ON pg.instance_id = g.instance_id AND pg.grant_id = g.grant_id`;
    const shown = [{ id: "grant-1", username: "other", user_org: "org-user", project_org: "org-project", granted_org: "org-granted" }];
    expect(await readBoth(pool, { instanceId: "g-i", orgId: "org-owner" }, joined)).toEqual(shown);
    expect(await readBoth(pool, { instanceId: "g-i" }, joined)).toEqual(shown);
    // The user's, the project's org: the grant is not theirs.
    expect(await readBoth(pool, { instanceId: "g-i", orgId: "org-user" }, joined)).toEqual([]);
    expect(await readBoth(pool, { instanceId: "g-i", orgId: "org-project" }, joined)).toEqual([]);

    const ids =
      "SELECT user_id AS id FROM lookup_users UNION ALL SELECT project_id FROM lookup_projects UNION ALL SELECT grant_id FROM lookup_project_grants ORDER BY 1";
    const asIds = (rows: { id: string }[]) => rows.map((r) => r.id);
    expect(asIds(await readBoth(pool, { instanceId: "g-i", orgId: "org-owner" }, ids))).toEqual(["p-other", "pg-other", "u-other"]);
    expect(asIds(await readBoth(pool, { instanceId: "g-i", orgId: "org-user" }, ids))).toEqual(["u-other", "u-unrelated"]);
    expect(asIds(await readBoth(pool, { instanceId: "g-i", orgId: "org-project" }, ids))).toEqual(["p-other", "p-unrelated", "pg-other", "pg-unrelated"]);
    // The org a project was granted to sees that project grant (not the project itself).
    expect(asIds(await readBoth(pool, { instanceId: "g-i", orgId: "org-granted" }, ids))).toEqual(["pg-other"]);
    expect(asIds(await readBoth(pool, { instanceId: "g-x", orgId: "org-owner" }, ids))).toEqual([]);
  });

  it("sessions: an org sees the sessions of its users; a session without a checked user only instance-wide", async () => {
    const { pool } = migrated("sessions");
    await pool.query(`INSERT INTO sessions (instance_id, id, resource_owner, creation_date, change_date, sequence, state, creator, user_id, user_resource_owner)
                      VALUES ('s-i', 's-user', 's-i', now(), now(), 1, 1, 'c', 'u1', 'org-1'), ('s-i', 's-anon', 's-i', now(), now(), 1, 1, 'c', NULL, NULL)`);
    const ids = "SELECT id FROM sessions ORDER BY id";
    expect(await readBoth(pool, { instanceId: "s-i", orgId: "org-1" }, ids)).toEqual([{ id: "s-user" }]);
    // The session's own resource owner is the instance, not an org: naming it as the org shows nothing.
    expect(await readBoth(pool, { instanceId: "s-i", orgId: "s-i" }, ids)).toEqual([]);
    expect(await readBoth(pool, { instanceId: "s-i" }, ids)).toEqual([{ id: "s-anon" }, { id: "s-user" }]);
  });

  it("users: login names of an org's users are the same for the org's token as instance-wide (instance default policy)", async () => {
    const { pool } = migrated("users");
    await pool.query(`INSERT INTO users (instance_id, id, resource_owner, creation_date, change_date, sequence, state, type, username)
                      VALUES ('u-i', 'ada', 'org-1', now(), now(), 1, 1, 1, 'ada'), ('u-i', 'bob', 'org-2', now(), now(), 1, 1, 1, 'bob')`);
    await pool.query(`INSERT INTO org_domains (instance_id, org_id, resource_owner, change_date, sequence, domains, primary_domain)
                      VALUES ('u-i', 'org-1', 'org-1', now(), 1, '{one.test,uno.test}', 'one.test'), ('u-i', 'org-2', 'org-2', now(), 1, '{two.test}', 'two.test')`);
    await pool.query(`INSERT INTO domain_policies (instance_id, owner_id, resource_owner, change_date, sequence, must_be_domain, is_default)
                      VALUES ('u-i', 'u-i', 'u-i', now(), 1, true, true), ('u-i', 'org-2', 'org-2', now(), 1, false, false)`);
    const names = "SELECT user_id, login_name, is_primary FROM login_names ORDER BY 1, 2";
    const ada = [
      { user_id: "ada", login_name: "ada@one.test", is_primary: true },
      { user_id: "ada", login_name: "ada@uno.test", is_primary: false },
    ];
    expect(await readBoth(pool, { instanceId: "u-i", orgId: "org-1" }, names)).toEqual(ada);
    expect(await readBoth(pool, { instanceId: "u-i", orgId: "org-2" }, names)).toEqual([{ user_id: "bob", login_name: "bob", is_primary: true }]);
    expect(await readBoth(pool, { instanceId: "u-i" }, names)).toEqual([...ada, { user_id: "bob", login_name: "bob", is_primary: true }]);
  });
});

describe("RLS checker: org policies", () => {
  it("fails on a table without a restrictive org policy, passes one with it or declared org-neutral with a reason", async () => {
    const { pool, schema } = migrated("pats");
    await pool.query(`CREATE TABLE scratch (instance_id text NOT NULL, resource_owner text NOT NULL);
      ALTER TABLE scratch ENABLE ROW LEVEL SECURITY;
      CREATE POLICY tenant_isolation ON scratch FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
      GRANT SELECT ON scratch TO idp_query`);
    const orgProblem = async () => (await rlsProblems(pool, schema)).problems.some((p) => p.table === "scratch" && /app\.org_id/.test(p.problem));
    expect(await orgProblem()).toBe(true);
    // Permissive: ORed with the instance policy, it would widen rather than restrict.
    await pool.query(`CREATE POLICY org_permissive ON scratch FOR SELECT TO idp_query
      USING (coalesce(current_setting('app.org_id', true), '') = '' OR resource_owner = current_setting('app.org_id', true))`);
    expect(await orgProblem()).toBe(true);
    await pool.query(`CREATE POLICY org_isolation ON scratch AS RESTRICTIVE FOR SELECT TO idp_query
      USING (coalesce(current_setting('app.org_id', true), '') = '' OR resource_owner = current_setting('app.org_id', true))`);
    expect(await orgProblem()).toBe(false);
    await pool.query("DROP POLICY org_isolation ON scratch");
    await pool.query(`COMMENT ON TABLE scratch IS '${ORG_NEUTRAL}  '`);
    expect(await orgProblem()).toBe(true);
    await pool.query(`COMMENT ON TABLE scratch IS '${ORG_NEUTRAL} rows are shared by every org of the instance'`);
    expect(await orgProblem()).toBe(false);
    await pool.query("DROP TABLE scratch");
  });
});
