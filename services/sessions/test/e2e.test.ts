// End to end through real Kafka and HTTP: sessions and users of two instances are published with the
// producer SDK; each instance's token sees its own sessions (with the user's names) and none of the other's.
import * as ev from "@idp/events";
import type { EventToPublish } from "@idp/producer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { signToken, startTestService, type TestService, waitForPositions } from "../../../test/support/service.ts";
import { sessionsService } from "../src/index.ts";

let t: TestService;
const [instA, instB] = ["e2e-sess-a", "e2e-sess-b"];
const T0 = Date.parse("2020-03-01T10:00:00Z"); // long past: a 1 s lifetime has expired

interface Body {
  result: {
    id: string;
    user: { id: string; username: string | null; displayName: string | null; preferredLoginName: string | null } | null;
    hasToken: boolean;
    expirationDate: string | null;
  }[];
  nextCursor: string | null;
}

function history(): EventToPublish[] {
  const out: EventToPublish[] = [];
  for (const inst of [instA, instB]) {
    const ada = aggregate(inst, `${inst}-ada`, "org-1");
    out.push(
      ada(ev.userHumanAdded, { userName: "ada", firstName: "Ada", lastName: "L", displayName: "Ada Lovelace", email: "a@x.com", changeRequired: false }),
    );
    // In A, org-1's login names must carry its primary domain; B has no domain policy: the bare username.
    if (inst === instA) {
      const org = aggregate(inst, "org-1", "org-1");
      out.push(org(ev.orgDomainVerified, { domain: "a.example" }), org(ev.orgDomainPrimarySet, { domain: "a.example" }));
      out.push(org(ev.orgDomainPolicyAdded, { userLoginMustBeDomain: true }));
    }
    for (let i = 1; i <= 5; i++) {
      const s = aggregate(inst, `${inst}-s${i}`, inst, T0 + i * 60_000);
      out.push({ ...s(ev.sessionAdded, { user_agent: { fingerprint_id: `fp-${i}` } }), creator: "creator-1" });
      out.push(s(ev.sessionUserChecked, { userID: `${inst}-ada`, userResourceOwner: "org-1", checkedAt: T0 + i * 60_000 }));
      out.push(s(ev.sessionTokenSet, { tokenID: `secret-ish-token-id-${i}` }));
      // Session 1 expired long ago; the others never expire.
      if (i === 1) out.push(s(ev.sessionLifetimeSet, { lifetime: 1e9 }));
    }
  }
  return out;
}

beforeAll(async () => {
  t = await startTestService(sessionsService);
  const positions = await t.publisher.publish(history());
  await waitForPositions(t.svc.pool, sessionsService.projection.name, positions);
});
afterAll(async () => t?.close());

const list = async (query: string, instanceId: string) => {
  const res = await t.get(`/v1/sessions${query}`, instanceId);
  expect(res.status).toBe(200);
  return (await res.json()) as Body;
};

describe("sessions end to end", () => {
  it("each instance sees exactly its own sessions, paged through the keyset cursor, with the user's names", async () => {
    for (const inst of [instA, instB]) {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const body: Body = await list(`?limit=2&sort=creationDate&order=desc${cursor ? `&cursor=${cursor}` : ""}`, inst);
        ids.push(...body.result.map((s) => s.id));
        const preferredLoginName = inst === instA ? "ada@a.example" : "ada";
        for (const s of body.result) expect(s.user).toMatchObject({ id: `${inst}-ada`, username: "ada", displayName: "Ada Lovelace", preferredLoginName });
        cursor = body.nextCursor;
      } while (cursor);
      expect(ids).toEqual([5, 4, 3, 2, 1].map((i) => `${inst}-s${i}`));
    }
  });

  it("get by id returns the session without any token material; another instance gets 404", async () => {
    const res = await t.get(`/v1/sessions/${instA}-s2`, instA);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain("secret-ish-token-id");
    expect(JSON.parse(text)).toMatchObject({
      id: `${instA}-s2`,
      state: "active",
      creator: "creator-1",
      hasToken: true,
      userAgent: { fingerprintId: "fp-2" },
      details: { sequence: 3, resourceOwner: instA },
    });
    // A token of the user's org sees the org's domains and policy, so the same preferred login name.
    const ofOrg = await t.get(`/v1/sessions/${instA}-s2`, instA, { orgId: "org-1" });
    expect(ofOrg.status).toBe(200);
    expect(await ofOrg.json()).toMatchObject({ user: { preferredLoginName: "ada@a.example" } });
    const other = await t.get(`/v1/sessions/${instA}-s2`, instB);
    expect(other.status).toBe(404);
    expect(await other.json()).toMatchObject({ code: "not_found" });
  });

  it("filters: active hides expired sessions; creation date range; user id", async () => {
    expect((await list("?active=true", instA)).result.map((s) => s.id).sort()).toEqual([2, 3, 4, 5].map((i) => `${instA}-s${i}`));
    expect((await list("?active=false", instA)).result.map((s) => s.id)).toEqual([`${instA}-s1`]);
    const from = new Date(T0 + 2 * 60_000).toISOString();
    const to = new Date(T0 + 4 * 60_000).toISOString();
    expect((await list(`?creationDateFrom=${from}&creationDateTo=${to}`, instA)).result.map((s) => s.id)).toEqual([`${instA}-s2`, `${instA}-s3`]);
    expect((await list(`?userId=${instA}-ada&limit=10`, instA)).result).toHaveLength(5);
    expect((await list(`?userId=${instB}-ada`, instA)).result).toEqual([]);
  });

  it("a malformed query is a 400", async () => {
    for (const q of ["?creationDateFrom=yesterday", "?active=maybe", "?sort=token", "?unknown=1", "?limit=0"]) {
      const res = await t.get(`/v1/sessions${q}`, instA);
      expect(res.status, q).toBe(400);
      expect(await res.json()).toMatchObject({ code: "invalid_argument" });
    }
    // A forged (unsigned) cursor is rejected before it reaches SQL.
    const forged = Buffer.from(JSON.stringify({ s: "creationDate", d: "asc", v: "not a time", id: "x" })).toString("base64url");
    expect((await t.get(`/v1/sessions?cursor=${forged}`, instA)).status).toBe(400);
  });
});

describe("sessions search with a query tree (POST /v1/sessions/_search)", () => {
  const a = (ns: number[]) => ns.map((n) => `${instA}-s${n}`);
  const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();
  const search = async (body: unknown, inst = instA, subject?: string) => {
    const res = await fetch(`${t.url}/v1/sessions/_search`, {
      method: "POST",
      headers: { authorization: `Bearer ${await signToken({ instanceId: inst, ...(subject ? { subject } : {}) })}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Body & { details?: { totalResult: number } } };
  };
  const all = async (body: Record<string, unknown>, inst = instA, subject?: string) => {
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const r = await search({ ...body, limit: 2, ...(cursor ? { cursor } : {}) }, inst, subject);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      ids.push(...r.body.result.map((x) => x.id));
      cursor = r.body.nextCursor ?? undefined;
    } while (cursor);
    return ids;
  };

  it("timestamp methods, or / not, paged across pages, with the total on request", async () => {
    const later = { creationDateQuery: { creationDate: at(3), method: "TIMESTAMP_QUERY_METHOD_GREATER_OR_EQUALS" } };
    expect(await all({ queries: [later] })).toEqual(a([3, 4, 5]));
    expect(await all({ queries: [{ creationDateQuery: { creationDate: at(3), method: "TIMESTAMP_QUERY_METHOD_LESS" } }] })).toEqual(a([1, 2]));
    const either = { orQuery: { queries: [{ idsQuery: { ids: a([1]) } }, { userAgentQuery: { fingerprintId: "fp-4" } }] } };
    expect(await all({ queries: [either] })).toEqual(a([1, 4]));
    expect(await all({ queries: [{ notQuery: { query: either } }], asc: false })).toEqual(a([5, 3, 2]));
    const first = await search({ queries: [later], limit: 1, withTotal: true });
    expect(first.body.details).toEqual({ totalResult: 3 });
    // Expiration after a time also matches sessions that never expire (all but s1, which expired 1 s after it was created).
    expect(await all({ queries: [{ expirationDateQuery: { expirationDate: at(2), method: "TIMESTAMP_QUERY_METHOD_GREATER" } }] })).toEqual(a([2, 3, 4, 5]));
    expect(await all({ queries: [{ expirationDateQuery: { expirationDate: "2030-01-01T00:00:00Z", method: "TIMESTAMP_QUERY_METHOD_LESS" } }] })).toEqual(
      a([1]),
    );
    expect(await all({ queries: [{ userIdQuery: { id: `${instA}-ada` } }, { creatorQuery: { id: "creator-1" } }] })).toHaveLength(5);
  });

  it("a creator query without an id means the caller (the token's subject), as in ZITADEL", async () => {
    expect(await all({ queries: [{ creatorQuery: {} }] }, instA, "creator-1")).toEqual(a([1, 2, 3, 4, 5]));
    expect(await all({ queries: [{ creatorQuery: {} }] }, instA, "someone-else")).toEqual([]);
    expect(await all({ queries: [{ notQuery: { query: { creatorQuery: {} } } }] }, instA, "someone-else")).toEqual(a([1, 2, 3, 4, 5]));
    // The caller's user agent is not known to this API: a user-agent query must name the fingerprint.
    expect((await search({ queries: [{ userAgentQuery: {} }] })).status).toBe(400);
  });

  it("sees only the token's instance; unknown queries and bad dates are 400", async () => {
    expect(await all({ queries: [{ idsQuery: { ids: a([1, 2]) } }] }, instB)).toEqual([]);
    for (const body of [
      { queries: [{ colorQuery: {} }] },
      { queries: [{ creationDateQuery: { creationDate: "0000-01-01T00:00:00Z" } }] },
      { queries: [{ creationDateQuery: { creationDate: at(1), method: "TIMESTAMP_QUERY_METHOD_AROUND" } }] },
    ]) {
      expect((await search(body)).status, JSON.stringify(body)).toBe(400);
    }
  });
});
