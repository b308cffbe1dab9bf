// End to end through real Kafka and HTTP: sessions and users of two instances are published with the
// producer SDK; each instance's token sees its own sessions (with the user's names) and none of the other's.
import * as ev from "@idp/events";
import type { EventToPublish } from "@idp/producer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { type TestService, startTestService, waitForPositions } from "../../../test/support/service.ts";
import { sessionsService } from "../src/index.ts";

let t: TestService;
const [instA, instB] = ["e2e-sess-a", "e2e-sess-b"];
const T0 = Date.parse("2020-03-01T10:00:00Z"); // long past: a 1 s lifetime has expired

interface Body {
  result: { id: string; user: { id: string; username: string | null; displayName: string | null } | null; hasToken: boolean; expirationDate: string | null }[];
  nextCursor: string | null;
}

function history(): EventToPublish[] {
  const out: EventToPublish[] = [];
  for (const inst of [instA, instB]) {
    const ada = aggregate(inst, `${inst}-ada`, "org-1");
    out.push(ada(ev.userHumanAdded, { userName: "ada", firstName: "Ada", lastName: "L", displayName: "Ada Lovelace", email: "a@x.com", changeRequired: false }));
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
        for (const s of body.result) expect(s.user).toMatchObject({ id: `${inst}-ada`, username: "ada", displayName: "Ada Lovelace" });
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
    // A forged cursor whose timestamp is not a number is rejected before it reaches SQL.
    const forged = Buffer.from(JSON.stringify({ s: "creationDate", d: "asc", v: "not a time", id: "x" })).toString("base64url");
    expect((await t.get(`/v1/sessions?cursor=${forged}`, instA)).status).toBe(400);
  });
});
