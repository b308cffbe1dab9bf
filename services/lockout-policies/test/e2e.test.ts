// End to end through real Kafka and HTTP: lockout policies of two instances are published with the
// producer SDK; each instance's token sees its own default and org policies and none of the other's; the
// effective policy falls back to the default; an org-restricted token reads its own org only.
import * as ev from "@idp/events";
import type { EventToPublish } from "@idp/producer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { startTestService, type TestService, waitForPositions } from "../../../test/support/service.ts";
import { lockoutPoliciesService } from "../src/index.ts";

let t: TestService;
const [instA, instB] = ["e2e-lock-a", "e2e-lock-b"];
const T0 = Date.parse("2026-03-01T10:00:00Z");

interface Policy {
  id: string;
  isDefault: boolean;
  state: string;
  maxPasswordAttempts: number;
  maxOtpAttempts: number;
  showLockoutFailures: boolean;
  details: { sequence: number; creationDate: string; changeDate: string; resourceOwner: string };
  source?: string;
}
interface Body {
  result: Policy[];
  nextCursor: string | null;
}

// Per instance (k = 1 for A, 2 for B): default max k*10 password attempts; orgs o1..o4 with their own
// policy (o2's is changed, o3's removed, o4 is removed); o5 never has one.
function history(): EventToPublish[] {
  const out: EventToPublish[] = [];
  [instA, instB].forEach((inst, i) => {
    const k = i + 1;
    const instance = aggregate(inst, inst, inst, T0);
    out.push(instance(ev.instanceLockoutPolicyAdded, { maxPasswordAttempts: k * 10, maxOTPAttempts: k, showLockOutFailures: true }));
    for (let j = 1; j <= 4; j++) {
      const org = aggregate(inst, `o${j}`, `o${j}`, T0 + j * 60_000);
      out.push(org(ev.orgLockoutPolicyAdded, { maxPasswordAttempts: k * 100 + j, showLockOutFailures: false }));
      if (j === 2) out.push(org(ev.orgLockoutPolicyChanged, { maxOTPAttempts: 7 }));
      if (j === 3) out.push(org(ev.orgLockoutPolicyRemoved, {}));
      if (j === 4) out.push(org(ev.orgRemoved, {}));
    }
  });
  return out;
}

beforeAll(async () => {
  t = await startTestService(lockoutPoliciesService);
  const positions = await t.publisher.publish(history());
  await waitForPositions(t.svc.pool, lockoutPoliciesService.projection.name, positions);
});
afterAll(async () => t?.close());

const get = async (path: string, instanceId: string, orgId?: string) => {
  const res = await t.get(path, instanceId, orgId ? { orgId } : {});
  return { status: res.status, body: (await res.json()) as Policy & Body & { code?: string } };
};

describe("lockout policies end to end", () => {
  it("each instance reads its own default", async () => {
    for (const [inst, k] of [
      [instA, 1],
      [instB, 2],
    ] as const) {
      const { status, body } = await get("/v1/lockout-policies/default", inst);
      expect(status).toBe(200);
      expect(body).toEqual({
        id: inst,
        isDefault: true,
        state: "active",
        maxPasswordAttempts: k * 10,
        maxOtpAttempts: k,
        showLockoutFailures: true,
        details: { sequence: 1, creationDate: new Date(T0 + 1000).toISOString(), changeDate: new Date(T0 + 1000).toISOString(), resourceOwner: inst },
      });
    }
  });

  it("an org's own policy, or 404 when it has none (never had, removed, or org removed)", async () => {
    const own = await get("/v1/orgs/o2/lockout-policy", instB);
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ id: "o2", isDefault: false, maxPasswordAttempts: 202, maxOtpAttempts: 7, details: { sequence: 2, resourceOwner: "o2" } });
    for (const org of ["o3", "o4", "o5"]) {
      const none = await get(`/v1/orgs/${org}/lockout-policy`, instA);
      expect(none.status, org).toBe(404);
      expect(none.body).toMatchObject({ code: "not_found" });
    }
    // The instance id is not an org: the default is not returned as an org policy.
    expect((await get(`/v1/orgs/${instA}/lockout-policy`, instA)).status).toBe(404);
  });

  it("the effective policy is the org's own, else the instance default, and says which", async () => {
    expect((await get("/v1/orgs/o1/lockout-policy/effective", instA)).body).toMatchObject({ id: "o1", source: "org", maxPasswordAttempts: 101 });
    expect((await get("/v1/orgs/o3/lockout-policy/effective", instA)).body).toMatchObject({
      id: instA,
      source: "default",
      isDefault: true,
      maxPasswordAttempts: 10,
    });
    expect((await get("/v1/orgs/o5/lockout-policy/effective", instB)).body).toMatchObject({ id: instB, source: "default", maxPasswordAttempts: 20 });
  });

  it("the list holds exactly the instance's policies, paged through the keyset cursor", async () => {
    for (const inst of [instA, instB]) {
      for (const sort of ["id", "creationDate"]) {
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const res = await get(`/v1/lockout-policies?sort=${sort}&order=desc&limit=1${cursor ? `&cursor=${cursor}` : ""}`, inst);
          expect(res.status).toBe(200);
          seen.push(...res.body.result.map((p) => p.id));
          cursor = res.body.nextCursor;
        } while (cursor);
        expect(seen, sort).toEqual(["o2", "o1", inst]);
      }
    }
    expect((await get("/v1/lockout-policies?isDefault=false", instA)).body.result.map((p) => p.id)).toEqual(["o1", "o2"]);
  });

  it("an org-restricted token reads its own org's policies and the default, nothing of other orgs", async () => {
    expect((await get("/v1/orgs/o1/lockout-policy", instA, "o1")).status).toBe(200);
    expect((await get("/v1/orgs/o1/lockout-policy/effective", instA, "o1")).body).toMatchObject({ source: "org" });
    expect((await get("/v1/lockout-policies/default", instA, "o1")).status).toBe(200);
    for (const path of ["/v1/orgs/o2/lockout-policy", "/v1/orgs/o2/lockout-policy/effective"]) {
      const other = await get(path, instA, "o1");
      expect(other.status, path).toBe(403);
      expect(other.body).toMatchObject({ code: "permission_denied" });
    }
    expect((await get("/v1/lockout-policies", instA, "o1")).body.result.map((p) => p.id)).toEqual([instA, "o1"].sort());
  });

  it("a malformed request is a 400", async () => {
    for (const q of ["?sort=maxPasswordAttempts", "?isDefault=yes", "?unknown=1", "?limit=1000"]) {
      const res = await get(`/v1/lockout-policies${q}`, instA);
      expect(res.status, q).toBe(400);
      expect(res.body).toMatchObject({ code: "invalid_argument" });
    }
    expect((await get("/v1/orgs/a%20b/lockout-policy", instA)).status).toBe(400);
    const forged = Buffer.from(JSON.stringify({ s: "creationDate", d: "asc", v: "yesterday", id: "x" })).toString("base64url");
    expect((await get(`/v1/lockout-policies?sort=creationDate&cursor=${forged}`, instA)).status).toBe(400);
  });
});
