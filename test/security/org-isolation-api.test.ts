// Organisation isolation through the real API with the application's org filter removed: tenantWhere is
// replaced by one that drops the token's org (the instance stays), so only row-level security keeps an
// org-restricted token to its org. Every GET route of every service (found in its OpenAPI document) is
// called with two orgs' rows in the database; the other org's rows never show, an unrestricted token
// still sees both. Rows are generated from each table's catalogue, so new tables are covered too.
import type { Tenant } from "@idp/runtime";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { uniqueName } from "../support/env.ts";
import { signToken, startTestService, type TestService } from "../support/service.ts";
import { allServices } from "../support/services.ts";

const dropped = vi.hoisted(() => ({ count: 0 }));
vi.mock("@idp/runtime", async (importOriginal) => {
  const real = await importOriginal<typeof import("@idp/runtime")>();
  return {
    ...real,
    // The route's SQL no longer narrows to the org (whatever org scope it asks for).
    tenantWhere: (tenant: Tenant, alias: string) => {
      if (tenant.orgId) dropped.count++;
      return real.tenantWhere({ ...tenant, orgId: undefined }, alias);
    },
  };
});

const services = await allServices();
/** Columns that hold the org id (besides resource_owner); ids elsewhere carry the org's name too. */
const ORG_VALUED: Record<string, string[]> = {
  org_domains: ["org_id"],
  domain_policies: ["owner_id"],
  sessions: ["user_resource_owner"],
  lockout_policies: ["id"],
};

function sample(type: string, table: string, column: string, instance: string, org: string): string {
  if (column === "instance_id") return `'${instance}'`;
  if (column === "resource_owner" || ORG_VALUED[table]?.includes(column)) return `'${org}'`;
  // Only the instance's own row (org = instance) is an instance default: those are visible to every org.
  if (column === "is_default") return String(org === instance);
  if (["smallint", "integer", "bigint"].includes(type)) return "1";
  if (type === "boolean") return "false";
  if (type === "timestamp with time zone") return "timestamptz '2026-01-01T00:00:00Z'";
  if (type === "jsonb" || type === "ARRAY") return "'{}'";
  if (type === "interval") return "'1 hour'";
  if (type === "bytea") return "'\\x00'";
  // Every id of the org's row is the same, so joins (user_id = id, …) find their rows.
  return `'${org}-row'`;
}

type Doc = { paths: Record<string, { get?: { parameters?: { name: string }[] } }> };

describe.each(services.map((s) => [s.name, s] as const))("%s", (_name, def) => {
  const A = uniqueName("oi_a");
  const O1 = uniqueName("oi_org1");
  const O2 = uniqueName("oi_org2");
  let t: TestService;
  let paths: string[] = [];
  let lists: string[] = [];
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    t = await startTestService(def, { env: { RATE_LIMIT_PER_SECOND: "0" } });
    const { rows: tables } = await t.svc.pool.query(
      "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname NOT LIKE 'projector\\_%'",
      [t.schema],
    );
    for (const { name } of tables) {
      const { rows: cols } = await t.svc.pool.query(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND is_generated = 'NEVER' ORDER BY ordinal_position",
        [t.schema, name],
      );
      const hasDefault = cols.some((c) => c.column_name === "is_default");
      for (const org of hasDefault ? [O1, O2, A] : [O1, O2]) {
        const values = cols.map((c) => sample(c.data_type, name, c.column_name, A, org));
        await t.svc.pool.query(`INSERT INTO "${name}" (${cols.map((c) => `"${c.column_name}"`).join(", ")}) VALUES (${values.join(", ")})`);
      }
    }
    tokens.all = await signToken({ instanceId: A });
    tokens[O1] = await signToken({ instanceId: A, orgId: O1 });
    tokens[O2] = await signToken({ instanceId: A, orgId: O2 });
    const doc = (await (await fetch(`${t.url}/openapi.json`)).json()) as Doc;
    paths = Object.keys(doc.paths).filter((p) => p.startsWith("/v1/") && doc.paths[p]?.get);
    lists = paths.filter((p) => doc.paths[p]?.get?.parameters?.some((x) => x.name === "cursor"));
  });
  afterAll(async () => t?.close());

  const get = async (who: string, path: string) => {
    const res = await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${tokens[who]}` } });
    return { status: res.status, text: await res.text() };
  };
  /** A path of the route for `org`'s row: `{orgId}` is the org, any other parameter its row's id. */
  const pathFor = (route: string, org: string) => route.replace(/\{(\w+)\}/g, (_m, p: string) => (p === "orgId" ? org : `${org}-row`));

  it("an org-restricted token sees only its org's rows on every route, by RLS alone; an unrestricted one sees both orgs", async () => {
    expect(lists.length).toBeGreaterThan(0);
    const before = dropped.count;
    for (const route of paths) {
      for (const [own, other] of [
        [O1, O2],
        [O2, O1],
      ] as const) {
        const mine = await get(own, pathFor(route, own));
        expect(mine.status, `${route} ${mine.text}`).toBe(200);
        expect(mine.text, route).not.toContain(other);
        if (route.includes("{")) {
          // The other org's row, asked for by id: not found, refused, or (a list under it) empty; never shown.
          const theirs = await get(own, pathFor(route, other));
          if (theirs.status === 200 && lists.includes(route)) expect(JSON.parse(theirs.text).result, route).toEqual([]);
          else expect([403, 404], `${route} ${theirs.text}`).toContain(theirs.status);
          // An unrestricted token sees it.
          const all = await get("all", pathFor(route, other));
          expect(all.status, `${route} ${all.text}`).toBe(200);
          if (lists.includes(route)) expect(JSON.parse(all.text).result.length, route).toBeGreaterThan(0);
        }
      }
      if (lists.includes(route) && !route.includes("{")) {
        const all = await get("all", route);
        expect(all.status, all.text).toBe(200);
        expect(all.text, route).toContain(O1);
        expect(all.text, route).toContain(O2);
      }
    }
    // The routes really ran without their org filter.
    expect(dropped.count).toBeGreaterThan(before);
  });
});
