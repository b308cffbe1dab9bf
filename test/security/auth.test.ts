// Authentication, scopes and per-instance rate limiting on a real service over HTTP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { signToken, startTestService, type TestService } from "../support/service.ts";

let t: TestService;
beforeAll(async () => {
  t = await startTestService(usersService, { env: { RATE_LIMIT_PER_SECOND: "1", RATE_LIMIT_BURST: "3" } });
});
afterAll(async () => t?.close());

const get = (path: string, token?: string, headers: Record<string, string> = {}) =>
  fetch(`${t.url}${path}`, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });

describe("authentication", () => {
  it("ignores X-Instance-Id outside dev mode: the tenant comes only from a verified token", async () => {
    const res = await get("/v1/users", undefined, { "x-instance-id": "inst-a" });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("rejects tokens without a valid instance claim, malformed bearer values and 'none' tokens", async () => {
    const noInstance = await signToken({ instanceId: "" });
    expect((await get("/v1/users", noInstance)).status).toBe(401);
    expect((await get("/v1/users", await signToken({ instanceId: "bad id" }))).status).toBe(401);
    expect((await fetch(`${t.url}/v1/users`, { headers: { authorization: "Basic abc" } })).status).toBe(401);
    const unsigned = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from('{"instance_id":"i","aud":"idp-projectors","scope":"projections:read"}').toString("base64url")}.`;
    expect((await get("/v1/users", unsigned)).status).toBe(401);
  });

  it("admin routes: 401 without a token, 403 with a query token, 200 with the admin scope", async () => {
    expect((await get("/admin/status")).status).toBe(401);
    const query = await get("/admin/status", await signToken({ instanceId: "inst-a" }));
    expect(query.status).toBe(403);
    expect(await query.json()).toMatchObject({ code: "permission_denied" });
    // A platform admin (no instance claim); an instance admin's status request is refused (admin-scopes.test.ts).
    const admin = await get("/admin/status", await signToken({ instanceId: "", scope: "projections:admin" }));
    expect(admin.status).toBe(200);
    expect(await admin.json()).toMatchObject({ projection: "users", parkedEvents: 0 });
  });

  it("query routes need the read scope", async () => {
    expect((await get("/v1/users", await signToken({ instanceId: "inst-a", scope: "something:else" }))).status).toBe(403);
  });
});

describe("rate limiting per instance", () => {
  it("answers 429 with Retry-After once an instance's bucket is empty, without affecting other instances", async () => {
    const a = await signToken({ instanceId: "rl-a" });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await get("/v1/users", a)).status);
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses).toContain(429);
    const limited = await get("/v1/users", a);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await limited.json()).toMatchObject({ code: "rate_limited" });
    expect((await get("/v1/users", await signToken({ instanceId: "rl-b" }))).status).toBe(200);
  });
});
