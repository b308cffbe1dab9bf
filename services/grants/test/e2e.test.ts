// End to end through real Kafka and HTTP: users, projects, a project grant and user grants of two instances
// are published with the producer SDK; each instance's token sees its own grants and none of the other's.
import * as ev from "@idp/events";
import type { EventToPublish } from "@idp/producer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { signToken, startTestService, type TestService, waitForPositions } from "../../../test/support/service.ts";
import { grantsService } from "../src/index.ts";

let t: TestService;
const [instA, instB] = ["e2e-grants-1", "e2e-grants-2"];
const human = (userName: string, displayName: string) => ({
  userName,
  firstName: "F",
  lastName: "L",
  displayName,
  email: `${userName}@example.com`,
  changeRequired: false,
});

/**
 * Per instance: org-1 owns users u1..u3 (u2 a machine) and project p1, granted to org-2 (pg1); grants
 * g1..g5 (g2 deactivated in A). In A, u1's profile and e-mail changed, u3 has an avatar, and org-1's login
 * names must carry its primary domain (one.example).
 */
function instanceHistory(inst: string): EventToPublish[] {
  const out: EventToPublish[] = [];
  const org = aggregate(inst, "org-1", "org-1");
  out.push(org(ev.orgAdded, { name: "Org One" }), aggregate(inst, "org-2", "org-2")(ev.orgAdded, { name: "Org Two" }));
  const users = new Map(["u1", "u2", "u3"].map((u) => [u, aggregate(inst, `${inst}-${u}`, "org-1")]));
  for (const [u, agg] of users) {
    out.push(u === "u2" ? agg(ev.userMachineAdded, { userName: `${u}-${inst}`, name: "Machine" }) : agg(ev.userHumanAdded, human(`${u}-${inst}`, `User ${u}`)));
  }
  if (inst === instA) {
    const u1 = users.get("u1") as ReturnType<typeof aggregate>;
    const u3 = users.get("u3") as ReturnType<typeof aggregate>;
    out.push(u1(ev.userHumanProfileChanged, { firstName: "Ann" }), u1(ev.userHumanEmailChanged, { email: "ann@new.example" }));
    out.push(u3(ev.userHumanAvatarAdded, { storeKey: "avatars/u3" }));
    out.push(org(ev.orgDomainVerified, { domain: "one.example" }), org(ev.orgDomainPrimarySet, { domain: "one.example" }));
    out.push(org(ev.orgDomainPolicyAdded, { userLoginMustBeDomain: true }));
  }
  const project = aggregate(inst, `${inst}-p1`, "org-1");
  out.push(
    project(ev.projectAdded, { name: "Portal" }),
    project(ev.projectGrantAdded, { grantId: `${inst}-pg1`, grantedOrgId: "org-2", roleKeys: ["viewer"] }),
  );
  const grants = new Map<string, ReturnType<typeof aggregate>>();
  const grant = (g: string, owner: string, payload: ev.PayloadOf<typeof ev.userGrantAdded>) => {
    // Created in reverse id order (g5 first), so the default creation-date sort differs from the id sort.
    const agg = aggregate(inst, `${inst}-${g}`, owner, Date.parse("2026-03-01T10:00:00Z") - Number(g.slice(1)) * 60_000);
    grants.set(g, agg);
    return agg(ev.userGrantAdded, payload);
  };
  out.push(
    grant("g1", "org-1", { userId: `${inst}-u1`, projectId: `${inst}-p1`, roleKeys: ["admin", "viewer"] }),
    grant("g2", "org-1", { userId: `${inst}-u2`, projectId: `${inst}-p1`, roleKeys: ["viewer"] }),
    grant("g3", "org-2", { userId: `${inst}-u3`, projectId: `${inst}-p1`, grantId: `${inst}-pg1`, roleKeys: ["viewer"] }),
    grant("g4", "org-1", { userId: `${inst}-u3`, projectId: `${inst}-p1`, roleKeys: ["admin"] }),
    grant("g5", "org-1", { userId: `${inst}-u1`, projectId: `${inst}-p2`, roleKeys: [] }),
  );
  if (inst === instA)
    out.push({ ...(grants.get("g2") as ReturnType<typeof aggregate>)(ev.userGrantDeactivated, {}), createdAt: new Date("2026-03-01T11:00:00Z") });
  return out;
}

beforeAll(async () => {
  t = await startTestService(grantsService);
  const positions = await t.publisher.publish([...instanceHistory(instA), ...instanceHistory(instB)]);
  await waitForPositions(t.svc.pool, grantsService.projection.name, positions);
});
afterAll(async () => t?.close());

interface Grant {
  id: string;
  state: string;
  roles: string[];
  organizationId: string;
  user: {
    id: string;
    type: string | null;
    username: string | null;
    preferredLoginName: string | null;
    displayName: string | null;
    firstName: string | null;
    lastName: string | null;
    email: string | null;
    avatarKey: string | null;
    organizationId: string | null;
  };
  project: { id: string; name: string | null; organizationId: string | null };
  projectGrant: { id: string; grantedOrganizationId: string | null; grantedOrganizationName: string | null } | null;
  details: { sequence: number; creationDate: string; changeDate: string; resourceOwner: string };
}
type Page = { result: Grant[]; nextCursor: string | null };

const list = async (inst: string, query = "", orgId?: string) => {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const res = await t.get(`/v1/grants?limit=2${query}${cursor ? `&cursor=${cursor}` : ""}`, inst, orgId ? { orgId } : {});
    expect(res.status).toBe(200);
    const body = (await res.json()) as Page;
    ids.push(...body.result.map((g) => g.id));
    cursor = body.nextCursor;
  } while (cursor);
  return ids;
};

describe("grants end to end", () => {
  it("each instance sees exactly its own grants, paged in creation order through the keyset cursor", async () => {
    for (const inst of [instA, instB]) {
      expect(await list(inst)).toEqual(["g5", "g4", "g3", "g2", "g1"].map((g) => `${inst}-${g}`));
    }
    expect(await list(instA, "&sort=id")).toEqual(["g1", "g2", "g3", "g4", "g5"].map((g) => `${instA}-${g}`));
    expect(await list(instA, "&sort=creationDate&order=desc")).toEqual(["g1", "g2", "g3", "g4", "g5"].map((g) => `${instA}-${g}`));
    // g2 was changed last (deactivated); the other change dates are their creation dates.
    expect(await list(instA, "&sort=changeDate&order=desc")).toEqual(["g2", "g1", "g3", "g4", "g5"].map((g) => `${instA}-${g}`));
    expect(await list(instA, "&sort=userId")).toEqual(["g1", "g5", "g2", "g3", "g4"].map((g) => `${instA}-${g}`));
  });

  it("a grant shows its user's names and org, the project's org and the granted org, with details", async () => {
    const res = await t.get(`/v1/grants/${instA}-g3`, instA);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      id: `${instA}-g3`,
      state: "active",
      roles: ["viewer"],
      organizationId: "org-2",
      organizationName: "Org Two",
      organizationPrimaryDomain: null,
      user: {
        id: `${instA}-u3`,
        type: "human",
        username: `u3-${instA}`,
        preferredLoginName: `u3-${instA}@one.example`,
        displayName: "User u3",
        firstName: "F",
        lastName: "L",
        email: `u3-${instA}@example.com`,
        avatarKey: "avatars/u3",
        organizationId: "org-1",
        organizationName: "Org One",
      },
      project: { id: `${instA}-p1`, name: "Portal", organizationId: "org-1" },
      projectGrant: { id: `${instA}-pg1`, grantedOrganizationId: "org-2", grantedOrganizationName: "Org Two" },
      details: { sequence: 1, creationDate: "2026-03-01T09:57:01.000Z", changeDate: "2026-03-01T09:57:01.000Z", resourceOwner: "org-2" },
    });
    expect(((await (await t.get(`/v1/grants/${instA}-g1`, instA)).json()) as { organizationPrimaryDomain: string }).organizationPrimaryDomain).toBe(
      "one.example",
    );
    // g5's project was never added: shown with a null project org, not hidden.
    expect(((await (await t.get(`/v1/grants/${instA}-g5`, instA)).json()) as Grant).project).toEqual({ id: `${instA}-p2`, name: null, organizationId: null });
  });

  it("filters: user, project, org, user org, project grant, role, state", async () => {
    const a = (gs: string[]) => gs.map((g) => `${instA}-${g}`);
    expect(await list(instA, `&userId=${instA}-u1&sort=id`)).toEqual(a(["g1", "g5"]));
    expect(await list(instA, `&projectId=${instA}-p1&sort=id`)).toEqual(a(["g1", "g2", "g3", "g4"]));
    expect(await list(instA, "&orgId=org-2")).toEqual(a(["g3"]));
    expect(await list(instA, "&userOrgId=org-1&sort=id")).toEqual(a(["g1", "g2", "g3", "g4", "g5"]));
    expect(await list(instA, "&userOrgId=org-2")).toEqual([]);
    expect(await list(instA, "&projectOrgId=org-1&sort=id")).toEqual(a(["g1", "g2", "g3", "g4"]));
    expect(await list(instA, `&projectGrantId=${instA}-pg1`)).toEqual(a(["g3"]));
    expect(await list(instA, "&roleKey=admin&sort=id")).toEqual(a(["g1", "g4"]));
    expect(await list(instA, "&state=inactive")).toEqual(a(["g2"]));
    expect(await list(instB, "&state=inactive")).toEqual([]);
    // An org-restricted token sees only that org's grants.
    expect(await list(instA, "", "org-2")).toEqual(a(["g3"]));
  });

  it("the user's fields: a machine has a type and names only; instance B has no domain policy", async () => {
    const g2 = (await (await t.get(`/v1/grants/${instA}-g2`, instA)).json()) as Grant;
    expect(g2.user).toMatchObject({ type: "machine", username: `u2-${instA}`, preferredLoginName: `u2-${instA}@one.example`, displayName: null, email: null });
    const g1 = (await (await t.get(`/v1/grants/${instB}-g1`, instB)).json()) as Grant;
    expect(g1.user).toMatchObject({ type: "human", preferredLoginName: `u1-${instB}`, firstName: "F", email: `u1-${instB}@example.com`, avatarKey: null });
    // A token of org-2 sees its grant's user (of org-1) with the login name org-1's domain policy gives.
    const seen = await t.get(`/v1/grants/${instA}-g3`, instA, { orgId: "org-2" });
    expect(((await seen.json()) as Grant).user.preferredLoginName).toBe(`u3-${instA}@one.example`);
  });

  it("filters on the user's fields, user ids and role keys, alone and combined", async () => {
    const a = (gs: string[]) => gs.map((g) => `${instA}-${g}`);
    expect(await list(instA, "&userType=machine")).toEqual(a(["g2"]));
    expect(await list(instA, "&userType=human&sort=id")).toEqual(a(["g1", "g3", "g4", "g5"]));
    expect(await list(instA, `&userName=U1-${instA}&sort=id`)).toEqual(a(["g1", "g5"]));
    expect(await list(instA, `&userName=U1-${instA}&userNameMethod=equals`)).toEqual([]);
    expect(await list(instA, "&userName=u3&userNameMethod=startsWith&sort=id")).toEqual(a(["g3", "g4"]));
    expect(await list(instA, `&loginName=U3-${instA}@ONE.example&sort=id`)).toEqual(a(["g3", "g4"]));
    expect(await list(instA, `&loginName=u3-${instA}&loginNameMethod=equals`)).toEqual([]);
    expect(await list(instB, `&loginName=u3-${instB}&loginNameMethod=equals&sort=id`)).toEqual([`${instB}-g3`, `${instB}-g4`]);
    expect(await list(instA, "&loginName=@one.example&loginNameMethod=contains&sort=id")).toEqual(a(["g1", "g2", "g3", "g4", "g5"]));
    expect(await list(instA, "&displayName=user%20u1&sort=id")).toEqual(a(["g1", "g5"]));
    expect(await list(instA, "&firstName=ann&sort=id")).toEqual(a(["g1", "g5"]));
    expect(await list(instA, "&firstName=F&firstNameMethod=equals&sort=id")).toEqual(a(["g3", "g4"]));
    expect(await list(instA, "&lastName=L&sort=id")).toEqual(a(["g1", "g3", "g4", "g5"]));
    expect(await list(instA, "&email=new.example&emailMethod=contains&sort=id")).toEqual(a(["g1", "g5"]));
    expect(await list(instA, `&userIds=${instA}-u2,${instA}-u3&sort=id`)).toEqual(a(["g2", "g3", "g4"]));
    expect(await list(instA, "&roleKeys=admin,viewer&sort=id")).toEqual(a(["g1", "g2", "g3", "g4"]));
    expect(await list(instA, "&roleKeys=nope")).toEqual([]);
    expect(await list(instA, "&userType=human&roleKeys=viewer&sort=id")).toEqual(a(["g1", "g3"]));
    expect(await list(instA, "&orgName=org%20two")).toEqual(a(["g3"]));
    expect(await list(instA, "&orgName=Org&orgNameMethod=startsWith&sort=id")).toEqual(a(["g1", "g2", "g3", "g4", "g5"]));
    expect(await list(instA, "&projectName=portal&sort=id")).toEqual(a(["g1", "g2", "g3", "g4"]));
    expect(await list(instA, "&projectName=portal&orgName=org%20one&sort=id")).toEqual(a(["g1", "g2", "g4"]));
    // The org-restricted token: its own grants only, filtered on a user of another org.
    expect(await list(instA, `&loginName=u3-${instA}@one.example`, "org-2")).toEqual(a(["g3"]));
  });

  it("a grant of instance A is not found with a token of instance B; unknown ids are 404", async () => {
    const other = await t.get(`/v1/grants/${instA}-g1`, instB);
    expect(other.status).toBe(404);
    expect(await other.json()).toMatchObject({ code: "not_found" });
    expect((await t.get("/v1/grants/nope", instA)).status).toBe(404);
  });

  it("malformed queries are 400", async () => {
    for (const q of ["state=removed", "limit=abc", "unknown=1", "sort=roles", "userId=a%20b", "userType=robot", "userIds=a%20b", "emailMethod=regex"]) {
      const res = await t.get(`/v1/grants?${q}`, instA);
      expect(res.status, q).toBe(400);
      expect(await res.json()).toMatchObject({ code: "invalid_argument" });
    }
    const forged = Buffer.from(JSON.stringify({ s: "creationDate", d: "asc", v: "yesterday", id: "x" })).toString("base64url");
    for (const cursor of ["not-a-cursor", forged]) {
      const res = await t.get(`/v1/grants?cursor=${cursor}`, instA);
      expect(res.status, cursor).toBe(400);
      expect(await res.json()).toMatchObject({ code: "invalid_cursor" });
    }
  });
});

describe("grants search with a query tree (POST /v1/grants/_search)", () => {
  const a = (gs: string[]) => gs.map((g) => `${instA}-${g}`);
  const search = async (body: unknown, inst = instA) => {
    const res = await fetch(`${t.url}/v1/grants/_search`, {
      method: "POST",
      headers: { authorization: `Bearer ${await signToken({ instanceId: inst })}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Page & { details?: { totalResult: number } } };
  };
  /** Every id the search finds, following the keyset cursor two at a time. */
  const all = async (body: Record<string, unknown>, inst = instA) => {
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const r = await search({ ...body, limit: 2, ...(cursor ? { cursor } : {}) }, inst);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      ids.push(...r.body.result.map((g) => g.id));
      cursor = r.body.nextCursor ?? undefined;
    } while (cursor);
    return ids;
  };
  const byId = { sortingColumn: "USER_GRANT_FIELD_NAME_ID", asc: true };

  it("or / not / and over typed queries, paged across pages, with the total on request", async () => {
    const either = { orQuery: { queries: [{ userIdQuery: { userId: `${instA}-u1` } }, { roleKeyQuery: { roleKey: "admin" } }] } };
    expect(await all({ ...byId, queries: [either] })).toEqual(a(["g1", "g4", "g5"]));
    const first = await search({ ...byId, queries: [either], limit: 2, withTotal: true });
    expect(first.body.details).toEqual({ totalResult: 3 });
    expect(first.body.result.map((g) => g.id)).toEqual(a(["g1", "g4"]));
    expect(await all({ ...byId, queries: [{ notQuery: { query: { stateQuery: { state: "USER_GRANT_STATE_ACTIVE" } } } }] })).toEqual(a(["g2"]));
    expect(
      await all({ ...byId, queries: [{ andQuery: { queries: [{ userTypeQuery: { type: "TYPE_HUMAN" } }, { inRoleKeysQuery: { roleKeys: ["viewer"] } }] } }] }),
    ).toEqual(a(["g1", "g3"]));
    expect(
      await all({ ...byId, queries: [{ loginNameQuery: { loginName: `U3-${instA}@ONE.EXAMPLE`, method: "TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE" } }] }),
    ).toEqual(a(["g3", "g4"]));
    expect(
      await all({
        ...byId,
        queries: [{ organizationNameQuery: { name: "Org", method: "TEXT_QUERY_METHOD_STARTS_WITH" } }, { projectNameQuery: { name: "Portal" } }],
      }),
    ).toEqual(a(["g1", "g2", "g3", "g4"]));
    // The owning org's primary domain: org-1's is one.example in A; org-2 has none.
    const ownedByOrgOne = a(["g1", "g2", "g4", "g5"]);
    expect(await all({ ...byId, queries: [{ organizationDomainQuery: { domain: "ONE.", method: "TEXT_QUERY_METHOD_STARTS_WITH_IGNORE_CASE" } }] })).toEqual(
      ownedByOrgOne,
    );
    // NOT is the complement: an org without a primary domain matches the negation.
    expect(await all({ ...byId, queries: [{ notQuery: { query: { organizationDomainQuery: { domain: "one.example" } } } }] })).toEqual(a(["g3"]));
    expect(await list(instA, "&orgDomain=one.example&sort=id")).toEqual(ownedByOrgOne);
    expect(await all({ ...byId, queries: [{ organizationDomainQuery: { domain: "one.example" } }] }, instB)).toEqual([]);
    // ZITADEL's default order: newest first.
    expect(await all({ queries: [{ projectIdQuery: { projectId: `${instA}-p1` } }] })).toEqual(a(["g1", "g2", "g3", "g4"]));
  });

  it("with granted: the organization's own grants and the grants on its projects", async () => {
    expect(await all({ ...byId, queries: [{ withGrantedQuery: { organizationId: "org-2" } }] })).toEqual(a(["g3"]));
    expect(await all({ ...byId, queries: [{ withGrantedQuery: { organizationId: "org-1" } }] })).toEqual(a(["g1", "g2", "g3", "g4", "g5"]));
    expect(await list(instA, "&withGranted=org-2")).toEqual(a(["g3"]));
  });

  it("sees only the token's instance, and rejects unknown queries, fields and oversized trees with 400", async () => {
    expect(await all({ ...byId, queries: [{ userIdQuery: { userId: `${instA}-u1` } }] }, instB)).toEqual([]);
    let deep: unknown = { userIdQuery: { userId: "u" } };
    for (let i = 0; i < 7; i++) deep = { notQuery: { query: deep } };
    for (const body of [
      { queries: [{ colorQuery: { color: "red" } }] },
      { queries: [{ userIdQuery: { userId: "u", extra: 1 } }] },
      { queries: [deep] },
      { sortingColumn: "roles" },
    ]) {
      const r = await search(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
    }
  });
});
