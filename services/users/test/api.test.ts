// The users query API over real HTTP: filters, sorting, keyset pagination, details, errors, OpenAPI.
import * as ev from "@idp/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { signToken, startTestService, type TestService, waitForPositions } from "../../../test/support/service.ts";
import { usersService } from "../src/index.ts";

let t: TestService;
const I = "api-inst";
const person = (userName: string, firstName: string, lastName: string, email: string) => ({
  userName,
  firstName,
  lastName,
  displayName: `${firstName} ${lastName}`,
  email,
  changeRequired: false,
});

beforeAll(async () => {
  t = await startTestService(usersService);
  const inst = aggregate(I, I, I);
  const acme = aggregate(I, "acme", "acme");
  const ada = aggregate(I, "u-ada", "acme");
  const alan = aggregate(I, "u-alan", "acme");
  const grace = aggregate(I, "u-grace", "globex");
  const bot = aggregate(I, "u-bot", "acme");
  const events = [
    inst(ev.instanceDomainPolicyAdded, { userLoginMustBeDomain: false }),
    acme(ev.orgDomainVerified, { domain: "acme.com" }),
    acme(ev.orgDomainPrimarySet, { domain: "acme.com" }),
    acme(ev.orgDomainPolicyAdded, { userLoginMustBeDomain: true }),
    ada(ev.userHumanAdded, person("ada", "Ada", "Lovelace", "ada@acme.com")),
    alan(ev.userHumanAdded, person("alan", "Alan", "Turing", "alan@acme.com")),
    grace(ev.userHumanAdded, person("grace", "Grace", "Hopper", "grace@globex.com")),
    bot(ev.userMachineAdded, { userName: "deploy-bot", name: "Deploy", accessTokenType: 1 }),
    alan(ev.userLocked, {}),
    ada(ev.userHumanEmailVerified, {}),
  ];
  await waitForPositions(t.svc.pool, "users", await t.publisher.publish(events));
});
afterAll(async () => t?.close());

const list = async (qs: string, init?: { orgId?: string }) => {
  const res = await t.get(`/v1/users?${qs}`, I, init);
  return { status: res.status, body: (await res.json()) as { result: { id: string }[]; nextCursor: string | null; code?: string; message?: string } };
};
const ids = async (qs: string) => (await list(qs)).body.result.map((u) => u.id);

describe("GET /v1/users/:id", () => {
  it("returns the user with login names and details", async () => {
    const res = await t.get("/v1/users/u-ada", I);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      id: "u-ada",
      state: "active",
      type: "human",
      username: "ada",
      loginNames: ["ada@acme.com"],
      preferredLoginName: "ada@acme.com",
      human: expect.objectContaining({ firstName: "Ada", email: { email: "ada@acme.com", isVerified: true } }),
      details: { sequence: 2, creationDate: "2026-03-01T10:00:01.000Z", changeDate: "2026-03-01T10:00:02.000Z", resourceOwner: "acme" },
    });
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  it("returns machines with their machine fields", async () => {
    expect(await (await t.get("/v1/users/u-bot", I)).json()).toMatchObject({
      type: "machine",
      machine: { name: "Deploy", accessTokenType: "jwt", hasSecret: false },
    });
  });

  it("404 with the standard error body", async () => {
    const res = await t.get("/v1/users/nobody", I);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ code: "not_found", message: "user nobody not found", requestId: expect.any(String) });
  });

  it("400 for a malformed id", async () => {
    const res = await t.get(`/v1/users/${encodeURIComponent("a b;c")}`, I);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: "invalid_argument", details: [{ field: "userId" }] });
  });

  it("an org-restricted token only sees its org's users", async () => {
    expect((await t.get("/v1/users/u-grace", I, { orgId: "acme" })).status).toBe(404);
    expect((await list("", { orgId: "acme" })).body.result.map((u) => u.id).sort()).toEqual(["u-ada", "u-alan", "u-bot"]);
  });
});

describe("GET /v1/users", () => {
  it("filters by username, email, display name, state, type, org and ids", async () => {
    expect(await ids("username=ADA")).toEqual(["u-ada"]);
    expect(await ids("username=a&usernameMethod=startsWith")).toEqual(["u-ada", "u-alan"]);
    expect(await ids("email=globex&emailMethod=contains")).toEqual(["u-grace"]);
    expect(await ids("displayName=Alan%20Turing")).toEqual(["u-alan"]);
    expect(await ids("state=locked")).toEqual(["u-alan"]);
    expect(await ids("type=machine")).toEqual(["u-bot"]);
    expect(await ids("orgId=globex")).toEqual(["u-grace"]);
    expect(await ids("ids=u-bot,u-grace")).toEqual(["u-bot", "u-grace"]);
    expect(await ids("username=a&usernameMethod=startsWith&state=active")).toEqual(["u-ada"]);
  });

  it("filters by login name (user@domain under a must-be-domain policy)", async () => {
    expect(await ids("loginName=ADA@acme.com")).toEqual(["u-ada"]);
    expect(await ids("loginName=ada")).toEqual([]);
    expect(await ids("loginName=grace")).toEqual(["u-grace"]);
  });

  it("treats LIKE wildcards in filters literally", async () => {
    expect(await ids("username=%25&usernameMethod=contains")).toEqual([]);
    expect(await ids("username=_&usernameMethod=startsWith")).toEqual([]);
  });

  it("400, not 500, for a NUL character in a text filter (PostgreSQL text cannot hold one)", async () => {
    const res = await t.get("/v1/users?username=a%00b", I);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: "invalid_argument", details: [{ field: "username" }] });
  });

  it("sorts and pages with a keyset cursor in both directions", async () => {
    const pageThrough = async (order: string) => {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const { status, body } = await list(`sort=username&order=${order}&limit=1${cursor ? `&cursor=${cursor}` : ""}`);
        expect(status).toBe(200);
        seen.push(...body.result.map((u) => u.id));
        cursor = body.nextCursor;
      } while (cursor);
      return seen;
    };
    expect(await pageThrough("asc")).toEqual(["u-ada", "u-alan", "u-bot", "u-grace"]);
    expect(await pageThrough("desc")).toEqual(["u-grace", "u-bot", "u-alan", "u-ada"]);
    // Equal creation times are ordered by id (the keyset tie-breaker).
    expect(await ids("sort=creationDate&order=desc&limit=2")).toEqual(["u-grace", "u-bot"]);
  });

  it.each([
    ["limit=0", "limit"],
    ["limit=1000", "limit"],
    ["limit=abc", "limit"],
    ["state=happy", "state"],
    ["sort=password", "sort"],
    ["usernameMethod=regex", "usernameMethod"],
    ["unknown=1", "unknown"],
    ["ids=a,b%20c", "ids"],
  ])("400 for %s", async (qs, field) => {
    const { status, body } = await list(qs);
    expect(status).toBe(400);
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toContain(field);
  });

  it("400 invalid_cursor when a cursor is reused with another sort or other filters, or is not ours", async () => {
    const { body } = await list("sort=username&limit=1");
    const { status, body: err } = await list(`sort=email&limit=1&cursor=${body.nextCursor}`);
    expect(status).toBe(400);
    expect(err).toMatchObject({ code: "invalid_cursor", message: expect.stringMatching(/cursor was made for sort username asc, not email asc/) });
    // Another page size is fine; other filters are not.
    expect((await list(`sort=username&limit=2&cursor=${body.nextCursor}`)).status).toBe(200);
    expect((await list(`sort=username&limit=1&state=active&cursor=${body.nextCursor}`)).body.code).toBe("invalid_cursor");
    for (const cursor of ["not-a-cursor", Buffer.from(JSON.stringify({ s: "username", d: "asc", v: "a", id: "u-ada" })).toString("base64url")]) {
      expect((await list(`cursor=${cursor}`)).body).toMatchObject({ code: "invalid_cursor", requestId: expect.any(String) });
    }
  });
});

describe("service endpoints", () => {
  it("401 without a token, with an expired one, a wrongly signed one or another audience", async () => {
    expect((await fetch(`${t.url}/v1/users`)).status).toBe(401);
    for (const token of [
      await signToken({ instanceId: I, expiresIn: "-1m" }),
      await signToken({ instanceId: I, secret: "another-secret-another-secret-another-secret" }),
      await signToken({ instanceId: I, audience: "someone-else" }),
    ]) {
      const res = await fetch(`${t.url}/v1/users`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ code: "unauthenticated" });
    }
  });

  it("serves an OpenAPI document describing the routes and their parameters", async () => {
    const doc = (await (await fetch(`${t.url}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, { get: { parameters?: { name: string }[] } }>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/v1/users", "/v1/users/{userId}"]));
    expect(doc.paths["/v1/users"]?.get.parameters?.map((p) => p.name)).toEqual(expect.arrayContaining(["username", "loginName", "cursor", "limit"]));
    expect(doc.paths["/v1/users"]?.get.parameters?.map((p) => p.name)).toEqual(
      expect.arrayContaining(["nickName", "phone", "isEmailVerified", "emails", "preferredLoginName"]),
    );
    // The search takes a JSON body whose queries nest through a named, recursive schema.
    expect(JSON.stringify(doc.paths["/v1/users/_search"])).toContain('"#/components/schemas/UserQuery"');
  });

  it("health, readiness and metrics", async () => {
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.url}/readyz`);
    expect(await ready.json()).toMatchObject({ database: true, consuming: true });
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/projector_events_applied_total\{projection="users"\} \d+/);
    expect(metrics).toContain("projector_batch_duration_seconds_bucket");
    expect(metrics).toMatch(/projector_parked_events\{projection="users"\} 0/);
  });
});
