// End to end through real Kafka and HTTP: users, projects, a project grant and user grants of two instances
// are published with the producer SDK; each instance's token sees its own grants and none of the other's.
import * as ev from "@idp/events";
import type { EventToPublish } from "@idp/producer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { type TestService, startTestService, waitForPositions } from "../../../test/support/service.ts";
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

/** Per instance: org-1 owns users u1..u3 and project p1, granted to org-2 (pg1); grants g1..g5 (g2 deactivated in A). */
function instanceHistory(inst: string): EventToPublish[] {
  const out: EventToPublish[] = [];
  for (const u of ["u1", "u2", "u3"]) out.push(aggregate(inst, `${inst}-${u}`, "org-1")(ev.userHumanAdded, human(`${u}-${inst}`, `User ${u}`)));
  const project = aggregate(inst, `${inst}-p1`, "org-1");
  out.push(project(ev.projectAdded, {}), project(ev.projectGrantAdded, { grantId: `${inst}-pg1`, grantedOrgId: "org-2", roleKeys: ["viewer"] }));
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
  if (inst === instA) out.push({ ...(grants.get("g2") as ReturnType<typeof aggregate>)(ev.userGrantDeactivated, {}), createdAt: new Date("2026-03-01T11:00:00Z") });
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
  user: { id: string; username: string | null; displayName: string | null; organizationId: string | null };
  project: { id: string; organizationId: string | null };
  projectGrant: { id: string; grantedOrganizationId: string | null } | null;
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
      user: { id: `${instA}-u3`, username: `u3-${instA}`, displayName: "User u3", organizationId: "org-1" },
      project: { id: `${instA}-p1`, organizationId: "org-1" },
      projectGrant: { id: `${instA}-pg1`, grantedOrganizationId: "org-2" },
      details: { sequence: 1, creationDate: "2026-03-01T09:57:01.000Z", changeDate: "2026-03-01T09:57:01.000Z", resourceOwner: "org-2" },
    });
    // g5's project was never added: shown with a null project org, not hidden.
    expect(((await (await t.get(`/v1/grants/${instA}-g5`, instA)).json()) as Grant).project).toEqual({ id: `${instA}-p2`, organizationId: null });
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

  it("a grant of instance A is not found with a token of instance B; unknown ids are 404", async () => {
    const other = await t.get(`/v1/grants/${instA}-g1`, instB);
    expect(other.status).toBe(404);
    expect(await other.json()).toMatchObject({ code: "not_found" });
    expect((await t.get("/v1/grants/nope", instA)).status).toBe(404);
  });

  it("malformed queries are 400", async () => {
    for (const q of ["state=removed", "limit=abc", "unknown=1", "sort=roles", "userId=a%20b", "cursor=not-a-cursor"]) {
      const res = await t.get(`/v1/grants?${q}`, instA);
      expect(res.status, q).toBe(400);
      expect(await res.json()).toMatchObject({ code: "invalid_argument" });
    }
    const forged = Buffer.from(JSON.stringify({ s: "creationDate", d: "asc", v: "yesterday", id: "x" })).toString("base64url");
    expect((await t.get(`/v1/grants?cursor=${forged}`, instA)).status).toBe(400);
  });
});
