// The OpenAPI documents against real tools and real answers. The demo producer (the one `npm start`
// runs) fills a topic; each of the six services reads it, and then: its /openapi.json passes
// swagger-parser's validation and Redocly's recommended rules without a warning; every operation has an
// operationId, the standard error responses and named schemas; every answer sampled from the running
// service (data, errors, admin) has a documented status and matches its schema; the demo gave every read
// model rows; and the HTTP request histogram counts those requests by route pattern.

import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import SwaggerParser from "@apidevtools/swagger-parser";
import type { Position } from "@idp/events";
import * as ev from "@idp/events";
import { KafkaJsAdmin } from "@idp/runtime";
import { Ajv2020 } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForRebuild } from "../support/admin.ts";
import { kafkaBrokers, uniqueName } from "../support/env.ts";
import { aggregate } from "../support/events.ts";
import { signToken, startTestService, type TestService, waitForPositions } from "../support/service.ts";
import { allServices } from "../support/services.ts";

const exec = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
const services = await allServices();
const INSTANCE = "oa-inst-1";
const RESOURCES: Record<string, string[]> = {
  users: ["User"],
  sessions: ["Session"],
  grants: ["UserGrant"],
  pats: ["PersonalAccessToken"],
  "auth-methods": ["AuthMethod"],
  "lockout-policies": ["LockoutPolicy", "EffectiveLockoutPolicy"],
};

// biome-ignore lint/suspicious/noExplicitAny: OpenAPI documents and JSON answers are checked by the validators
type Json = any;
const docs = new Map<string, Json>();
let topic = "";
let ends: Position[] = [];

beforeAll(async () => {
  topic = uniqueName("t_openapi");
  // The real demo script, as `npm start` runs it, into a topic of this file.
  const env = { ...process.env, KAFKA_BROKERS: kafkaBrokers().join(","), TOPIC: topic, TOPIC_PARTITIONS: "3", DEMO_PREFIX: "oa-", DEMO_INSTANCES: "2" };
  await exec(join(root, "node_modules/.bin/tsx"), [join(root, "packages/producer/src/demo.ts")], { env, timeout: 120_000 });
  const admin = new KafkaJsAdmin({ brokers: kafkaBrokers(), clientId: "openapi-test" });
  ends = (await admin.partitionOffsets(topic))
    .filter((p) => p.high !== "0")
    .map((p) => ({ topic, partition: p.partition, offset: String(BigInt(p.high) - 1n) }));
  await admin.close();
  expect(ends.length).toBeGreaterThan(0);
});

/** Requests made through `checked`, per "METHOD route-pattern status": what the histogram must count. */
const observed = new Map<string, number>();

/**
 * Calls the service and checks the answer against the document (dereferenced): a documented status, a
 * body that matches the schema of that status.
 */
async function checked(t: TestService, doc: Json, method: string, template: string, url: string, init: RequestInit = {}) {
  const res = await fetch(`${t.url}${url}`, { method, ...init });
  const key = `${method} ${template.replace(/\{(\w+)\}/g, ":$1")} ${res.status}`;
  observed.set(key, (observed.get(key) ?? 0) + 1);
  const body = await res.json();
  const op = doc.paths[template]?.[method.toLowerCase()];
  expect(op, `${method} ${template} is documented`).toBeDefined();
  const response = op.responses[String(res.status)];
  expect(response, `${method} ${url} answered ${res.status}, which ${op.operationId} does not document: ${JSON.stringify(body)}`).toBeDefined();
  const schema = response.content?.["application/json"]?.schema;
  expect(schema, `${op.operationId} ${res.status} has a schema`).toBeDefined();
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const valid = ajv.validate(schema, body);
  expect(valid, `${method} ${url} (${res.status}) against ${op.operationId}: ${ajv.errorsText(ajv.errors)}\n${JSON.stringify(body).slice(0, 2000)}`).toBe(true);
  return { status: res.status, body };
}

const bearer = async (scope = "projections:read") => ({
  authorization: `Bearer ${await signToken(scope === "projections:admin" ? { instanceId: "", scope } : { instanceId: INSTANCE, scope })}`,
});

describe.each(services.map((s) => [s.name, s] as const))("%s", (name, def) => {
  let t: TestService;
  let doc: Json;
  let deref: Json;
  beforeAll(async () => {
    t = await startTestService(def, { topic });
    await waitForPositions(t.svc.pool, def.projection.name, ends);
    doc = await (await fetch(`${t.url}/openapi.json`)).json();
    docs.set(name, doc);
    deref = await SwaggerParser.dereference(structuredClone(doc));
  });
  afterAll(async () => t?.close());

  it("is a valid OpenAPI 3.1 document (swagger-parser)", async () => {
    expect(doc.openapi).toBe("3.1.0");
    await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeDefined();
    // The validator does reject a document whose schemas do not fit its version (the old sessions bug).
    await expect(SwaggerParser.validate({ ...structuredClone(doc), openapi: "3.0.3" })).rejects.toThrow();
  });

  it("has servers, operationIds, the standard errors and named schemas", () => {
    expect(doc.servers?.length).toBeGreaterThan(0);
    const schemas = Object.keys(doc.components?.schemas ?? {});
    expect(schemas).toEqual(
      expect.arrayContaining(["Error", "FieldViolation", "Details", "ProjectionStatus", "RebuildStatus", "ParkedEvent", ...(RESOURCES[name] ?? ["?"])]),
    );
    const ids: string[] = [];
    for (const [path, item] of Object.entries<Json>(doc.paths)) {
      for (const [method, op] of Object.entries<Json>(item)) {
        ids.push(op.operationId);
        expect(op.operationId, `${method} ${path}`).toMatch(/^[a-z][A-Za-z]+$/);
        const codes = Object.keys(op.responses);
        expect(codes, `${op.operationId} responses`).toEqual(expect.arrayContaining(["400", "401", "403", "429", "503"]));
        if (path.includes("{") && path.startsWith("/v1/")) expect(codes, `${op.operationId} answers 404`).toContain("404");
        for (const code of codes.filter((c) => Number(c) >= 400)) {
          expect(op.responses[code].content["application/json"].schema, `${op.operationId} ${code}`).toEqual({ $ref: "#/components/schemas/Error" });
        }
        const ok = codes.find((c) => c.startsWith("2")) as string;
        expect(op.responses[ok].content?.["application/json"]?.schema, `${op.operationId} ${ok} schema`).toBeDefined();
      }
    }
    expect(new Set(ids).size, "operationIds are unique").toBe(ids.length);
  });

  it("every query route's answers match the document, with data from the demo", async () => {
    const headers = await bearer();
    const queries = Object.keys(doc.paths).filter((p) => p.startsWith("/v1/") && doc.paths[p].get);
    // Search routes (POST with a JSON body): a search with a total, bad input, no token, a token without the scope.
    for (const path of Object.keys(doc.paths).filter((p) => p.startsWith("/v1/") && doc.paths[p].post)) {
      const json = { ...headers, "content-type": "application/json" };
      const { status, body } = await checked(t, deref, "POST", path, path, { headers: json, body: JSON.stringify({ withTotal: true }) });
      expect(status).toBe(200);
      expect(body.result.length, `the demo filled ${name}: ${path}`).toBeGreaterThan(0);
      expect((await checked(t, deref, "POST", path, path, { headers: json, body: JSON.stringify({ notAField: 1 }) })).status).toBe(400);
      expect((await checked(t, deref, "POST", path, path, { headers: { "content-type": "application/json" }, body: "{}" })).status).toBe(401);
      expect(
        (await checked(t, deref, "POST", path, path, { headers: { ...(await bearer("other:scope")), "content-type": "application/json" }, body: "{}" })).status,
      ).toBe(403);
    }
    let items: Json[] = [];
    for (const path of queries.filter((p) => !p.includes("{"))) {
      const { status, body } = await checked(t, deref, "GET", path, path, { headers });
      expect(status).toBe(200);
      if (Array.isArray(body.result)) {
        expect(body.result.length, `the demo filled ${name}: ${path}`).toBeGreaterThan(0);
        items = [...items, ...body.result];
      }
      // Bad input, no token, a token without the scope: documented errors with the standard body.
      const takesQuery = (doc.paths[path].get.parameters ?? []).some((p: Json) => p.in === "query");
      if (takesQuery) expect((await checked(t, deref, "GET", path, `${path}?notAFilter=1`, { headers })).status).toBe(400);
      expect((await checked(t, deref, "GET", path, path)).status).toBe(401);
      expect((await checked(t, deref, "GET", path, path, { headers: await bearer("other:scope") })).status).toBe(403);
    }
    expect(items.length, "some list answered rows").toBeGreaterThan(0);
    const item = items.find((i) => i.isDefault === false) ?? items[0];
    for (const path of queries.filter((p) => p.includes("{"))) {
      // The first parameter names the listed resource (its id). A further one comes from the item itself, or
      // from the first row of the parent list (/users/{userId}/metadata → {key}); without either it is unknown.
      let known = true;
      let url = "";
      let first = true;
      for (const part of path.split(/(?=\/\{)/)) {
        const param = /^\/\{(\w+)\}/.exec(part)?.[1];
        if (param === undefined || first) {
          // Text before the first parameter, and the first parameter itself (the listed resource's id).
          url += param === undefined ? part : part.replace(`{${param}}`, encodeURIComponent(item[param] ?? item.id));
          first &&= param === undefined;
          continue;
        }
        let value = item[param];
        const parent = path.slice(0, path.indexOf(`/{${param}}`));
        if (value === undefined && queries.includes(parent)) value = (await checked(t, deref, "GET", parent, url, { headers })).body.result?.[0]?.[param];
        known &&= value !== undefined;
        url += part.replace(`{${param}}`, encodeURIComponent(value ?? "unknown"));
      }
      const { status } = await checked(t, deref, "GET", path, url, { headers });
      if (known) expect(status, url).toBe(200);
      // Unknown ids: 404, except where a fallback applies (the effective lockout policy is the default's).
      const missing = path.replace(/\{(\w+)\}/g, "no-such-id");
      expect([200, 404], missing).toContain((await checked(t, deref, "GET", path, missing, { headers })).status);
    }
    const { rows } = await t.svc.pool.query("SELECT count(*)::int AS n FROM projector_parked_events");
    expect(rows[0].n, "the demo's events all apply").toBe(0);
  });

  it("the admin API's answers match the document", async () => {
    const headers = await bearer("projections:admin");
    const json = { ...headers, "content-type": "application/json" };
    expect((await checked(t, deref, "GET", "/admin/status", "/admin/status", { headers })).body.partitions.length).toBeGreaterThan(0);
    expect((await checked(t, deref, "GET", "/admin/status", "/admin/status", { headers: await bearer() })).status).toBe(403);
    await checked(t, deref, "GET", "/admin/instances/{instanceId}/lag", `/admin/instances/${INSTANCE}/lag`, { headers });
    expect((await checked(t, deref, "GET", "/admin/rebuild", "/admin/rebuild", { headers })).status).toBe(404);
    expect((await checked(t, deref, "POST", "/admin/pause", "/admin/pause", { headers })).body).toEqual({ paused: true });
    expect((await checked(t, deref, "POST", "/admin/resume", "/admin/resume", { headers })).body).toEqual({ paused: false });
    const started = await checked(t, deref, "POST", "/admin/rebuild", "/admin/rebuild", { headers: json, body: JSON.stringify({ dryRun: true }) });
    expect(started.status).toBe(202);
    await waitForRebuild(t.url);
    expect((await checked(t, deref, "GET", "/admin/rebuild", "/admin/rebuild", { headers })).body.state).toBe("done");
    const audit = await checked(t, deref, "GET", "/admin/audit", "/admin/audit", { headers });
    expect(audit.body.result.map((a: Json) => a.action)).toEqual(expect.arrayContaining(["pause", "resume", "rebuild.start"]));
    await checked(t, deref, "GET", "/admin/parked", "/admin/parked", { headers });
    expect((await checked(t, deref, "GET", "/admin/parked/{id}", "/admin/parked/999999", { headers })).status).toBe(404);
    const refused = await checked(t, deref, "POST", "/admin/replay", "/admin/replay", {
      headers: json,
      body: JSON.stringify({ offset: "0", timestamp: "2026-01-01T00:00:00Z" }),
    });
    expect(refused.status).toBe(400);
  });

  it("counts every request in http_request_duration_seconds by route pattern and status", async () => {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(/# TYPE http_request_duration_seconds histogram/);
    const counts = text.split("\n").filter((l) => l.startsWith("http_request_duration_seconds_count{"));
    const count = (method: string, route: string, status: string) => {
      const line = counts.find((l) => l.includes(`method="${method}"`) && l.includes(`route="${route}"`) && l.includes(`status_code="${status}"`));
      return line ? Number(line.split(" ").at(-1)) : 0;
    };
    const queries = [...observed].filter(([k]) => k.startsWith("GET /v1/") || k.startsWith("POST /v1/"));
    expect(queries.length).toBeGreaterThan(3);
    // Only this file's checked requests reach the query routes: the counts are exact.
    for (const [key, n] of queries) expect(count(...(key.split(" ") as [string, string, string])), key).toBe(n);
    expect(count("POST", "/admin/rebuild", "202")).toBe(1);
    // Never the raw URL: no id or query string of the requests made above is a label.
    expect(counts.join("\n")).not.toMatch(/no-such-id|oa-|\?|999999/);
    expect(text).toMatch(/http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/v1\//);
    observed.clear();
    // The histogram passes Prometheus' own linter (promtool, installed by infra/debian-deps.sh).
    const family = text
      .split("\n")
      .filter((l) => l.includes("http_request_duration_seconds"))
      .join("\n");
    const lint = await new Promise<{ code: number; out: string }>((resolve) => {
      // A failure to run promtool at all (no output) reports the error itself.
      const child = execFile("promtool", ["check", "metrics"], (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` || (err ? String(err) : "") }),
      );
      child.stdin?.end(`${family}\n`);
    });
    expect(lint, lint.out).toEqual({ code: 0, out: "" });
  });
});

describe("users: parked events through the admin API", () => {
  let t: TestService;
  const def = services.find((s) => s.name === "users");
  beforeAll(async () => {
    t = await startTestService(def as NonNullable<typeof def>, { env: { MAX_ATTEMPTS: "1" } });
    await t.svc.pool.query("ALTER TABLE users ADD CONSTRAINT no_evil CHECK (username NOT LIKE 'evil%')");
  });
  afterAll(async () => t?.close());

  it("parked lists, one parked event, skip and retry match the document", async () => {
    const doc = await SwaggerParser.dereference(await (await fetch(`${t.url}/openapi.json`)).json());
    const headers = await bearer("projections:admin");
    const a = aggregate("pk", "a", "org");
    const human = { userName: "evil", firstName: "E", lastName: "V", email: "e@x.example", changeRequired: false };
    await waitForPositions(t.svc.pool, "users", await t.publisher.publish([a(ev.userHumanAdded, human), a(ev.userLocked, {})]));
    const list = await checked(t, doc, "GET", "/admin/parked", "/admin/parked", { headers });
    expect(list.body.result.length).toBe(2);
    const [first, second] = list.body.result;
    expect((await checked(t, doc, "GET", "/admin/parked/{id}", `/admin/parked/${first.id}`, { headers })).body.headers).toBeDefined();
    expect((await checked(t, doc, "POST", "/admin/parked/{id}/skip", `/admin/parked/${second.id}/skip`, { headers })).status).toBe(200);
    const json = { ...headers, "content-type": "application/json" };
    const retry = await checked(t, doc, "POST", "/admin/parked/retry", "/admin/parked/retry", {
      headers: json,
      body: JSON.stringify({ instanceId: "pk", aggregateType: "user", aggregateId: "a" }),
    });
    expect(retry.body.failed).toMatchObject({ id: first.id });
    const status = await checked(t, doc, "GET", "/admin/status", "/admin/status", { headers });
    expect(status.body.parkedEvents).toBe(1);
  });
});

describe("Redocly", () => {
  it("lints every service's document with the recommended rules: no error, no warning", async () => {
    expect([...docs.keys()].sort()).toEqual(services.map((s) => s.name).sort());
    const dir = mkdtempSync(join(tmpdir(), "openapi-"));
    const files = [...docs].map(([name, doc]) => {
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(doc));
      return file;
    });
    // One run per file: with --format=json, Redocly prints one report per document.
    const lint = async (file: string) => {
      const { stdout } = await exec(join(root, "node_modules/.bin/redocly"), ["lint", "--extends=recommended", "--format=json", file], {
        timeout: 120_000,
        env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
      }).catch((err: { stdout: string }) => ({ stdout: err.stdout }));
      return JSON.parse(stdout) as { totals: { errors: number; warnings: number }; problems: unknown[] };
    };
    for (const file of files) {
      const report = await lint(file);
      expect(report.problems, `${file}: ${JSON.stringify(report.problems.slice(0, 5), null, 1)}`).toEqual([]);
      expect(report.totals, file).toMatchObject({ errors: 0, warnings: 0 });
    }
    // The linter does bite: the same document declared as 3.0.3 (3.1 keywords in a 3.0 document) fails.
    const wrong = join(dir, "wrong-version.json");
    writeFileSync(wrong, JSON.stringify({ ...docs.get("sessions"), openapi: "3.0.3" }));
    expect((await lint(wrong)).totals.errors).toBeGreaterThan(0);
  });
});
