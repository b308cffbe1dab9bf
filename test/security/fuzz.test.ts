// Property-based fuzzing of every GET route of every service (found in its OpenAPI document): random
// values for the documented parameters, unknown parameters and forged cursors must never produce a 500.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestService, signToken, startTestService } from "../support/service.ts";
import { allServices } from "../support/services.ts";

const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const services = await allServices();

interface Route {
  path: string;
  pathParams: string[];
  queryParams: string[];
}

const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.integer().map(String),
  fc.double().map(String),
  fc.constantFrom("", " ", "-1", "0", "1e309", "NaN", "null", "true", "[]", "{}", "%", "_", "\\", "'; DROP TABLE users; --", "a".repeat(5000), "\u0000", "..", "%2F"),
  fc.base64String({ maxLength: 80 }),
  fc.json().map((j) => Buffer.from(j).toString("base64url")),
);

describe.each(services.map((s) => [s.name, s] as const))("%s", (_name, def) => {
  let t: TestService;
  let routes: Route[] = [];
  let token = "";
  beforeAll(async () => {
    t = await startTestService(def, { env: { RATE_LIMIT_PER_SECOND: "0" } });
    token = await signToken({ instanceId: "fuzz-inst" });
    const doc = (await (await fetch(`${t.url}/openapi.json`)).json()) as {
      paths: Record<string, { get?: { parameters?: { name: string; in: string }[] } }>;
    };
    routes = Object.entries(doc.paths)
      .filter(([p, ops]) => ops.get && p.startsWith("/v1/"))
      .map(([path, ops]) => ({
        path,
        pathParams: (ops.get?.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name),
        queryParams: (ops.get?.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name),
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
            if (res.status >= 400) expect(JSON.parse(body)).toMatchObject({ code: expect.any(String), message: expect.any(String), requestId: expect.any(String) });
          },
        ),
        { numRuns: RUNS },
      );
      expect(cases).toBe(RUNS);
    }
  });
});
