// Property-based fuzzing of every GET route of every service (found in its OpenAPI document): random
// values for the documented parameters, boundary values generated from each parameter's declared type
// (extreme dates, huge and negative numbers, unicode, empty, too long), unknown parameters, forged
// cursors and malformed percent-encoding must never produce a 500, nor throw away a pooled connection.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signToken, startTestService, type TestService } from "../support/service.ts";
import { allServices } from "../support/services.ts";

const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const services = await allServices();

interface ParamSchema {
  type?: string;
  format?: string;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  maxLength?: number;
}
interface Route {
  path: string;
  pathParams: string[];
  queryParams: string[];
  schemas: Record<string, ParamSchema>;
}

const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.integer().map(String),
  fc.double().map(String),
  fc.constantFrom(
    "",
    " ",
    "-1",
    "0",
    "1e309",
    "NaN",
    "null",
    "true",
    "[]",
    "{}",
    "%",
    "_",
    "\\",
    "'; DROP TABLE users; --",
    "a".repeat(5000),
    "\u0000",
    "..",
    "%2F",
  ),
  fc.base64String({ maxLength: 80 }),
  fc.json().map((j) => Buffer.from(j).toString("base64url")),
);

// Instants at and beyond what PostgreSQL and JavaScript represent, in the forms RFC 3339 allows.
const date = fc.oneof(
  fc.constantFrom(
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+00:01",
    "9999-12-31T23:59:59.999Z",
    "9999-12-31T23:59:59-00:01",
    "1970-01-01T00:00:00Z",
    "2026-02-29T00:00:00Z",
    "2024-02-29T23:59:59.999999999+14:00",
    "2026-13-45T99:99:99Z",
    "+275760-09-13T00:00:00Z",
    "-271821-04-20T00:00:00Z",
    "10000-01-01T00:00:00Z",
  ),
  fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString().replace("Z", "+23:59")),
);
const number = (s: ParamSchema) =>
  fc.oneof(
    fc.integer({ min: (s.minimum ?? 0) - 2, max: (s.maximum ?? 100) + 2 }).map(String),
    fc.double().map(String),
    fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String),
    fc.constantFrom("-0", "1e309", "-1e309", "9007199254740993", "0x10", "1.5", "NaN", "Infinity", "", " 1", "1 "),
  );
const text = (s: ParamSchema) =>
  fc.oneof(
    fc.string({ unit: "binary", maxLength: 30 }),
    fc.string({ unit: "grapheme", maxLength: 10 }),
    fc.constantFrom("", "\u{1F600}", "\uD800", "\uFEFF", "e\u0301", "\u202E", "a".repeat(s.maxLength ?? 200), "a".repeat((s.maxLength ?? 200) + 1)),
  );
/** Values for one parameter, from its declared type. */
function boundary(s: ParamSchema | undefined) {
  if (!s) return nasty;
  if (s.enum) return fc.oneof(fc.constantFrom(...s.enum), nasty);
  if (s.format === "date-time") return date;
  if (s.type === "integer" || s.type === "number") return number(s);
  return text(s);
}
// Appended to the query string as is (not encoded again): broken escapes and invalid UTF-8.
const rawTail = fc.option(fc.constantFrom("%ZZ", "%", "%4", "%C3%28", "%E2%82", "%FF", "x=%ZZ", "%00", "a=%2"), { nil: undefined });

describe.each(services.map((s) => [s.name, s] as const))("%s", (_name, def) => {
  let t: TestService;
  let routes: Route[] = [];
  let token = "";
  let removed = 0;
  beforeAll(async () => {
    t = await startTestService(def, { env: { RATE_LIMIT_PER_SECOND: "0" } });
    t.svc.queryPool.on("remove", () => removed++);
    token = await signToken({ instanceId: "fuzz-inst" });
    const doc = (await (await fetch(`${t.url}/openapi.json`)).json()) as {
      paths: Record<string, { get?: { parameters?: { name: string; in: string; schema?: ParamSchema }[] } }>;
    };
    routes = Object.entries(doc.paths)
      .filter(([p, ops]) => ops.get && p.startsWith("/v1/"))
      .map(([path, ops]) => ({
        path,
        pathParams: (ops.get?.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name),
        queryParams: (ops.get?.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name),
        schemas: Object.fromEntries((ops.get?.parameters ?? []).map((p) => [p.name, p.schema ?? {}])),
      }));
  });
  afterAll(async () => t?.close());

  it(`never answers 500 to fuzzed parameters (${RUNS} cases per route)`, async () => {
    expect(routes.length).toBeGreaterThan(0);
    for (const route of routes) {
      let cases = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(nasty, { minLength: route.pathParams.length, maxLength: route.pathParams.length }),
          fc.dictionary(fc.constantFrom(...route.queryParams, "cursor", "limit", "unknown", "__proto__"), nasty, { maxKeys: 5 }),
          async (pathValues, query) => {
            cases++;
            let path = route.path;
            route.pathParams.forEach((name, i) => {
              path = path.replace(`{${name}}`, encodeURIComponent(pathValues[i] || "x"));
            });
            const qs = new URLSearchParams(query).toString();
            const res = await fetch(`${t.url}${path}${qs ? `?${qs}` : ""}`, { headers: { authorization: `Bearer ${token}` } });
            const body = await res.text();
            expect(res.status, `${path}?${qs} → ${body.slice(0, 300)}`).toBeLessThan(500);
            if (res.status >= 400)
              expect(JSON.parse(body)).toMatchObject({ code: expect.any(String), message: expect.any(String), requestId: expect.any(String) });
          },
        ),
        { numRuns: RUNS },
      );
      expect(cases).toBe(RUNS);
    }
  });

  it(`answers 200, 400 or 404, never 500, to boundary values of each declared type (${RUNS} cases per route)`, async () => {
    for (const route of routes) {
      const names = [...route.pathParams, ...route.queryParams];
      await fc.assert(
        fc.asyncProperty(
          fc.record(Object.fromEntries(names.map((n) => [n, boundary(route.schemas[n])]))),
          fc.subarray(route.queryParams),
          rawTail,
          async (values, chosen, tail) => {
            let path = route.path;
            // Through a Buffer, lone surrogates become U+FFFD: encodeURIComponent would throw on them.
            for (const name of route.pathParams) path = path.replace(`{${name}}`, encodeURIComponent(Buffer.from(String(values[name])).toString() || "x"));
            const qs = [new URLSearchParams(Object.fromEntries(chosen.map((n) => [n, String(values[n])]))).toString(), tail].filter(Boolean).join("&");
            const res = await fetch(`${t.url}${path}${qs ? `?${qs}` : ""}`, { headers: { authorization: `Bearer ${token}` } });
            const body = await res.text();
            // 404: an unknown id, or nothing to show (an instance without a default policy). 431: the request
            // line alone is over Node's 16 KiB limit for a request's head (long generated values).
            // (Measured as sent: fetch percent-encodes what the raw tail leaves unencoded; the headers add ≈ 0.5 KiB.)
            const sent = new URL(`${t.url}${path}${qs ? `?${qs}` : ""}`);
            const requestLine = sent.pathname.length + sent.search.length;
            const allowed = requestLine > 16 * 1024 ? [431] : requestLine > 15 * 1024 ? [200, 400, 404, 431] : [200, 400, 404];
            expect(allowed, `${path}?${qs} → ${res.status} ${body.slice(0, 300)}`).toContain(res.status);
            if (res.status === 431)
              expect(JSON.parse(body)).toMatchObject({ code: "request_header_fields_too_large", message: expect.any(String), requestId: expect.any(String) });
            if (res.status === 400)
              expect(JSON.parse(body)).toMatchObject({ code: expect.stringMatching(/^invalid_/), message: expect.any(String), requestId: expect.any(String) });
            if (tail && /%(?![0-9A-Fa-f]{2})|%C3%28|%E2%82$|%FF/.test(tail)) expect(res.status, `${path}?${qs}`).toBe(400);
          },
        ),
        { numRuns: RUNS },
      );
    }
    expect(removed, "pooled connections discarded after client errors").toBe(0);
  });

  it("a request line over 16 KiB is refused with 431 and the standard error body, and the server goes on", async () => {
    const route = routes.find((r) => r.pathParams.length === 0) ?? (routes[0] as (typeof routes)[number]);
    const res = await fetch(`${t.url}${route.path.replace(/\{[^}]+\}/g, "x")}?unknown=${"a".repeat(20 * 1024)}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const body = await res.json();
    expect(res.status).toBe(431);
    expect(body).toMatchObject({ code: "request_header_fields_too_large", message: expect.any(String), requestId: res.headers.get("x-request-id") });
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });
});
