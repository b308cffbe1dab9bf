// Fair limits: per-instance limits on query routes, per-token limits on admin routes and per-address
// limits on unauthenticated requests, with RateLimit-* headers and Retry-After; with RATE_LIMIT_STORE=redis
// (the machine's Redis) the buckets are shared by the processes of a service, with memory they are not.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { uniqueName } from "../support/env.ts";
import { createTopic, signToken, startTestService, type TestService } from "../support/service.ts";

// Refill every 5 s: a test's requests all fall within one refill.
const SLOW = { perSecond: "0.2" };
const started: TestService[] = [];
afterAll(async () => {
  for (const s of started) await s.close();
});

const start = async (env: Record<string, string>, topic?: string) => {
  const s = await startTestService(usersService, { env, ...(topic ? { topic } : {}) });
  started.push(s);
  return s;
};
const get = (s: TestService, path: string, token?: string) => fetch(`${s.url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

describe("in-process buckets (the default store)", () => {
  let s: TestService;
  beforeAll(async () => {
    s = await start({
      RATE_LIMIT_PER_SECOND: SLOW.perSecond,
      RATE_LIMIT_BURST: "3",
      RATE_LIMIT_ADMIN_PER_SECOND: SLOW.perSecond,
      RATE_LIMIT_ADMIN_BURST: "2",
      RATE_LIMIT_ANON_PER_SECOND: SLOW.perSecond,
      RATE_LIMIT_ANON_BURST: "3",
    });
  });

  it("limits each instance on its own, with RateLimit-* headers and Retry-After on 429", async () => {
    const noisy = uniqueName("rl-noisy");
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      const res = await s.get("/v1/users?limit=1", noisy);
      statuses.push(res.status);
      expect(res.headers.get("ratelimit-limit")).toBe("3");
      expect(res.headers.get("ratelimit-remaining")).toBe(String(2 - i));
      expect(res.headers.get("x-ratelimit-remaining")).toBe(String(2 - i));
      expect(Number(res.headers.get("ratelimit-reset"))).toBeGreaterThanOrEqual(1);
    }
    expect(statuses).toEqual([200, 200, 200]);
    const refused = await s.get("/v1/users?limit=1", noisy);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get("ratelimit-remaining")).toBe("0");
    expect(await refused.json()).toMatchObject({ code: "rate_limited" });
    // Another instance is not affected by the noisy one.
    expect((await s.get("/v1/users?limit=1", uniqueName("rl-quiet"))).status).toBe(200);
  });

  it("limits admin routes per admin token", async () => {
    const platform = await signToken({ instanceId: "", scope: "projections:admin" });
    expect((await get(s, "/admin/status", platform)).status).toBe(200);
    const second = await get(s, "/admin/status", platform);
    expect([second.status, second.headers.get("ratelimit-remaining")]).toEqual([200, "0"]);
    const third = await get(s, "/admin/parked", platform);
    expect(third.status).toBe(429);
    expect(third.headers.get("retry-after")).not.toBeNull();
    // An instance admin has a bucket of its own.
    const instanceAdmin = await signToken({ instanceId: uniqueName("rl-adm"), scope: "projections:admin" });
    expect((await get(s, "/admin/parked", instanceAdmin)).status).toBe(200);
  });

  it("limits unauthenticated requests per client address, also those with a refused token", async () => {
    const first = [await get(s, "/v1/users"), await get(s, "/healthz"), await get(s, "/v1/users", "not-a-token")];
    expect(first.map((r) => r.status)).toEqual([401, 200, 401]);
    // The address has used its budget: no token, public routes and refused tokens now get 429.
    for (const [path, token] of [
      ["/v1/users"],
      ["/healthz"],
      ["/v1/users", "not-a-token"],
      ["/v1/users", await signToken({ instanceId: "x", secret: "another-secret-another-secret-0123456789" })],
    ] as const) {
      const res = await get(s, path, token);
      expect([path, res.status]).toEqual([path, 429]);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect((await res.json()).code).toBe("rate_limited");
    }
    // A valid token from the same address is not refused: only unauthenticated traffic shares this budget.
    expect((await s.get("/v1/users?limit=1", uniqueName("rl-valid"))).status).toBe(200);
  });
});

describe("shared buckets (RATE_LIMIT_STORE=redis)", () => {
  let a: TestService;
  let b: TestService;
  let c: TestService;
  let d: TestService;
  beforeAll(async () => {
    const topic = await createTopic("rl");
    const shared = {
      RATE_LIMIT_STORE: "redis",
      RATE_LIMIT_PER_SECOND: SLOW.perSecond,
      RATE_LIMIT_BURST: "4",
      RATE_LIMIT_ANON_PER_SECOND: SLOW.perSecond,
      RATE_LIMIT_ANON_BURST: "4",
    };
    a = await start(shared, topic);
    b = await start(shared, topic);
    const own = { RATE_LIMIT_PER_SECOND: SLOW.perSecond, RATE_LIMIT_BURST: "4" };
    c = await start(own, topic);
    d = await start(own, topic);
  });

  it("an instance's limit holds across two processes of the service", async () => {
    const inst = uniqueName("rl-shared");
    const statuses = [];
    for (const s of [a, b, a, b]) statuses.push((await s.get("/v1/users?limit=1", inst)).status);
    expect(statuses).toEqual([200, 200, 200, 200]);
    const fifth = [await a.get("/v1/users?limit=1", inst), await b.get("/v1/users?limit=1", inst)];
    expect(fifth.map((r) => r.status)).toEqual([429, 429]);
    expect(fifth[1]?.headers.get("ratelimit-remaining")).toBe("0");
  });

  it("with in-process buckets the same traffic passes: each process has its own budget", async () => {
    const inst = uniqueName("rl-own");
    const statuses = [];
    for (const s of [c, d, c, d, c, d]) statuses.push((await s.get("/v1/users?limit=1", inst)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
  });

  it("the per-address budget for unauthenticated requests is shared too", async () => {
    // Six requests against a budget of four: one process alone would pass three. (The key is the address,
    // so an earlier run may have left less than four; that only adds refusals.)
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await get(i % 2 ? b : a, "/healthz")).status);
    expect(statuses.filter((x) => x === 429).length).toBeGreaterThanOrEqual(2);
  });
});

describe("a shared store that does not answer", () => {
  it("falls back to in-process buckets: requests are neither blocked nor unlimited", async () => {
    // Nothing listens on port 1: every Redis command fails at once.
    const s = await start({
      RATE_LIMIT_STORE: "redis",
      RATE_LIMIT_REDIS_URL: "redis://127.0.0.1:1",
      RATE_LIMIT_PER_SECOND: SLOW.perSecond,
      RATE_LIMIT_BURST: "2",
    });
    const inst = uniqueName("rl-down");
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await s.get("/v1/users?limit=1", inst)).status);
    expect(statuses).toEqual([200, 200, 429]);
  });
});
