// Forged cursors on every list route of every service (found in its OpenAPI document): real cursors are
// taken from two tenants' data, then mutated (bit flips, truncation, inserted NUL or other characters,
// another tenant's cursor, another sort's, another org's, other filters, the payload re-encoded with
// forged values under the original MAC, forged values signed with the real key). Every mutated
// cursor is a 400 invalid_cursor, never a 500, never another tenant's row, and no pooled connection is
// thrown away. Rows are generated from each table's catalogue, so new tables and sorts are covered too.
import { CursorKeys, encodeCursor } from "@idp/runtime";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniqueName } from "../support/env.ts";
import { signToken, startTestService, type TestService } from "../support/service.ts";
import { allServices } from "../support/services.ts";

const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
// A known key, so the test can also sign forged values (as a leaked key would): the values are then
// checked by kind before SQL, and the answer is still a 400, never a 500.
const CURSOR_KEY = "cursor-forgery-test-key-0123456789abcdef";
const ROWS = 4;
const services = await allServices();

type Param = { name: string; in: string; schema?: { enum?: string[]; type?: string } };
type Doc = { paths: Record<string, { get?: { parameters?: Param[] } }> };
type ListRoute = { path: string; sorts: string[]; filter?: [string, string] };

const PATH_ID = "shared-user";

/** A value of the given type for row `i` of `tenant`: text carries the tenant's name, so a leak shows. */
function sample(type: string, column: string, tenant: string, i: number): string {
  if (column === "instance_id") return `'${tenant}'`;
  if (["smallint", "integer", "bigint"].includes(type)) return String((i % 2) + 1);
  if (type === "boolean") return i % 2 ? "true" : "false";
  if (type === "timestamp with time zone") return `timestamptz '2026-01-01T00:00:00Z' + ${i % 2} * interval '1 hour 0.000001 second'`;
  if (type === "jsonb") return "'{}'";
  if (type === "ARRAY") return "'{}'";
  if (type === "interval") return "'1 hour'";
  if (type === "bytea") return "'\\x00'";
  return `'${tenant}-${column}-${i}'`;
}

async function seed(t: TestService, tenants: string[]) {
  const { rows: tables } = await t.svc.pool.query(
    "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname NOT LIKE 'projector\\_%'",
    [t.schema],
  );
  for (const { name } of tables) {
    const { rows: cols } = await t.svc.pool.query(
      "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND is_generated = 'NEVER' ORDER BY ordinal_position",
      [t.schema, name],
    );
    const { rows: key } = await t.svc.pool.query(
      "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = $1::regclass AND i.indisprimary",
      [`"${t.schema}"."${name}"`],
    );
    const keyColumns = key.map((k) => k.attname as string).filter((c) => c !== "instance_id");
    const sharedUser = !(keyColumns.length === 1 && keyColumns[0] === "user_id");
    for (const tenant of tenants) {
      for (let i = 0; i < ROWS; i++) {
        // Lists under a user (/users/{userId}/metadata) need pages of one user: the first row of users is that
        // user, and rows of other tables name it where their key lets several rows share it.
        const values = cols.map((c) =>
          (name === "users" && c.column_name === "id" && i === 0) || (c.column_name === "user_id" && sharedUser)
            ? `'${PATH_ID}'`
            : sample(c.data_type, c.column_name, tenant, i),
        );
        await t.svc.pool.query(`INSERT INTO "${name}" (${cols.map((c) => `"${c.column_name}"`).join(", ")}) VALUES (${values.join(", ")})`);
      }
    }
  }
}

const decodePayload = (cursor: string) => JSON.parse(Buffer.from(cursor.split(".")[0] ?? "", "base64url").toString("utf8"));
const reencode = (payload: unknown, mac: string) => `${Buffer.from(JSON.stringify(payload)).toString("base64url")}.${mac}`;

describe.each(services.map((s) => [s.name, s] as const))("%s", (_name, def) => {
  const A = uniqueName("cf_a");
  const B = uniqueName("cf_b");
  let t: TestService;
  let routes: ListRoute[] = [];
  const tokens: Record<string, string> = {};
  let removed = 0;

  beforeAll(async () => {
    t = await startTestService(def, { env: { RATE_LIMIT_PER_SECOND: "0", CURSOR_KEYS: CURSOR_KEY } });
    t.svc.queryPool.on("remove", () => removed++);
    await seed(t, [A, B]);
    tokens.A = await signToken({ instanceId: A });
    tokens.B = await signToken({ instanceId: B });
    tokens.Aorg = await signToken({ instanceId: A, orgId: "some-org" });
    const doc = (await (await fetch(`${t.url}/openapi.json`)).json()) as Doc;
    routes = Object.entries(doc.paths)
      .filter(([p, ops]) => p.startsWith("/v1/") && ops.get?.parameters?.some((x) => x.name === "cursor"))
      .map(([path, ops]) => {
        const params = ops.get?.parameters ?? [];
        // A filter with a fixed set of values (state, a flag), else a text filter: the cursor must not be valid with it.
        const filters = params.filter((x) => x.in === "query" && !["sort", "order", "limit", "cursor"].includes(x.name) && !x.name.endsWith("Method"));
        const f = filters.find((x) => x.schema?.enum?.[0]);
        const text = filters.find((x) => x.schema?.type === "string" && !x.schema.enum);
        const filter = f?.schema?.enum?.[0] ? ([f.name, f.schema.enum[0]] as [string, string]) : text ? ([text.name, "zz"] as [string, string]) : undefined;
        return { path: path.replace(/\{\w+\}/g, PATH_ID), sorts: params.find((x) => x.name === "sort")?.schema?.enum ?? [], ...(filter ? { filter } : {}) };
      });
  });
  afterAll(async () => t?.close());

  const get = async (who: string, path: string, qs: Record<string, string>) => {
    const res = await fetch(`${t.url}${path}?${new URLSearchParams(qs)}`, { headers: { authorization: `Bearer ${tokens[who]}` } });
    return { status: res.status, text: await res.text() };
  };

  it(`refuses every mutated cursor with 400 invalid_cursor (${RUNS} cases per list route)`, async () => {
    expect(routes.length).toBeGreaterThan(0);
    for (const route of routes) {
      expect(route.sorts.length, route.path).toBeGreaterThan(0);
      // Real cursors: every sort and order, for tenant A, tenant B, and an org-restricted token of A.
      const real: { who: string; sort: string; order: string; cursor: string }[] = [];
      for (const who of ["A", "B", "Aorg"]) {
        for (const sort of route.sorts) {
          for (const order of ["asc", "desc"]) {
            const res = await get(who, route.path, { sort, order, limit: "1" });
            // An org-restricted token does not see the user a nested list belongs to.
            if (who === "Aorg" && route.path.includes(PATH_ID) && res.status === 404) continue;
            expect(res.status, res.text).toBe(200);
            const { nextCursor } = JSON.parse(res.text) as { nextCursor: string | null };
            if (who !== "Aorg") expect(nextCursor, `${who} ${route.path} ${sort} ${order}`).toBeTruthy();
            if (nextCursor) real.push({ who, sort, order, cursor: nextCursor });
          }
        }
      }
      const own = real.filter((r) => r.who === "A");
      const others = real.filter((r) => r.who !== "A");
      // The real cursors themselves work, and show only A's rows.
      for (const r of own) {
        const res = await get("A", route.path, { sort: r.sort, order: r.order, limit: "1", cursor: r.cursor });
        expect(res.status, res.text).toBe(200);
        expect(res.text).not.toContain(B);
      }

      const forgedValue = fc.oneof(
        fc.string({ maxLength: 30 }),
        fc.constantFrom(
          "garbage",
          "1e300",
          "0000-01-01T00:00:00.000000Z",
          "2026-13-45 99:99:99+00",
          "\u0000",
          "",
          "-9223372036854775809",
          "9999-12-31T23:59:59.999999Z",
        ),
        fc.integer().map(String),
      );
      const mutation = fc.oneof(
        fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 6 }) }),
        fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
        fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), text: fc.constantFrom("\u0000", "%", "=", " ", "é", "A".repeat(2100)) }),
        fc.record({ kind: fc.constant("other" as const), pick: fc.nat() }),
        fc.record({ kind: fc.constant("forge" as const), values: fc.array(forgedValue, { minLength: 1, maxLength: 4 }) }),
        fc.record({ kind: fc.constant("filter" as const) }),
        fc.record({ kind: fc.constant("signed" as const), values: fc.array(forgedValue, { minLength: 1, maxLength: 4 }) }),
      );
      let cases = 0;
      await fc.assert(
        fc.asyncProperty(fc.nat(), mutation, async (pick, m) => {
          cases++;
          const base = own[pick % own.length] as (typeof own)[number];
          const qs: Record<string, string> = { sort: base.sort, order: base.order, limit: "1" };
          let cursor = base.cursor;
          if (m.kind === "flip") {
            const i = m.at % cursor.length;
            cursor = cursor.slice(0, i) + String.fromCharCode(cursor.charCodeAt(i) ^ (1 << m.bit)) + cursor.slice(i + 1);
          } else if (m.kind === "truncate") {
            cursor = cursor.slice(0, 1 + (m.at % (cursor.length - 1))); // an empty cursor is no cursor: the first page
          } else if (m.kind === "insert") {
            const i = m.at % cursor.length;
            cursor = cursor.slice(0, i) + m.text + cursor.slice(i);
          } else if (m.kind === "other") {
            // Another tenant's or org's cursor of this sort, or one of A's own of another sort or order.
            const candidates = [...others.filter((o) => o.sort === base.sort && o.order === base.order), ...own.filter((o) => o !== base)];
            cursor = (candidates[m.pick % candidates.length] ?? base).cursor;
          } else if (m.kind === "forge") {
            const payload = decodePayload(cursor);
            payload.k = m.values;
            cursor = reencode(payload, cursor.split(".")[1] ?? "");
          } else if (m.kind === "signed") {
            const { l } = decodePayload(cursor);
            const ctx = { list: l, sort: base.sort, order: base.order as "asc" | "desc", tenant: { instanceId: A }, query: qs };
            cursor = encodeCursor(new CursorKeys([CURSOR_KEY]), ctx, m.values);
          } else {
            // The same cursor with a filter it was not made with (a page size is not a filter).
            expect(route.filter, `${route.path} declares no filter`).toBeDefined();
            const [name, value] = route.filter ?? ["", ""];
            qs.limit = "2";
            qs[name] = value;
          }
          qs.cursor = cursor;
          const res = await get("A", route.path, qs);
          expect(res.status, `${m.kind} ${cursor} → ${res.text.slice(0, 300)}`).toBeLessThan(500);
          expect(res.text).not.toContain(B);
          if (cursor === base.cursor && m.kind !== "filter") {
            expect(res.status, res.text).toBe(200);
          } else if (m.kind === "signed" && res.status === 200) {
            // Validly signed values of the right kinds (any text for a text key) are a bound like any other.
          } else {
            expect(res.status, `${m.kind} ${cursor} → ${res.text.slice(0, 300)}`).toBe(400);
            expect(JSON.parse(res.text), `${m.kind} ${cursor} → ${res.text.slice(0, 300)}`).toMatchObject({
              code: "invalid_cursor",
              message: expect.any(String),
              requestId: expect.any(String),
            });
          }
        }),
        { numRuns: RUNS },
      );
      expect(cases).toBe(RUNS);
    }
    expect(removed, "pooled connections discarded").toBe(0);
  });
});
