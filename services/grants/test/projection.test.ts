// Projection specs: given user grant, user, project, org and instance events, then the expected rows,
// against real PostgreSQL.
import * as ev from "@idp/events";
import { preferredLoginNameSql } from "@idp/runtime";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { type ProjectionSpec, projectionSpec } from "../../../test/support/projection-spec.ts";
import { GrantState, grantsService, LookupUserType } from "../src/index.ts";
import { intents, interpret } from "./history.ts";

let spec: ProjectionSpec;
beforeAll(async () => {
  spec = await projectionSpec(grantsService);
});
afterAll(async () => spec?.close());

let n = 0;
/** Fresh ids per test, so tests share one schema without interfering (tombstones included). */
const id = (prefix: string) => `${prefix}${++n}`;
const human = {
  userName: "ada",
  firstName: "Ada",
  lastName: "Lovelace",
  displayName: "Ada L",
  email: "ada@example.com",
  changeRequired: false,
};

/** A small world: an org with a user and a project, in instance `inst`. */
function world(inst = "i1") {
  const org = id("org");
  const userId = id("user");
  const projectId = id("proj");
  const user = aggregate(inst, userId, org);
  const project = aggregate(inst, projectId, org);
  const orgAgg = aggregate(inst, org, org);
  return { inst, org, userId, projectId, user, project, orgAgg };
}
const newGrant = (inst: string, owner: string) => {
  const grantId = id("ug");
  return { grantId, e: aggregate(inst, grantId, owner) };
};

const grantRow = async (grantId: string, inst = "i1") =>
  (await spec.pool.query("SELECT * FROM user_grants WHERE instance_id = $1 AND id = $2", [inst, grantId])).rows[0];
const lookup = async (table: string, column: string, key: string, inst = "i1") =>
  (await spec.pool.query(`SELECT * FROM ${table} WHERE instance_id = $1 AND ${column} = $2`, [inst, key])).rows[0];

describe("grants projection: user grant events", () => {
  it("user.grant.added inserts an active grant (direct grant: grant_id '')", async () => {
    const w = world();
    const g = newGrant(w.inst, w.org);
    await spec.given(g.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, roleKeys: ["admin", "viewer"] }));
    expect(await grantRow(g.grantId)).toEqual({
      instance_id: "i1",
      id: g.grantId,
      resource_owner: w.org,
      creation_date: new Date("2026-03-01T10:00:01Z"),
      change_date: new Date("2026-03-01T10:00:01Z"),
      sequence: 1,
      state: GrantState.active,
      user_id: w.userId,
      project_id: w.projectId,
      grant_id: "",
      roles: ["admin", "viewer"],
    });
  });

  it("user.grant.added with a project grant id and no role keys", async () => {
    const w = world();
    const g = newGrant(w.inst, "granted-org");
    await spec.given(g.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, grantId: "pg-x" }));
    expect(await grantRow(g.grantId)).toMatchObject({ grant_id: "pg-x", roles: [], resource_owner: "granted-org" });
  });

  it("user.grant.changed and user.grant.cascade.changed replace the roles and stamp change date and sequence", async () => {
    const w = world();
    const g = newGrant(w.inst, w.org);
    await spec.given(g.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, roleKeys: ["a"] }));
    await spec.given(g.e(ev.userGrantChanged, { userId: w.userId, roleKeys: ["b", "c"] }));
    expect(await grantRow(g.grantId)).toMatchObject({ roles: ["b", "c"], sequence: 2, change_date: new Date("2026-03-01T10:00:02Z") });
    await spec.given(g.e(ev.userGrantCascadeChanged, { roleKeys: ["c"] }));
    expect(await grantRow(g.grantId)).toMatchObject({ roles: ["c"], sequence: 3 });
    await spec.given(g.e(ev.userGrantCascadeChanged, {}));
    expect(await grantRow(g.grantId)).toMatchObject({ roles: [], sequence: 4 });
  });

  it("user.grant.deactivated and user.grant.reactivated switch the state", async () => {
    const w = world();
    const g = newGrant(w.inst, w.org);
    await spec.given(g.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, roleKeys: ["a"] }), g.e(ev.userGrantDeactivated, {}));
    expect(await grantRow(g.grantId)).toMatchObject({ state: GrantState.inactive, sequence: 2 });
    await spec.given(g.e(ev.userGrantReactivated, {}));
    expect(await grantRow(g.grantId)).toMatchObject({ state: GrantState.active, sequence: 3, change_date: new Date("2026-03-01T10:00:03Z") });
  });

  it("user.grant.removed and user.grant.cascade.removed delete the grant; later events of it change nothing", async () => {
    const w = world();
    const a = newGrant(w.inst, w.org);
    const b = newGrant(w.inst, w.org);
    await spec.given(
      a.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, roleKeys: ["a"] }),
      b.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, roleKeys: ["a"] }),
    );
    await spec.given(a.e(ev.userGrantRemoved, { userId: w.userId, projectId: w.projectId }), b.e(ev.userGrantCascadeRemoved, {}));
    await spec.given(a.e(ev.userGrantChanged, { roleKeys: ["z"] }), b.e(ev.userGrantReactivated, {}));
    expect(await grantRow(a.grantId)).toBeUndefined();
    expect(await grantRow(b.grantId)).toBeUndefined();
  });

  it("a redelivered event changes nothing", async () => {
    const w = world();
    const g = newGrant(w.inst, w.org);
    const added = g.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, roleKeys: ["a"] });
    const changed = g.e(ev.userGrantChanged, { roleKeys: ["b"] });
    await spec.given(added, changed);
    const stats = await spec.given(added, changed);
    expect(stats.duplicates).toBe(2);
    expect(await grantRow(g.grantId)).toMatchObject({ roles: ["b"], sequence: 2 });
  });
});

describe("grants projection: user lookup", () => {
  it("human added, self-registered and machine added record the user's org and names", async () => {
    const w = world();
    const selfId = id("user");
    const machineId = id("user");
    const self = aggregate(w.inst, selfId, w.org);
    const machineEv = aggregate(w.inst, machineId, "other-org")(ev.userMachineAdded, { userName: "svc", name: "Service" });
    await spec.given(w.user(ev.userHumanAdded, human), self(ev.userHumanSelfRegistered, { ...human, userName: "self", displayName: "" }), machineEv);
    expect(await lookup("lookup_users", "user_id", w.userId)).toMatchObject({ resource_owner: w.org, username: "ada", display_name: "Ada L", sequence: 1 });
    expect(await lookup("lookup_users", "user_id", selfId)).toMatchObject({ username: "self", display_name: null });
    expect(await lookup("lookup_users", "user_id", machineId)).toMatchObject({ resource_owner: "other-org", username: "svc", display_name: null });
  });

  it("username changed, domain claimed and profile changed update the names", async () => {
    const w = world();
    await spec.given(w.user(ev.userHumanAdded, human), w.user(ev.userUsernameChanged, { userName: "ada2" }));
    expect(await lookup("lookup_users", "user_id", w.userId)).toMatchObject({ username: "ada2", sequence: 2 });
    await spec.given(w.user(ev.userDomainClaimed, { userName: "ada-claimed" }), w.user(ev.userHumanProfileChanged, { firstName: "A" }));
    // A profile change without displayName leaves it as it was (the first name is kept for the API).
    expect(await lookup("lookup_users", "user_id", w.userId)).toMatchObject({ username: "ada-claimed", display_name: "Ada L", first_name: "A", sequence: 4 });
    await spec.given(w.user(ev.userHumanProfileChanged, { displayName: "Countess" }));
    expect(await lookup("lookup_users", "user_id", w.userId)).toMatchObject({ display_name: "Countess", sequence: 5 });
  });
});

describe("grants projection: the user's type, names, e-mail, avatar and preferred login name", () => {
  const preferred = async (userId: string, inst = "i1") =>
    (await spec.pool.query(`SELECT ${preferredLoginNameSql("u")} AS name FROM lookup_users u WHERE u.instance_id = $1 AND u.user_id = $2`, [inst, userId]))
      .rows[0]?.name;

  it("human added records type, names and e-mail; machine added only type and username", async () => {
    const w = world();
    const machineId = id("user");
    await spec.given(w.user(ev.userHumanAdded, human), aggregate(w.inst, machineId, w.org)(ev.userMachineAdded, { userName: "svc", name: "Service" }));
    expect(await lookup("lookup_users", "user_id", w.userId)).toMatchObject({
      type: LookupUserType.human,
      username: "ada",
      display_name: "Ada L",
      first_name: "Ada",
      last_name: "Lovelace",
      email: "ada@example.com",
      avatar_key: null,
    });
    expect(await lookup("lookup_users", "user_id", machineId)).toMatchObject({
      type: LookupUserType.machine,
      username: "svc",
      display_name: null,
      first_name: null,
      last_name: null,
      email: null,
      avatar_key: null,
    });
  });

  it("profile, e-mail and avatar events update the lookup and stamp it; absent profile fields stay", async () => {
    const w = world();
    await spec.given(w.user(ev.userHumanAdded, human));
    await spec.given(w.user(ev.userHumanProfileChanged, { lastName: "Byron" }));
    expect(await lookup("lookup_users", "user_id", w.userId)).toMatchObject({ first_name: "Ada", last_name: "Byron", display_name: "Ada L", sequence: 2 });
    // Nothing the lookup holds changed (nick name only): no write.
    await spec.given(w.user(ev.userHumanProfileChanged, { nickName: "A" }));
    expect(await lookup("lookup_users", "user_id", w.userId)).toMatchObject({ sequence: 2 });
    await spec.given(w.user(ev.userHumanEmailChanged, { email: "countess@example.com" }), w.user(ev.userHumanAvatarAdded, { storeKey: "avatars/ada" }));
    expect(await lookup("lookup_users", "user_id", w.userId)).toMatchObject({ email: "countess@example.com", avatar_key: "avatars/ada", sequence: 5 });
    await spec.given(w.user(ev.userHumanAvatarRemoved, {}));
    expect(await lookup("lookup_users", "user_id", w.userId)).toMatchObject({ avatar_key: null, sequence: 6 });
  });

  it("the preferred login name follows username, org domains, org policy and the instance default", async () => {
    const w = world("ln-g1");
    const instance = aggregate(w.inst, w.inst, w.inst);
    await spec.given(w.user(ev.userHumanAdded, human));
    expect(await preferred(w.userId, w.inst)).toBe("ada");
    await spec.given(instance(ev.instanceDomainPolicyAdded, { userLoginMustBeDomain: true }));
    expect(await preferred(w.userId, w.inst)).toBeNull();
    await spec.given(w.orgAgg(ev.orgDomainVerified, { domain: "a.example" }), w.orgAgg(ev.orgDomainPrimarySet, { domain: "a.example" }));
    expect(await preferred(w.userId, w.inst)).toBe("ada@a.example");
    await spec.given(w.user(ev.userUsernameChanged, { userName: "ada2" }));
    expect(await preferred(w.userId, w.inst)).toBe("ada2@a.example");
    await spec.given(w.orgAgg(ev.orgDomainPolicyAdded, { userLoginMustBeDomain: false }));
    expect(await preferred(w.userId, w.inst)).toBe("ada2");
    await spec.given(w.orgAgg(ev.orgDomainPolicyChanged, { userLoginMustBeDomain: true }));
    expect(await preferred(w.userId, w.inst)).toBe("ada2@a.example");
    await spec.given(w.orgAgg(ev.orgDomainRemoved, { domain: "a.example" }));
    expect(await preferred(w.userId, w.inst)).toBeNull();
    await spec.given(w.orgAgg(ev.orgDomainPolicyRemoved, {}), instance(ev.instanceDomainPolicyChanged, { userLoginMustBeDomain: false }));
    expect(await preferred(w.userId, w.inst)).toBe("ada2");
  });

  it("org.removed drops the org's domains and policy; user.removed drops the user", async () => {
    const w = world("ln-g2");
    await spec.given(
      w.user(ev.userHumanAdded, human),
      w.orgAgg(ev.orgDomainVerified, { domain: "a.example" }),
      w.orgAgg(ev.orgDomainPolicyAdded, { userLoginMustBeDomain: true }),
      aggregate(w.inst, w.inst, w.inst)(ev.instanceDomainPolicyAdded, { userLoginMustBeDomain: false }),
    );
    const other = world("ln-g2");
    await spec.given(other.user(ev.userMachineAdded, { userName: "svc", name: "S" }), other.orgAgg(ev.orgDomainVerified, { domain: "b.example" }));
    await spec.given(w.orgAgg(ev.orgRemoved, {}), other.user(ev.userRemoved, {}));
    const orgs = async (table: string, column: string) =>
      (await spec.pool.query(`SELECT ${column} AS id FROM ${table} WHERE instance_id = $1 ORDER BY 1`, [w.inst])).rows.map((r) => r.id);
    expect(await orgs("org_domains", "org_id")).toEqual([other.org]);
    expect(await orgs("domain_policies", "owner_id")).toEqual([w.inst]);
    expect(await orgs("lookup_users", "user_id")).toEqual([]);
  });
});

describe("grants projection: org and project names", () => {
  it("org.added / org.changed and project.added (v2) / project.changed keep the names; org.removed drops the org's", async () => {
    const w = world();
    await spec.given(w.orgAgg(ev.orgAdded, { name: "Acme" }), w.project(ev.projectAdded, { name: "Portal" }));
    expect(await lookup("lookup_orgs", "org_id", w.org)).toMatchObject({ resource_owner: w.org, name: "Acme", sequence: 1 });
    expect(await lookup("lookup_projects", "project_id", w.projectId)).toMatchObject({ name: "Portal", sequence: 1 });
    await spec.given(w.orgAgg(ev.orgChanged, { name: "Acme Ltd" }), w.project(ev.projectChanged, { name: "Portal 2" }));
    expect(await lookup("lookup_orgs", "org_id", w.org)).toMatchObject({ name: "Acme Ltd", sequence: 2 });
    expect(await lookup("lookup_projects", "project_id", w.projectId)).toMatchObject({ name: "Portal 2", sequence: 2 });
    // A project change without a name keeps it.
    await spec.given(w.project(ev.projectChanged, {}));
    expect(await lookup("lookup_projects", "project_id", w.projectId)).toMatchObject({ name: "Portal 2", sequence: 2 });
    await spec.given(w.orgAgg(ev.orgRemoved, {}));
    expect(await lookup("lookup_orgs", "org_id", w.org)).toBeUndefined();
    expect(await lookup("lookup_projects", "project_id", w.projectId)).toBeUndefined();
    // A late org.added of the removed org creates nothing.
    await spec.given(aggregate(w.inst, w.org, w.org, Date.parse("2026-03-01T09:00:00Z"))(ev.orgAdded, { name: "Late" }));
    expect(await lookup("lookup_orgs", "org_id", w.org)).toBeUndefined();
  });

  it("a project added with the v1 payload (no name) has none until project.changed names it", async () => {
    const w = world();
    await spec.given(w.project(ev.projectAdded, {}));
    expect(await lookup("lookup_projects", "project_id", w.projectId)).toMatchObject({ name: null });
    await spec.given(w.project(ev.projectChanged, { name: "Named" }));
    expect(await lookup("lookup_projects", "project_id", w.projectId)).toMatchObject({ name: "Named" });
  });
});

describe("grants projection: cascades", () => {
  it("user.removed deletes the user's grants and lookup, not other users' grants; a late grant for the user is not created", async () => {
    const w = world();
    const other = id("user");
    const mine = newGrant(w.inst, w.org);
    const theirs = newGrant(w.inst, w.org);
    await spec.given(
      w.user(ev.userHumanAdded, human),
      mine.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, roleKeys: ["a"] }),
      theirs.e(ev.userGrantAdded, { userId: other, projectId: w.projectId, roleKeys: ["a"] }),
    );
    await spec.given(w.user(ev.userRemoved, {}));
    expect(await grantRow(mine.grantId)).toBeUndefined();
    expect(await grantRow(theirs.grantId)).toBeDefined();
    expect(await lookup("lookup_users", "user_id", w.userId)).toBeUndefined();
    const late = newGrant(w.inst, w.org);
    await spec.given(late.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, roleKeys: ["a"] }));
    expect(await grantRow(late.grantId)).toBeUndefined();
  });

  it("project.added records the project's org; project.removed deletes its grants, its lookups, and stops late grants", async () => {
    const w = world();
    const otherProject = id("proj");
    const g = newGrant(w.inst, w.org);
    const kept = newGrant(w.inst, w.org);
    const viaGrant = newGrant(w.inst, "org-b");
    await spec.given(
      w.project(ev.projectAdded, {}),
      w.project(ev.projectGrantAdded, { grantId: `${w.projectId}-pg`, grantedOrgId: "org-b", roleKeys: ["a"] }),
      g.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, roleKeys: ["a"] }),
      viaGrant.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, grantId: `${w.projectId}-pg`, roleKeys: ["a"] }),
      kept.e(ev.userGrantAdded, { userId: w.userId, projectId: otherProject, roleKeys: ["a"] }),
    );
    expect(await lookup("lookup_projects", "project_id", w.projectId)).toMatchObject({ resource_owner: w.org, sequence: 1 });
    await spec.given(w.project(ev.projectRemoved, {}));
    expect(await grantRow(g.grantId)).toBeUndefined();
    expect(await grantRow(viaGrant.grantId)).toBeUndefined();
    expect(await grantRow(kept.grantId)).toBeDefined();
    expect(await lookup("lookup_projects", "project_id", w.projectId)).toBeUndefined();
    expect(await lookup("lookup_project_grants", "grant_id", `${w.projectId}-pg`)).toBeUndefined();
    const late = newGrant(w.inst, w.org);
    await spec.given(late.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, roleKeys: ["a"] }));
    expect(await grantRow(late.grantId)).toBeUndefined();
  });

  it("project.grant.added records the granted org and roles; changed and cascade.changed intersect the roles of its grants", async () => {
    const w = world();
    const pgId = id("pg");
    const under = newGrant(w.inst, "org-b");
    const direct = newGrant(w.inst, w.org);
    await spec.given(
      w.project(ev.projectAdded, {}),
      w.project(ev.projectGrantAdded, { grantId: pgId, grantedOrgId: "org-b", roleKeys: ["a", "b", "c"] }),
      under.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, grantId: pgId, roleKeys: ["c", "a", "b"] }),
      direct.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, roleKeys: ["a", "b", "c"] }),
    );
    expect(await lookup("lookup_project_grants", "grant_id", pgId)).toMatchObject({
      project_id: w.projectId,
      granted_org: "org-b",
      resource_owner: w.org,
      role_keys: ["a", "b", "c"],
    });
    await spec.given(w.project(ev.projectGrantChanged, { grantId: pgId, roleKeys: ["b", "c", "x"] }));
    // Order kept, no change date / sequence on the grant (the grant aggregate did not change).
    expect(await grantRow(under.grantId)).toMatchObject({ roles: ["c", "b"], sequence: 1 });
    expect(await grantRow(direct.grantId)).toMatchObject({ roles: ["a", "b", "c"] });
    expect(await lookup("lookup_project_grants", "grant_id", pgId)).toMatchObject({ role_keys: ["b", "c", "x"], sequence: 3 });
    await spec.given(w.project(ev.projectGrantCascadeChanged, { grantId: pgId, roleKeys: ["b"] }));
    expect(await grantRow(under.grantId)).toMatchObject({ roles: ["b"] });
  });

  it("project.grant.removed deletes the grants under it and its lookup, and stops late grants under it", async () => {
    const w = world();
    const pgId = id("pg");
    const under = newGrant(w.inst, "org-b");
    const direct = newGrant(w.inst, w.org);
    await spec.given(
      w.project(ev.projectAdded, {}),
      w.project(ev.projectGrantAdded, { grantId: pgId, grantedOrgId: "org-b", roleKeys: ["a"] }),
      under.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, grantId: pgId, roleKeys: ["a"] }),
      direct.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, roleKeys: ["a"] }),
    );
    await spec.given(w.project(ev.projectGrantRemoved, { grantId: pgId }));
    expect(await grantRow(under.grantId)).toBeUndefined();
    expect(await grantRow(direct.grantId)).toBeDefined();
    expect(await lookup("lookup_project_grants", "grant_id", pgId)).toBeUndefined();
    const late = newGrant(w.inst, "org-b");
    await spec.given(late.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, grantId: pgId, roleKeys: ["a"] }));
    expect(await grantRow(late.grantId)).toBeUndefined();
  });

  it("project.role.removed removes the role from every grant of the project only, without stamping them", async () => {
    const w = world();
    const otherProject = id("proj");
    const a = newGrant(w.inst, w.org);
    const b = newGrant(w.inst, "org-b");
    const other = newGrant(w.inst, w.org);
    await spec.given(
      a.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, roleKeys: ["admin", "viewer"] }),
      b.e(ev.userGrantAdded, { userId: id("user"), projectId: w.projectId, grantId: "pg-r", roleKeys: ["admin"] }),
      other.e(ev.userGrantAdded, { userId: w.userId, projectId: otherProject, roleKeys: ["admin"] }),
    );
    await spec.given(w.project(ev.projectRoleRemoved, { key: "admin" }));
    expect(await grantRow(a.grantId)).toMatchObject({ roles: ["viewer"], sequence: 1, change_date: new Date("2026-03-01T10:00:01Z") });
    expect(await grantRow(b.grantId)).toMatchObject({ roles: [] });
    expect(await grantRow(other.grantId)).toMatchObject({ roles: ["admin"] });
  });

  it("a grant added after its role was removed does not carry the role, until the role key is added again", async () => {
    const w = world();
    await spec.given(w.project(ev.projectRoleRemoved, { key: "admin" }));
    const late = newGrant(w.inst, w.org);
    await spec.given(late.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, roleKeys: ["admin", "viewer"] }));
    expect(await grantRow(late.grantId)).toMatchObject({ roles: ["viewer"] });
    await spec.given(w.project(ev.projectRoleAdded, { key: "admin" }));
    const next = newGrant(w.inst, w.org);
    await spec.given(next.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, roleKeys: ["admin"] }));
    expect(await grantRow(next.grantId)).toMatchObject({ roles: ["admin"] });
  });

  it("a grant added late under a project grant whose roles were narrowed keeps only the granted roles", async () => {
    const w = world();
    const pgId = id("pg");
    await spec.given(
      w.project(ev.projectGrantAdded, { grantId: pgId, grantedOrgId: "org-b", roleKeys: ["a", "b"] }),
      w.project(ev.projectGrantChanged, { grantId: pgId, roleKeys: ["b"] }),
    );
    const late = newGrant(w.inst, "org-b");
    await spec.given(late.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, grantId: pgId, roleKeys: ["a", "b"] }));
    expect(await grantRow(late.grantId)).toMatchObject({ roles: ["b"] });
  });

  it("org.removed deletes grants 4 ways: owned by the org, of its users, of its projects, granted to it", async () => {
    const x = world(); // the org being removed: x.org owns user x.userId and project x.projectId
    const y = world(); // another org
    const pgToX = id("pg"); // y's project granted to x
    const owned = newGrant(x.inst, x.org); // y's user on y's project, but the grant belongs to x
    const ofUser = newGrant(x.inst, y.org);
    const ofProject = newGrant(x.inst, y.org);
    const grantedToX = newGrant(x.inst, y.org);
    const untouched = newGrant(x.inst, y.org);
    await spec.given(
      x.user(ev.userHumanAdded, human),
      y.user(ev.userHumanAdded, human),
      x.project(ev.projectAdded, {}),
      y.project(ev.projectAdded, {}),
      y.project(ev.projectGrantAdded, { grantId: pgToX, grantedOrgId: x.org, roleKeys: ["a"] }),
      owned.e(ev.userGrantAdded, { userId: y.userId, projectId: y.projectId, roleKeys: ["a"] }),
      ofUser.e(ev.userGrantAdded, { userId: x.userId, projectId: y.projectId, roleKeys: ["a"] }),
      ofProject.e(ev.userGrantAdded, { userId: y.userId, projectId: x.projectId, roleKeys: ["a"] }),
      grantedToX.e(ev.userGrantAdded, { userId: y.userId, projectId: y.projectId, grantId: pgToX, roleKeys: ["a"] }),
      untouched.e(ev.userGrantAdded, { userId: y.userId, projectId: y.projectId, roleKeys: ["a"] }),
    );
    await spec.given(x.orgAgg(ev.orgRemoved, {}));
    for (const g of [owned, ofUser, ofProject, grantedToX]) expect(await grantRow(g.grantId)).toBeUndefined();
    expect(await grantRow(untouched.grantId)).toBeDefined();
    expect(await lookup("lookup_users", "user_id", x.userId)).toBeUndefined();
    expect(await lookup("lookup_users", "user_id", y.userId)).toBeDefined();
    expect(await lookup("lookup_projects", "project_id", x.projectId)).toBeUndefined();
    expect(await lookup("lookup_projects", "project_id", y.projectId)).toBeDefined();
    expect(await lookup("lookup_project_grants", "grant_id", pgToX)).toBeUndefined();

    // Late grants (multi-topic) owned by the org, or of its user, project or project grant, are not created.
    const late = [newGrant(x.inst, x.org), newGrant(x.inst, y.org), newGrant(x.inst, y.org), newGrant(x.inst, y.org)] as const;
    await spec.given(
      late[0].e(ev.userGrantAdded, { userId: y.userId, projectId: y.projectId, roleKeys: ["a"] }),
      late[1].e(ev.userGrantAdded, { userId: x.userId, projectId: y.projectId, roleKeys: ["a"] }),
      late[2].e(ev.userGrantAdded, { userId: y.userId, projectId: x.projectId, roleKeys: ["a"] }),
      late[3].e(ev.userGrantAdded, { userId: y.userId, projectId: y.projectId, grantId: pgToX, roleKeys: ["a"] }),
    );
    for (const g of late) expect(await grantRow(g.grantId)).toBeUndefined();
    const tombstones = (
      await spec.pool.query("SELECT kind, id FROM projector_tombstones WHERE instance_id = 'i1' AND resource_owner = $1 ORDER BY kind, id", [x.org])
    ).rows;
    expect(tombstones).toEqual(
      [
        { kind: "org", id: x.org },
        { kind: "project", id: x.projectId },
        { kind: "project_grant", id: pgToX },
        { kind: "user", id: x.userId },
      ].sort((a, b) => a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id)),
    );
  });

  it("a user, project or project grant created late in a removed org is not looked up, and its late grants are not created", async () => {
    const x = world();
    const y = world();
    const pgId = id("pg");
    await spec.given(x.orgAgg(ev.orgRemoved, {}));
    await spec.given(
      x.user(ev.userHumanAdded, human),
      x.project(ev.projectAdded, {}),
      y.project(ev.projectGrantAdded, { grantId: pgId, grantedOrgId: x.org, roleKeys: ["a"] }),
    );
    expect(await lookup("lookup_users", "user_id", x.userId)).toBeUndefined();
    expect(await lookup("lookup_projects", "project_id", x.projectId)).toBeUndefined();
    expect(await lookup("lookup_project_grants", "grant_id", pgId)).toBeUndefined();
    const late = [newGrant(x.inst, y.org), newGrant(x.inst, y.org), newGrant(x.inst, y.org)] as const;
    await spec.given(
      late[0].e(ev.userGrantAdded, { userId: x.userId, projectId: y.projectId, roleKeys: ["a"] }),
      late[1].e(ev.userGrantAdded, { userId: y.userId, projectId: x.projectId, roleKeys: ["a"] }),
      late[2].e(ev.userGrantAdded, { userId: y.userId, projectId: y.projectId, grantId: pgId, roleKeys: ["a"] }),
    );
    for (const g of late) expect(await grantRow(g.grantId)).toBeUndefined();
    // Other users' grants are still created.
    const fine = newGrant(x.inst, y.org);
    await spec.given(fine.e(ev.userGrantAdded, { userId: y.userId, projectId: y.projectId, roleKeys: ["a"] }));
    expect(await grantRow(fine.grantId)).toBeDefined();
  });

  it("instance.removed deletes every row of the instance only, and a late add in it is not created", async () => {
    const inst = id("inst");
    const w = world(inst);
    const o = world("i1");
    const g = newGrant(inst, w.org);
    const kept = newGrant("i1", o.org);
    await spec.given(
      w.user(ev.userHumanAdded, human),
      w.project(ev.projectAdded, {}),
      w.project(ev.projectGrantAdded, { grantId: id("pg"), grantedOrgId: "org-b", roleKeys: [] }),
      g.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, roleKeys: ["a"] }),
      o.user(ev.userHumanAdded, human),
      kept.e(ev.userGrantAdded, { userId: o.userId, projectId: o.projectId, roleKeys: ["a"] }),
    );
    await spec.given(aggregate(inst, inst, inst)(ev.instanceRemoved, {}));
    for (const t of ["user_grants", "lookup_users", "lookup_projects", "lookup_project_grants"]) {
      expect((await spec.pool.query(`SELECT count(*)::int AS n FROM ${t} WHERE instance_id = $1`, [inst])).rows[0].n).toBe(0);
    }
    expect(await grantRow(kept.grantId)).toBeDefined();
    expect(await lookup("lookup_users", "user_id", o.userId)).toBeDefined();
    const late = newGrant(inst, w.org);
    const lateUser = aggregate(inst, id("user"), w.org);
    await spec.given(late.e(ev.userGrantAdded, { userId: w.userId, projectId: w.projectId, roleKeys: ["a"] }), lateUser(ev.userHumanAdded, human));
    expect(await grantRow(late.grantId, inst)).toBeUndefined();
    expect((await spec.pool.query("SELECT count(*)::int AS n FROM lookup_users WHERE instance_id = $1", [inst])).rows[0].n).toBe(0);
  });

  it("a grant added late for an org removed before (the grant's own org) is not created", async () => {
    const w = world();
    await spec.given(w.orgAgg(ev.orgRemoved, {}));
    const late = newGrant(w.inst, w.org);
    await spec.given(late.e(ev.userGrantAdded, { userId: id("user"), projectId: id("proj"), roleKeys: ["a"] }));
    expect(await grantRow(late.grantId)).toBeUndefined();
  });
});

describe("grants projection: against an independent model", () => {
  it("after random valid histories the grants are exactly the ones the model keeps, with its roles and states", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(intents, async (history) => {
        const prefix = `model${++run}.`;
        const { events, expected } = interpret(history, prefix);
        if (events.length) await spec.given(...events);
        const rows = (
          await spec.pool.query(
            "SELECT instance_id, id, user_id, project_id, grant_id, roles, state FROM user_grants WHERE instance_id LIKE $1 || '%' ORDER BY instance_id, id",
            [prefix],
          )
        ).rows;
        const byKey = (a: { instance_id: string; id: string }, b: { instance_id: string; id: string }) =>
          a.instance_id.localeCompare(b.instance_id) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
        expect(rows.sort(byKey)).toEqual([...expected].sort(byKey));
      }),
      { numRuns: 40 },
    );
  });
});
