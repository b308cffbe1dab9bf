// Projection specs: given user events, then the expected rows, against real PostgreSQL.
import * as ev from "@idp/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { type ProjectionSpec, projectionSpec } from "../../../test/support/projection-spec.ts";
import { UserState, UserType, usersService } from "../src/index.ts";

let spec: ProjectionSpec;
beforeAll(async () => {
  spec = await projectionSpec(usersService);
});
afterAll(async () => spec?.close());

let n = 0;
/** A fresh user id per test, so tests share one schema without interfering. */
const fresh = (instance = "i1", org = "o1") => {
  const id = `u${++n}`;
  return { id, e: aggregate(instance, id, org) };
};
const human = {
  userName: "ada",
  firstName: "Ada",
  lastName: "Lovelace",
  nickName: "",
  displayName: "Ada L",
  preferredLanguage: "und",
  gender: 0,
  email: "ada@example.com",
  phone: null,
  changeRequired: true,
};
const user = async (id: string, instance = "i1") => (await spec.pool.query("SELECT * FROM users WHERE instance_id = $1 AND id = $2", [instance, id])).rows[0];

describe("users projection", () => {
  it("user.human.added inserts an active human with nullable fields normalised", async () => {
    const { id, e } = fresh();
    await spec.given(e(ev.userHumanAdded, { ...human, encodedHash: "$argon2id$x" }));
    expect(await user(id)).toMatchObject({
      instance_id: "i1",
      id,
      resource_owner: "o1",
      sequence: 1,
      state: UserState.active,
      type: UserType.human,
      username: "ada",
      first_name: "Ada",
      last_name: "Lovelace",
      nick_name: null, // empty string
      display_name: "Ada L",
      preferred_language: null, // "und"
      gender: null, // unspecified
      email: "ada@example.com",
      is_email_verified: false,
      phone: null,
      password_set: true,
      password_change_required: true,
      creation_date: new Date("2026-03-01T10:00:01Z"),
      password_changed: new Date("2026-03-01T10:00:01Z"),
    });
  });

  it("the v1 name user.added and user.human.selfregistered create humans too; no hash means no password", async () => {
    const a = fresh();
    const b = fresh();
    await spec.given(
      { ...a.e(ev.userHumanAdded, human), eventType: "user.added" },
      b.e(ev.userHumanSelfRegistered, { ...human, userName: "self", userAgentID: "ua" }),
    );
    expect(await user(a.id)).toMatchObject({ type: UserType.human, password_set: false, password_changed: null });
    expect(await user(b.id)).toMatchObject({ type: UserType.human, username: "self" });
  });

  it("user.machine.added inserts a machine", async () => {
    const { id, e } = fresh();
    await spec.given(e(ev.userMachineAdded, { userName: "svc", name: "Service", description: "", accessTokenType: 1 }));
    expect(await user(id)).toMatchObject({
      type: UserType.machine,
      username: "svc",
      machine_name: "Service",
      machine_description: null,
      access_token_type: 1,
      has_secret: false,
      first_name: null,
    });
  });

  it.each([
    [ev.userLocked, UserState.locked],
    [ev.userDeactivated, UserState.inactive],
    [ev.userHumanInitCodeAdded, UserState.initial],
  ])("%s sets the state and stamps change date and sequence", async (definition, state) => {
    const { id, e } = fresh();
    await spec.given(e(ev.userHumanAdded, human), e(definition as typeof ev.userLocked, {}));
    expect(await user(id)).toMatchObject({ state, sequence: 2, change_date: new Date("2026-03-01T10:00:02Z") });
  });

  it("unlocked, reactivated and initialization check succeeded make the user active again", async () => {
    for (const [down, up] of [
      [ev.userLocked, ev.userUnlocked],
      [ev.userDeactivated, ev.userReactivated],
      [ev.userHumanInitCodeAdded, ev.userHumanInitCheckSucceeded],
    ] as const) {
      const { id, e } = fresh();
      await spec.given(e(ev.userHumanAdded, human), e(down as unknown as typeof ev.userLocked, {}));
      await spec.given(e(up as unknown as typeof ev.userLocked, {}));
      expect(await user(id)).toMatchObject({ state: UserState.active, sequence: 3 });
    }
  });

  it("user.removed deletes the user", async () => {
    const { id, e } = fresh();
    await spec.given(e(ev.userHumanAdded, human));
    await spec.given(e(ev.userRemoved, {}));
    expect(await user(id)).toBeUndefined();
  });

  it("username changed and domain claimed rename the user", async () => {
    const { id, e } = fresh();
    await spec.given(e(ev.userHumanAdded, human), e(ev.userUsernameChanged, { userName: "ada2" }));
    expect(await user(id)).toMatchObject({ username: "ada2" });
    await spec.given(e(ev.userDomainClaimed, { userName: "ada-claimed" }));
    expect(await user(id)).toMatchObject({ username: "ada-claimed", sequence: 3 });
  });

  it("profile changed sets only the fields present (first/last name only when non-empty)", async () => {
    const { id, e } = fresh();
    await spec.given(
      e(ev.userHumanAdded, { ...human, nickName: "nick", gender: 1, preferredLanguage: "en" }),
      e(ev.userHumanProfileChanged, { firstName: "", lastName: "King", displayName: "Countess", preferredLanguage: "de" }),
    );
    expect(await user(id)).toMatchObject({
      first_name: "Ada",
      last_name: "King",
      nick_name: "nick",
      display_name: "Countess",
      preferred_language: "de",
      gender: 1,
    });
  });

  it("email changed resets verification; email verified records the verified email", async () => {
    const { id, e } = fresh();
    await spec.given(e(ev.userHumanAdded, human), e(ev.userHumanEmailVerified, {}), e(ev.userHumanEmailChanged, { email: "new@example.com" }));
    expect(await user(id)).toMatchObject({ email: "new@example.com", is_email_verified: false, verified_email: "ada@example.com" });
    await spec.given(e(ev.userHumanEmailVerified, {}));
    expect(await user(id)).toMatchObject({ is_email_verified: true, verified_email: "new@example.com" });
  });

  it("phone changed, verified and removed", async () => {
    const { id, e } = fresh();
    await spec.given(e(ev.userHumanAdded, human), e(ev.userHumanPhoneChanged, { phone: "+41790000000" }));
    expect(await user(id)).toMatchObject({ phone: "+41790000000", is_phone_verified: false });
    await spec.given(e(ev.userHumanPhoneVerified, {}));
    expect(await user(id)).toMatchObject({ is_phone_verified: true, verified_phone: "+41790000000" });
    await spec.given(e(ev.userHumanPhoneRemoved, {}));
    expect(await user(id)).toMatchObject({ phone: null, is_phone_verified: null, verified_phone: null });
  });

  it("the v1 event names (user.email.changed, user.phone.verified, …) apply like the new ones", async () => {
    const { id, e } = fresh();
    await spec.given(
      e(ev.userHumanAdded, human),
      { ...e(ev.userHumanEmailChanged, { email: "v1@example.com" }), eventType: "user.email.changed" },
      { ...e(ev.userHumanPhoneChanged, { phone: "+1" }), eventType: "user.phone.changed" },
      { ...e(ev.userHumanPhoneVerified, {}), eventType: "user.phone.verified" },
    );
    expect(await user(id)).toMatchObject({ email: "v1@example.com", phone: "+1", is_phone_verified: true });
  });

  it("avatar added and removed", async () => {
    const { id, e } = fresh();
    await spec.given(e(ev.userHumanAdded, human), e(ev.userHumanAvatarAdded, { storeKey: "a/b.png" }));
    expect(await user(id)).toMatchObject({ avatar_key: "a/b.png" });
    await spec.given(e(ev.userHumanAvatarRemoved, {}));
    expect(await user(id)).toMatchObject({ avatar_key: null });
  });

  it("password changed sets password_set, change required and the change time", async () => {
    const { id, e } = fresh();
    await spec.given(e(ev.userHumanAdded, human), e(ev.userHumanPasswordChanged, { changeRequired: false, encodedHash: "h" }));
    expect(await user(id)).toMatchObject({
      password_set: true,
      password_change_required: false,
      password_changed: new Date("2026-03-01T10:00:02Z"),
    });
  });

  it("machine changed sets only present fields and is a no-op when none is present", async () => {
    const { id, e } = fresh();
    await spec.given(e(ev.userMachineAdded, { userName: "svc", name: "S", description: "d", accessTokenType: 0 }));
    await spec.given(e(ev.userMachineChanged, { description: "d2" }));
    expect(await user(id)).toMatchObject({ machine_name: "S", machine_description: "d2", access_token_type: 0, sequence: 2 });
    await spec.given(e(ev.userMachineChanged, {}));
    expect(await user(id)).toMatchObject({ sequence: 2 });
  });

  it("machine secret set, updated and removed (only whether a secret exists is kept)", async () => {
    const { id, e } = fresh();
    await spec.given(e(ev.userMachineAdded, { userName: "svc", name: "S" }), e(ev.userMachineSecretSet, { hashedSecret: "h" }));
    expect(await user(id)).toMatchObject({ has_secret: true });
    await spec.given(e(ev.userMachineSecretRemoved, {}));
    expect(await user(id)).toMatchObject({ has_secret: false });
    await spec.given(e(ev.userMachineSecretUpdated, { hashedSecret: "h2" }));
    expect(await user(id)).toMatchObject({ has_secret: true });
    expect(JSON.stringify(await user(id))).not.toContain("h2");
  });

  it("mfa init skipped records the time; any verified second factor clears it", async () => {
    for (const factor of [
      ev.userHumanMfaOtpVerified,
      ev.userHumanMfaOtpSmsAdded,
      ev.userHumanMfaOtpEmailAdded,
      ev.userHumanU2fTokenVerified,
      ev.userHumanPasswordlessTokenVerified,
    ]) {
      const { id, e } = fresh();
      await spec.given(e(ev.userHumanAdded, human), e(ev.userHumanMfaInitSkipped, {}));
      expect(await user(id)).toMatchObject({ mfa_init_skipped: new Date("2026-03-01T10:00:02Z") });
      const payload = factor === ev.userHumanU2fTokenVerified || factor === ev.userHumanPasswordlessTokenVerified ? { webAuthNTokenId: "t" } : {};
      await spec.given(e(factor as typeof ev.userHumanMfaOtpVerified, payload as never));
      expect(await user(id)).toMatchObject({ mfa_init_skipped: null });
    }
  });

  it("human events do not touch machines (and vice versa)", async () => {
    const { id, e } = fresh();
    await spec.given(e(ev.userMachineAdded, { userName: "svc", name: "S" }), e(ev.userHumanEmailChanged, { email: "x@y" }));
    expect(await user(id)).toMatchObject({ email: null, sequence: 1 });
  });

  it("a redelivered or duplicated event changes nothing", async () => {
    const { id, e } = fresh();
    const added = e(ev.userHumanAdded, human);
    const locked = e(ev.userLocked, {});
    const removedAt = await spec.given(added, locked);
    expect(removedAt.applied).toBe(2);
    const before = await user(id);
    const again = await spec.given(added, locked, added);
    expect(again).toMatchObject({ applied: 0, duplicates: 3 });
    expect(await user(id)).toEqual(before);
  });

  it("a duplicate of the creating event after user.removed does not resurrect the user", async () => {
    const { id, e } = fresh();
    const added = e(ev.userHumanAdded, human);
    await spec.given(added, e(ev.userRemoved, {}));
    await spec.given(added);
    expect(await user(id)).toBeUndefined();
  });
});

describe("login names", () => {
  const loginNames = async (instance: string, userId: string) =>
    (await spec.pool.query("SELECT login_name, is_primary FROM login_names WHERE instance_id = $1 AND user_id = $2 ORDER BY login_name", [instance, userId]))
      .rows;

  it("are the username without a must-be-domain policy, user@domain per verified domain with one", async () => {
    const inst = aggregate("ln1", "ln1", "ln1");
    const org = aggregate("ln1", "org-a", "org-a");
    const u = aggregate("ln1", "ua", "org-a");
    await spec.given(inst(ev.instanceDomainPolicyAdded, { userLoginMustBeDomain: false }), u(ev.userHumanAdded, human));
    expect(await loginNames("ln1", "ua")).toEqual([{ login_name: "ada", is_primary: true }]);

    await spec.given(
      org(ev.orgDomainVerified, { domain: "a.com" }),
      org(ev.orgDomainVerified, { domain: "b.com" }),
      org(ev.orgDomainPrimarySet, { domain: "b.com" }),
      org(ev.orgDomainPolicyAdded, { userLoginMustBeDomain: true }),
    );
    expect(await loginNames("ln1", "ua")).toEqual([
      { login_name: "ada@a.com", is_primary: false },
      { login_name: "ada@b.com", is_primary: true },
    ]);

    await spec.given(org(ev.orgDomainRemoved, { domain: "b.com" }));
    expect(await loginNames("ln1", "ua")).toEqual([{ login_name: "ada@a.com", is_primary: false }]);

    await spec.given(org(ev.orgDomainPolicyChanged, { userLoginMustBeDomain: false }));
    expect(await loginNames("ln1", "ua")).toEqual([{ login_name: "ada", is_primary: true }]);

    // Without the org's own policy the instance default applies.
    await spec.given(org(ev.orgDomainPolicyRemoved, {}), inst(ev.instanceDomainPolicyChanged, { userLoginMustBeDomain: true }));
    expect(await loginNames("ln1", "ua")).toEqual([{ login_name: "ada@a.com", is_primary: false }]);
  });
});

describe("cascades", () => {
  it("org.removed deletes the org's users, domains and policy, and nothing of other orgs", async () => {
    const a = aggregate("c1", "ua1", "org-x");
    const b = aggregate("c1", "ub1", "org-y");
    const org = aggregate("c1", "org-x", "org-x");
    await spec.given(
      a(ev.userHumanAdded, human),
      b(ev.userHumanAdded, human),
      org(ev.orgDomainVerified, { domain: "x.com" }),
      org(ev.orgDomainPolicyAdded, { userLoginMustBeDomain: true }),
    );
    await spec.given(org(ev.orgRemoved, {}));
    const rows = (await spec.pool.query("SELECT id FROM users WHERE instance_id = 'c1' ORDER BY id")).rows;
    expect(rows).toEqual([{ id: "ub1" }]);
    expect((await spec.pool.query("SELECT * FROM org_domains WHERE instance_id = 'c1'")).rows).toEqual([]);
    expect((await spec.pool.query("SELECT * FROM domain_policies WHERE instance_id = 'c1'")).rows).toEqual([]);
  });

  it("instance.removed deletes every row of that instance only", async () => {
    const a = aggregate("c2", "u1", "o");
    const other = aggregate("c3", "u1", "o");
    const inst = aggregate("c2", "c2", "c2");
    await spec.given(a(ev.userHumanAdded, human), other(ev.userHumanAdded, human), inst(ev.instanceDomainPolicyAdded, { userLoginMustBeDomain: false }));
    await spec.given(inst(ev.instanceRemoved, {}));
    expect((await spec.pool.query("SELECT instance_id FROM users WHERE instance_id IN ('c2', 'c3')")).rows).toEqual([{ instance_id: "c3" }]);
    expect((await spec.pool.query("SELECT * FROM domain_policies WHERE instance_id = 'c2'")).rows).toEqual([]);
  });

  it("effects keep stream order around a set-based cascade inside one batch", async () => {
    const org = aggregate("c4", "org-z", "org-z");
    const before = aggregate("c4", "before", "org-z");
    const other = aggregate("c4", "other", "org-w");
    await spec.given(
      before(ev.userHumanAdded, human),
      other(ev.userHumanAdded, human),
      org(ev.orgRemoved, {}),
      before(ev.userHumanEmailChanged, { email: "late@x" }), // after the cascade: must not resurrect the row
      other(ev.userLocked, {}), // after the cascade: must apply
    );
    expect((await spec.pool.query("SELECT id, state FROM users WHERE instance_id = 'c4'")).rows).toEqual([{ id: "other", state: UserState.locked }]);
  });
});

describe("multi-topic convergence (tombstones)", () => {
  it("an org removal applied before a late add of its user or domain leaves no stale row", async () => {
    const org = aggregate("mt1", "org-late", "org-late");
    const u = aggregate("mt1", "late-user", "org-late");
    await spec.given(org(ev.orgRemoved, {}));
    await spec.given(u(ev.userHumanAdded, human), org(ev.orgDomainVerified, { domain: "late.com" }));
    expect((await spec.pool.query("SELECT id FROM users WHERE instance_id = 'mt1'")).rows).toEqual([]);
    expect((await spec.pool.query("SELECT * FROM org_domains WHERE instance_id = 'mt1'")).rows).toEqual([]);
  });

  it("an instance removal applied before a late add leaves no stale row", async () => {
    const inst = aggregate("mt2", "mt2", "mt2");
    const m = aggregate("mt2", "late-machine", "o");
    await spec.given(inst(ev.instanceRemoved, {}));
    await spec.given(m(ev.userMachineAdded, { userName: "svc", name: "S" }), inst(ev.instanceDomainPolicyAdded, { userLoginMustBeDomain: true }));
    expect((await spec.pool.query("SELECT id FROM users WHERE instance_id = 'mt2'")).rows).toEqual([]);
    expect((await spec.pool.query("SELECT * FROM domain_policies WHERE instance_id = 'mt2'")).rows).toEqual([]);
  });
});
