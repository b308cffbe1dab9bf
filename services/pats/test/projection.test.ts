// Projection specs: given PAT, user, org and instance events, then the expected rows, against real PostgreSQL.
import * as ev from "@idp/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { type ProjectionSpec, projectionSpec } from "../../../test/support/projection-spec.ts";
import { patsService } from "../src/index.ts";

let spec: ProjectionSpec;
beforeAll(async () => {
  spec = await projectionSpec(patsService);
});
afterAll(async () => spec?.close());

let n = 0;
/** A fresh user (and token ids) per test, so tests share one schema without interfering. */
const fresh = (instance = "i1", org = "o1") => {
  const id = `u${++n}`;
  return { id, tok: (k: number) => `${id}-t${k}`, e: aggregate(instance, id, org) };
};
const EXP = Date.parse("2027-01-01T00:00:00Z");
const token = async (id: string, instance = "i1") =>
  (await spec.pool.query("SELECT * FROM personal_access_tokens WHERE instance_id = $1 AND id = $2", [instance, id])).rows[0];
const tokensOf = async (userId: string, instance = "i1") =>
  (await spec.pool.query("SELECT id FROM personal_access_tokens WHERE instance_id = $1 AND user_id = $2 ORDER BY id", [instance, userId])).rows.map(
    (r) => r.id,
  );

describe("pats projection", () => {
  it("user.pat.added inserts the token, keyed by its token id, for the user of the aggregate", async () => {
    const { id, tok, e } = fresh();
    await spec.given(e(ev.userPatAdded, { tokenId: tok(1), expiration: EXP, scopes: ["openid", "urn:zitadel:iam:org:project:id:zitadel:aud"] }));
    expect(await token(tok(1))).toEqual({
      instance_id: "i1",
      id: tok(1),
      resource_owner: "o1",
      creation_date: new Date("2026-03-01T10:00:01Z"),
      change_date: new Date("2026-03-01T10:00:01Z"),
      sequence: 1,
      user_id: id,
      expiration: new Date(EXP),
      scopes: ["openid", "urn:zitadel:iam:org:project:id:zitadel:aud"],
    });
  });

  it("absent scopes are stored as NULL; a second add of the same token id keeps the first", async () => {
    const { tok, e } = fresh();
    await spec.given(e(ev.userPatAdded, { tokenId: tok(1), expiration: EXP }), e(ev.userPatAdded, { tokenId: tok(1), expiration: EXP + 1000, scopes: ["x"] }));
    expect(await token(tok(1))).toMatchObject({ scopes: null, expiration: new Date(EXP), sequence: 1 });
  });

  it("user.pat.removed deletes that token only", async () => {
    const { id, tok, e } = fresh();
    await spec.given(e(ev.userPatAdded, { tokenId: tok(1), expiration: EXP }), e(ev.userPatAdded, { tokenId: tok(2), expiration: EXP }));
    await spec.given(e(ev.userPatRemoved, { tokenId: tok(1) }));
    expect(await tokensOf(id)).toEqual([tok(2)]);
  });

  it("the older names user.personal.access.token.added/removed are aliases of ZITADEL's user.pat.*", async () => {
    const { id, tok, e } = fresh();
    await spec.given(
      { ...e(ev.userPatAdded, { tokenId: tok(1), expiration: EXP }), eventType: "user.personal.access.token.added" },
      { ...e(ev.userPatAdded, { tokenId: tok(2), expiration: EXP }), eventType: "user.personal.access.token.added" },
    );
    expect(await tokensOf(id)).toEqual([tok(1), tok(2)]);
    await spec.given({ ...e(ev.userPatRemoved, { tokenId: tok(1) }), eventType: "user.personal.access.token.removed" });
    expect(await tokensOf(id)).toEqual([tok(2)]);
  });

  it("a redelivered batch changes nothing (an add after a removal is not replayed)", async () => {
    const { id, tok, e } = fresh();
    const added = e(ev.userPatAdded, { tokenId: tok(1), expiration: EXP });
    const removed = e(ev.userPatRemoved, { tokenId: tok(1) });
    await spec.given(added, removed);
    expect(await spec.given(added, removed)).toMatchObject({ applied: 0, duplicates: 2 });
    expect(await tokensOf(id)).toEqual([]);
  });

  it("user.removed deletes the user's tokens and no other user's", async () => {
    const a = fresh();
    const b = fresh();
    await spec.given(
      a.e(ev.userPatAdded, { tokenId: a.tok(1), expiration: EXP }),
      a.e(ev.userPatAdded, { tokenId: a.tok(2), expiration: EXP }),
      b.e(ev.userPatAdded, { tokenId: b.tok(1), expiration: EXP }),
    );
    await spec.given(a.e(ev.userRemoved, {}));
    expect(await tokensOf(a.id)).toEqual([]);
    expect(await tokensOf(b.id)).toEqual([b.tok(1)]);
  });

  it("org.removed deletes the org's tokens, and nothing of other orgs", async () => {
    const a = fresh("i1", "org-gone");
    const b = fresh("i1", "org-stays");
    await spec.given(a.e(ev.userPatAdded, { tokenId: a.tok(1), expiration: EXP }), b.e(ev.userPatAdded, { tokenId: b.tok(1), expiration: EXP }));
    await spec.given(aggregate("i1", "org-gone", "org-gone")(ev.orgRemoved, {}));
    expect(await token(a.tok(1))).toBeUndefined();
    expect(await token(b.tok(1))).toBeDefined();
  });

  it("instance.removed deletes every token of that instance only", async () => {
    const a = fresh("inst-gone");
    const b = fresh("inst-stays");
    await spec.given(a.e(ev.userPatAdded, { tokenId: a.tok(1), expiration: EXP }), b.e(ev.userPatAdded, { tokenId: b.tok(1), expiration: EXP }));
    await spec.given(aggregate("inst-gone", "inst-gone", "inst-gone")(ev.instanceRemoved, {}));
    expect((await spec.pool.query("SELECT count(*)::int AS n FROM personal_access_tokens WHERE instance_id = 'inst-gone'")).rows[0].n).toBe(0);
    expect(await token(b.tok(1), "inst-stays")).toBeDefined();
  });
});

describe("multi-topic convergence (tombstones)", () => {
  it("a user removal applied before a late token add leaves no token", async () => {
    const { id, tok, e } = fresh();
    await spec.given(e(ev.userRemoved, {}));
    await spec.given(e(ev.userPatAdded, { tokenId: tok(1), expiration: EXP }));
    expect(await tokensOf(id)).toEqual([]);
  });

  it("an org removal applied before a late token add of a user of that org leaves no token", async () => {
    const { id, tok, e } = fresh("i1", "org-late");
    await spec.given(aggregate("i1", "org-late", "org-late")(ev.orgRemoved, {}));
    await spec.given(e(ev.userPatAdded, { tokenId: tok(1), expiration: EXP }));
    expect(await tokensOf(id)).toEqual([]);
  });

  it("an instance removal applied before a late token add (same batch) leaves no token", async () => {
    const { id, tok, e } = fresh("mt-inst");
    await spec.given(aggregate("mt-inst", "mt-inst", "mt-inst")(ev.instanceRemoved, {}), e(ev.userPatAdded, { tokenId: tok(1), expiration: EXP }));
    expect(await tokensOf(id, "mt-inst")).toEqual([]);
  });

  it("tombstones are per entity: after a user and an org are removed, tokens of other users and orgs are still added", async () => {
    const gone = fresh("mt-2", "org-a");
    const sameOrg = fresh("mt-2", "org-a");
    const otherOrg = fresh("mt-2", "org-b");
    await spec.given(gone.e(ev.userRemoved, {}));
    await spec.given(sameOrg.e(ev.userPatAdded, { tokenId: sameOrg.tok(1), expiration: EXP }));
    expect(await tokensOf(sameOrg.id, "mt-2")).toEqual([sameOrg.tok(1)]);
    await spec.given(aggregate("mt-2", "org-a", "org-a")(ev.orgRemoved, {}), otherOrg.e(ev.userPatAdded, { tokenId: otherOrg.tok(1), expiration: EXP }));
    expect(await tokensOf(sameOrg.id, "mt-2")).toEqual([]); // deleted by the org removal
    expect(await tokensOf(otherOrg.id, "mt-2")).toEqual([otherOrg.tok(1)]);
  });
});
