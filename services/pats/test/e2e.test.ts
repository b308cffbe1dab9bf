// End to end through real Kafka and HTTP: personal access tokens of two instances are published with the
// producer SDK; each instance's token sees its own PATs and none of the other's; filters, sorting and the
// keyset cursor work over the API.
import * as ev from "@idp/events";
import type { EventToPublish } from "@idp/producer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { startTestService, type TestService, waitForPositions } from "../../../test/support/service.ts";
import { patsService } from "../src/index.ts";

let t: TestService;
const [instA, instB] = ["e2e-pat-a", "e2e-pat-b"];
const PAST = Date.parse("2020-01-01T00:00:00Z");
const NEVER = Date.parse("9999-12-31T23:59:59Z"); // ZITADEL's "does not expire"
const T0 = Date.parse("2026-03-01T10:00:00Z");

interface Pat {
  id: string;
  userId: string;
  expirationDate: string;
  expired: boolean;
  scopes: string[];
  details: { sequence: number; creationDate: string; changeDate: string; resourceOwner: string };
}
interface Body {
  result: Pat[];
  nextCursor: string | null;
}

// Per instance: user ada (org-1) has tokens t1..t4 (t1 expired, t4 never expires, t2 removed later);
// user bob (org-2) has token t5; user eve (org-1) has t6 and is then removed.
function history(): EventToPublish[] {
  const out: EventToPublish[] = [];
  for (const inst of [instA, instB]) {
    const ada = aggregate(inst, `${inst}-ada`, "org-1", T0);
    const bob = aggregate(inst, `${inst}-bob`, "org-2", T0 + 60_000);
    const eve = aggregate(inst, `${inst}-eve`, "org-1", T0 + 120_000);
    out.push(
      ada(ev.userPatAdded, { tokenId: `${inst}-t1`, expiration: PAST, scopes: ["openid"] }),
      ada(ev.userPatAdded, { tokenId: `${inst}-t2`, expiration: T0 + 86_400_000 }),
      ada(ev.userPatAdded, { tokenId: `${inst}-t3`, expiration: Date.parse("2099-01-01T00:00:00Z") }),
      ada(ev.userPatAdded, { tokenId: `${inst}-t4`, expiration: NEVER, scopes: ["openid", "profile"] }),
      ada(ev.userPatRemoved, { tokenId: `${inst}-t2` }),
      bob(ev.userPatAdded, { tokenId: `${inst}-t5`, expiration: NEVER }),
      eve(ev.userPatAdded, { tokenId: `${inst}-t6`, expiration: NEVER }),
      eve(ev.userRemoved, {}),
    );
  }
  return out;
}

beforeAll(async () => {
  t = await startTestService(patsService);
  const positions = await t.publisher.publish(history());
  await waitForPositions(t.svc.pool, patsService.projection.name, positions);
});
afterAll(async () => t?.close());

const list = async (query: string, instanceId: string, orgId?: string) => {
  const res = await t.get(`/v1/pats${query}`, instanceId, orgId ? { orgId } : {});
  expect(res.status, query).toBe(200);
  return (await res.json()) as Body;
};
const ids = (b: Body) => b.result.map((p) => p.id);

/** Follows nextCursor to the end; returns every id in order. */
async function pageAll(query: string, instanceId: string) {
  const out: string[] = [];
  let cursor: string | null = null;
  do {
    const body: Body = await list(`${query}&limit=2${cursor ? `&cursor=${cursor}` : ""}`, instanceId);
    expect(body.result.length).toBeLessThanOrEqual(2);
    out.push(...ids(body));
    cursor = body.nextCursor;
  } while (cursor);
  return out;
}

describe("pats end to end", () => {
  it("each instance sees exactly its own tokens (removed tokens and removed users' tokens are gone)", async () => {
    for (const inst of [instA, instB]) {
      expect(await pageAll("?sort=creationDate", inst)).toEqual([1, 3, 4, 5].map((i) => `${inst}-t${i}`));
    }
  });

  it("get by id returns the token with details; another instance gets 404", async () => {
    const res = await t.get(`/v1/pats/${instA}-t4`, instA);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      id: `${instA}-t4`,
      userId: `${instA}-ada`,
      expirationDate: new Date(NEVER).toISOString(),
      expired: false,
      scopes: ["openid", "profile"],
      details: { sequence: 4, creationDate: new Date(T0 + 4000).toISOString(), changeDate: new Date(T0 + 4000).toISOString(), resourceOwner: "org-1" },
    });
    const other = await t.get(`/v1/pats/${instA}-t4`, instB);
    expect(other.status).toBe(404);
    expect(await other.json()).toMatchObject({ code: "not_found" });
    expect((await t.get(`/v1/pats/${instA}-t2`, instA)).status).toBe(404); // removed
  });

  it("filters: user, org, expiration range, hideExpired; an org-restricted token sees its org only", async () => {
    expect(ids(await list(`?userId=${instA}-bob`, instA))).toEqual([`${instA}-t5`]);
    expect(ids(await list("?orgId=org-1", instA))).toEqual([1, 3, 4].map((i) => `${instA}-t${i}`));
    expect(ids(await list("?hideExpired=true", instA))).toEqual([3, 4, 5].map((i) => `${instA}-t${i}`));
    expect((await list(`?ids=${instA}-t1`, instA)).result[0]).toMatchObject({ expired: true, scopes: ["openid"] });
    expect(ids(await list("?expirationAfter=2030-01-01T00:00:00Z&expirationBefore=9000-01-01T00:00:00Z", instA))).toEqual([`${instA}-t3`]);
    expect(ids(await list("", instA, "org-2"))).toEqual([`${instA}-t5`]);
    expect(ids(await list("?orgId=org-1", instA, "org-2"))).toEqual([]);
    expect((await t.get(`/v1/pats/${instA}-t1`, instA, { orgId: "org-2" })).status).toBe(404);
  });

  it("sorts by expiration (including 'never expires') and user, both directions, through the cursor", async () => {
    expect(await pageAll("?sort=expiration", instA)).toEqual([1, 3, 4, 5].map((i) => `${instA}-t${i}`));
    expect(await pageAll("?sort=expiration&order=desc", instA)).toEqual([5, 4, 3, 1].map((i) => `${instA}-t${i}`));
    expect(await pageAll("?sort=userId&order=desc", instA)).toEqual([5, 4, 3, 1].map((i) => `${instA}-t${i}`));
    expect(await pageAll("?sort=orgId", instA)).toEqual([1, 3, 4, 5].map((i) => `${instA}-t${i}`));
  });

  it("a malformed query is a 400", async () => {
    for (const q of ["?expirationBefore=tomorrow", "?hideExpired=yes", "?sort=token", "?unknown=1", "?limit=0", "?userId=a%20b"]) {
      const res = await t.get(`/v1/pats${q}`, instA);
      expect(res.status, q).toBe(400);
      expect(await res.json()).toMatchObject({ code: "invalid_argument" });
    }
    // Forged (unsigned) cursors and a cursor of another sort are rejected before SQL.
    for (const v of ["not a time", 1e15]) {
      const forged = Buffer.from(JSON.stringify({ s: "expiration", d: "asc", v, id: "x" })).toString("base64url");
      expect((await t.get(`/v1/pats?sort=expiration&cursor=${forged}`, instA)).status).toBe(400);
    }
    const wrongSort = (await list("?sort=creationDate&limit=1", instA)).nextCursor;
    expect((await t.get(`/v1/pats?sort=id&cursor=${wrongSort}`, instA)).status).toBe(400);
  });
});
