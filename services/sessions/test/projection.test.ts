// Projection specs: given session and user events, then the expected rows, against real PostgreSQL.
import * as ev from "@idp/events";
import { preferredLoginNameSql } from "@idp/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { type ProjectionSpec, projectionSpec } from "../../../test/support/projection-spec.ts";
import { SessionState, sessionsService } from "../src/index.ts";

let spec: ProjectionSpec;
beforeAll(async () => {
  spec = await projectionSpec(sessionsService);
});
afterAll(async () => spec?.close());

let n = 0;
/** A fresh session id per test (sessions are owned by the instance), so tests share one schema. */
const freshSession = (instance = "i1") => {
  const id = `s${++n}`;
  return { id, s: aggregate(instance, id, instance) };
};
const freshUser = (instance = "i1", org = "o1") => {
  const id = `u${++n}`;
  return { id, u: aggregate(instance, id, org) };
};
const T0 = Date.parse("2026-03-01T10:00:00Z");
const at = (seconds: number) => new Date(T0 + seconds * 1000);

const session = async (id: string, instance = "i1") =>
  (await spec.pool.query("SELECT * FROM sessions WHERE instance_id = $1 AND id = $2", [instance, id])).rows[0];
const lookup = async (id: string, instance = "i1") =>
  (await spec.pool.query("SELECT * FROM session_users WHERE instance_id = $1 AND user_id = $2", [instance, id])).rows[0];

const human = {
  userName: "ada",
  firstName: "Ada",
  lastName: "Lovelace",
  displayName: "Ada L",
  email: "ada@example.com",
  changeRequired: false,
};

/** A session whose user check names `userId` (events of sequences 1 and 2). */
const withUser = (s: ReturnType<typeof aggregate>, userId: string, checkedAt = T0) => [
  s(ev.sessionAdded, {}),
  s(ev.sessionUserChecked, { userID: userId, userResourceOwner: "o1", checkedAt }),
];

describe("sessions projection", () => {
  it("session.added inserts an active session of the instance with its creator and user agent", async () => {
    const { id, s } = freshSession();
    await spec.given({
      ...s(ev.sessionAdded, { user_agent: { fingerprint_id: "fp-1", ip: "192.0.2.7", description: "Firefox", header: { "accept-language": ["en", "de"] } } }),
      creator: "admin-1",
    });
    expect(await session(id)).toMatchObject({
      instance_id: "i1",
      id,
      resource_owner: "i1",
      creation_date: at(1),
      change_date: at(1),
      sequence: 1,
      state: SessionState.active,
      creator: "admin-1",
      user_id: null,
      user_agent_fingerprint_id: "fp-1",
      user_agent_ip: "192.0.2.7",
      user_agent_description: "Firefox",
      user_agent_header: { "accept-language": ["en", "de"] },
      token_id: null,
      metadata: null,
      expiration: null,
    });
  });

  it("session.added without a user agent leaves the user-agent columns empty", async () => {
    const { id, s } = freshSession();
    await spec.given(s(ev.sessionAdded, { user_agent: { fingerprint_id: "", ip: null } }));
    expect(await session(id)).toMatchObject({ user_agent_fingerprint_id: null, user_agent_ip: null, user_agent_description: null, user_agent_header: null });
  });

  it("session.user.checked sets the user, its org and the check time, and stamps change date and sequence", async () => {
    const { id, s } = freshSession();
    await spec.given(...withUser(s, "u-checked", Date.parse("2026-03-01T09:59:59.5Z")));
    expect(await session(id)).toMatchObject({
      user_id: "u-checked",
      user_resource_owner: "o1",
      user_checked_at: new Date("2026-03-01T09:59:59.5Z"),
      sequence: 2,
      change_date: at(2),
      creation_date: at(1),
    });
  });

  it.each([
    [ev.sessionPasswordChecked, "password_checked_at"],
    [ev.sessionIntentChecked, "intent_checked_at"],
    [ev.sessionTotpChecked, "totp_checked_at"],
    [ev.sessionOtpSmsChecked, "otp_sms_checked_at"],
    [ev.sessionOtpEmailChecked, "otp_email_checked_at"],
    [ev.sessionRecoveryCodeChecked, "mfa_recovery_code_checked_at"],
  ] as const)("%s sets %s only", async (definition, column) => {
    const { id, s } = freshSession();
    await spec.given(s(ev.sessionAdded, {}), s(definition as typeof ev.sessionPasswordChecked, { checkedAt: T0 + 1500 }));
    const row = await session(id);
    expect(row[column]).toEqual(new Date(T0 + 1500));
    expect(row).toMatchObject({ sequence: 2, change_date: at(2) });
    const others = Object.keys(row).filter((k) => k.endsWith("_checked_at") && k !== column);
    expect(others.map((k) => row[k])).toEqual(others.map(() => null));
  });

  it("session.webAuthN.checked sets the check time and whether the user was verified", async () => {
    const a = freshSession();
    const b = freshSession();
    await spec.given(
      a.s(ev.sessionAdded, {}),
      a.s(ev.sessionWebAuthNChecked, { checkedAt: T0, userVerified: true }),
      b.s(ev.sessionAdded, {}),
      b.s(ev.sessionWebAuthNChecked, { checkedAt: T0 }),
    );
    expect(await session(a.id)).toMatchObject({ webauthn_checked_at: new Date(T0), webauthn_user_verified: true });
    expect(await session(b.id)).toMatchObject({ webauthn_checked_at: new Date(T0), webauthn_user_verified: false });
  });

  it("session.token.set stores the token id (the token itself is not in the stream)", async () => {
    const { id, s } = freshSession();
    await spec.given(s(ev.sessionAdded, {}), s(ev.sessionTokenSet, { tokenID: "tok-1" }));
    await spec.given(s(ev.sessionTokenSet, { tokenID: "tok-2" }));
    expect(await session(id)).toMatchObject({ token_id: "tok-2", sequence: 3 });
  });

  it("session.metadata.set replaces the whole map; values are kept as base64", async () => {
    const { id, s } = freshSession();
    await spec.given(s(ev.sessionAdded, {}), s(ev.sessionMetadataSet, { metadata: { a: Buffer.from("1"), b: Buffer.from("two") } }));
    expect((await session(id)).metadata).toEqual({ a: "MQ==", b: "dHdv" });
    await spec.given(s(ev.sessionMetadataSet, { metadata: { b: Buffer.from([0xff, 0x00]) } }));
    expect((await session(id)).metadata).toEqual({ b: "/wA=" });
  });

  it("session.lifetime.set sets the expiration to the event time plus the lifetime (nanoseconds)", async () => {
    const { id, s } = freshSession();
    await spec.given(s(ev.sessionAdded, {}), s(ev.sessionLifetimeSet, { lifetime: 3600 * 1e9 }));
    expect(await session(id)).toMatchObject({ expiration: new Date(at(2).getTime() + 3_600_000), sequence: 2 });
    // A later change counts from its own time.
    await spec.given(s(ev.sessionLifetimeSet, { lifetime: 60 * 1e9 }));
    expect(await session(id)).toMatchObject({ expiration: new Date(at(3).getTime() + 60_000) });
  });

  it("session.terminated deletes the session", async () => {
    const { id, s } = freshSession();
    await spec.given(...withUser(s, "u-term"));
    await spec.given(s(ev.sessionTerminated, { triggerOrigin: "https://login" }));
    expect(await session(id)).toBeUndefined();
  });

  it("events of an unknown session create nothing", async () => {
    const { id, s } = freshSession();
    await spec.given(s(ev.sessionUserChecked, { userID: "u", userResourceOwner: "o1", checkedAt: T0 }), s(ev.sessionTokenSet, { tokenID: "t" }));
    expect(await session(id)).toBeUndefined();
  });
});

describe("cascades from the user aggregate", () => {
  it.each([
    ["user.removed", ev.userRemoved],
    ["user.locked", ev.userLocked],
    ["user.deactivated", ev.userDeactivated],
  ] as const)("%s deletes the user's sessions and no one else's", async (_name, definition) => {
    const { id: userId, u } = freshUser();
    const mine1 = freshSession();
    const mine2 = freshSession();
    const other = freshSession();
    const unchecked = freshSession();
    await spec.given(
      u(ev.userHumanAdded, human),
      ...withUser(mine1.s, userId),
      ...withUser(mine2.s, userId),
      ...withUser(other.s, "someone-else"),
      unchecked.s(ev.sessionAdded, {}),
    );
    await spec.given(u(definition, {}));
    expect(await session(mine1.id)).toBeUndefined();
    expect(await session(mine2.id)).toBeUndefined();
    expect(await session(other.id)).toMatchObject({ user_id: "someone-else" });
    expect(await session(unchecked.id)).toBeDefined();
  });

  it("a password change clears password checks made before it, not later ones nor other users'", async () => {
    const { id: userId, u } = freshUser();
    const before = freshSession();
    const after = freshSession();
    const other = freshSession();
    await spec.given(u(ev.userHumanAdded, human)); // user event at T0+1s
    await spec.given(
      ...withUser(before.s, userId),
      before.s(ev.sessionPasswordChecked, { checkedAt: T0 + 1000 }),
      ...withUser(after.s, userId),
      after.s(ev.sessionPasswordChecked, { checkedAt: T0 + 5000 }),
      ...withUser(other.s, "other-user"),
      other.s(ev.sessionPasswordChecked, { checkedAt: T0 + 1000 }),
    );
    await spec.given(u(ev.userHumanPasswordChanged, { changeRequired: false })); // at T0+2s
    expect(await session(before.id)).toMatchObject({ password_checked_at: null, sequence: 3, change_date: at(3) });
    expect(await session(after.id)).toMatchObject({ password_checked_at: new Date(T0 + 5000) });
    expect(await session(other.id)).toMatchObject({ password_checked_at: new Date(T0 + 1000) });
  });

  it("instance.removed deletes every session and user of that instance only", async () => {
    const inst = aggregate("i-gone", "i-gone", "i-gone");
    const gone = freshSession("i-gone");
    const goneUser = freshUser("i-gone");
    const kept = freshSession("i-kept");
    const keptUser = freshUser("i-kept");
    await spec.given(gone.s(ev.sessionAdded, {}), goneUser.u(ev.userHumanAdded, human), kept.s(ev.sessionAdded, {}), keptUser.u(ev.userHumanAdded, human));
    await spec.given(inst(ev.instanceRemoved, {}));
    expect(await session(gone.id, "i-gone")).toBeUndefined();
    expect(await lookup(goneUser.id, "i-gone")).toBeUndefined();
    expect(await session(kept.id, "i-kept")).toBeDefined();
    expect(await lookup(keptUser.id, "i-kept")).toBeDefined();
  });
});

describe("user lookup (names shown with sessions)", () => {
  it("human added, self-registered and machine added record username, display name and org", async () => {
    const a = freshUser("i1", "org-a");
    const b = freshUser();
    const m = freshUser();
    await spec.given(
      a.u(ev.userHumanAdded, human),
      b.u(ev.userHumanSelfRegistered, { ...human, userName: "self", displayName: "" }),
      m.u(ev.userMachineAdded, { userName: "svc", name: "Service" }),
    );
    expect(await lookup(a.id)).toMatchObject({ username: "ada", display_name: "Ada L", resource_owner: "org-a", sequence: 1 });
    expect(await lookup(b.id)).toMatchObject({ username: "self", display_name: null });
    expect(await lookup(m.id)).toMatchObject({ username: "svc", display_name: null });
  });

  it("username changed, domain claimed and profile changed update the names; absent display name keeps it", async () => {
    const { id, u } = freshUser();
    await spec.given(u(ev.userHumanAdded, human), u(ev.userUsernameChanged, { userName: "ada2" }));
    expect(await lookup(id)).toMatchObject({ username: "ada2", sequence: 2 });
    await spec.given(u(ev.userDomainClaimed, { userName: "ada-claimed" }), u(ev.userHumanProfileChanged, { firstName: "A" }));
    expect(await lookup(id)).toMatchObject({ username: "ada-claimed", display_name: "Ada L", sequence: 3 });
    await spec.given(u(ev.userHumanProfileChanged, { displayName: "Countess" }));
    expect(await lookup(id)).toMatchObject({ display_name: "Countess", sequence: 5, change_date: at(5) });
  });

  it("user.removed removes the user from the lookup", async () => {
    const { id, u } = freshUser();
    await spec.given(u(ev.userMachineAdded, { userName: "svc", name: "S" }));
    await spec.given(u(ev.userRemoved, {}));
    expect(await lookup(id)).toBeUndefined();
  });

  it("org.removed removes the org's users from the lookup but keeps sessions (they belong to the instance)", async () => {
    const org = aggregate("i-org", "org-x", "org-x");
    const x = freshUser("i-org", "org-x");
    const y = freshUser("i-org", "org-y");
    const s = freshSession("i-org");
    await spec.given(x.u(ev.userHumanAdded, human), y.u(ev.userHumanAdded, human), ...withUser(s.s, x.id));
    await spec.given(org(ev.orgRemoved, {}));
    expect(await lookup(x.id, "i-org")).toBeUndefined();
    expect(await lookup(y.id, "i-org")).toBeDefined();
    expect(await session(s.id, "i-org")).toMatchObject({ user_id: x.id });
  });
});

describe("multi-topic convergence (tombstones)", () => {
  it("an instance removal applied before a late session or user add leaves no stale row", async () => {
    const inst = aggregate("mt-i", "mt-i", "mt-i");
    const s = freshSession("mt-i");
    const u = freshUser("mt-i");
    await spec.given(inst(ev.instanceRemoved, {}));
    await spec.given(s.s(ev.sessionAdded, {}), s.s(ev.sessionTokenSet, { tokenID: "t" }), u.u(ev.userHumanAdded, human));
    expect((await spec.pool.query("SELECT id FROM sessions WHERE instance_id = 'mt-i'")).rows).toEqual([]);
    expect((await spec.pool.query("SELECT user_id FROM session_users WHERE instance_id = 'mt-i'")).rows).toEqual([]);
  });

  it("a user removal applied before a late user check of one of its sessions deletes that session", async () => {
    const { id: userId, u } = freshUser("mt-u");
    const s = freshSession("mt-u");
    const other = freshSession("mt-u");
    await spec.given(u(ev.userHumanAdded, human), s.s(ev.sessionAdded, {}), other.s(ev.sessionAdded, {}));
    await spec.given(u(ev.userRemoved, {}));
    await spec.given(
      s.s(ev.sessionUserChecked, { userID: userId, userResourceOwner: "o1", checkedAt: T0 }),
      s.s(ev.sessionPasswordChecked, { checkedAt: T0 }),
      other.s(ev.sessionUserChecked, { userID: "alive", userResourceOwner: "o1", checkedAt: T0 }),
    );
    expect(await session(s.id, "mt-u")).toBeUndefined();
    expect(await session(other.id, "mt-u")).toMatchObject({ user_id: "alive" });
  });

  it("an org removal applied before a late add of its user leaves no lookup row", async () => {
    const org = aggregate("mt-o", "org-late", "org-late");
    const u = freshUser("mt-o", "org-late");
    await spec.given(org(ev.orgRemoved, {}));
    await spec.given(u.u(ev.userMachineAdded, { userName: "svc", name: "S" }));
    expect(await lookup(u.id, "mt-o")).toBeUndefined();
  });
});

describe("preferred login name (session_users + org domains + domain policies, joined at query time)", () => {
  const preferred = async (userId: string, instance: string) =>
    (
      await spec.pool.query(`SELECT ${preferredLoginNameSql("su")} AS name FROM session_users su WHERE su.instance_id = $1 AND su.user_id = $2`, [
        instance,
        userId,
      ])
    ).rows[0]?.name;
  const rowsOf = async (table: string, instance: string) =>
    (await spec.pool.query(`SELECT * FROM ${table} WHERE instance_id = $1 ORDER BY 2`, [instance])).rows;

  it("follows the username, the org's verified and primary domains and the org policy, else the instance default", async () => {
    const inst = "ln-1";
    const { id: userId, u } = freshUser(inst, "ln-org");
    const org = aggregate(inst, "ln-org", "ln-org");
    const instance = aggregate(inst, inst, inst);
    await spec.given(u(ev.userHumanAdded, human));
    // No policy at all: the bare username.
    expect(await preferred(userId, inst)).toBe("ada");
    await spec.given(org(ev.orgDomainPolicyAdded, { userLoginMustBeDomain: true }));
    // Must be a domain, but the org has no verified primary domain yet.
    expect(await preferred(userId, inst)).toBeNull();
    await spec.given(org(ev.orgDomainVerified, { domain: "a.example" }));
    expect(await preferred(userId, inst)).toBeNull();
    await spec.given(org(ev.orgDomainPrimarySet, { domain: "a.example" }));
    expect(await preferred(userId, inst)).toBe("ada@a.example");
    await spec.given(
      org(ev.orgDomainVerified, { domain: "b.example" }),
      org(ev.orgDomainPrimarySet, { domain: "b.example" }),
      u(ev.userUsernameChanged, { userName: "ada2" }),
    );
    expect(await preferred(userId, inst)).toBe("ada2@b.example");
    expect(await rowsOf("org_domains", inst)).toEqual([
      expect.objectContaining({ org_id: "ln-org", resource_owner: "ln-org", domains: ["a.example", "b.example"], primary_domain: "b.example", sequence: 5 }),
    ]);
    // Removing the primary domain leaves no primary: no preferred login name until one is set.
    await spec.given(org(ev.orgDomainRemoved, { domain: "b.example" }));
    expect(await preferred(userId, inst)).toBeNull();
    await spec.given(org(ev.orgDomainPrimarySet, { domain: "a.example" }), u(ev.userDomainClaimed, { userName: "ada3" }));
    expect(await preferred(userId, inst)).toBe("ada3@a.example");
    await spec.given(org(ev.orgDomainPolicyChanged, { userLoginMustBeDomain: false }));
    expect(await preferred(userId, inst)).toBe("ada3");
    // A change without the flag changes nothing.
    await spec.given(org(ev.orgDomainPolicyChanged, { validateOrgDomains: true }));
    expect(await rowsOf("domain_policies", inst)).toEqual([
      expect.objectContaining({ owner_id: "ln-org", must_be_domain: false, is_default: false, sequence: 8 }),
    ]);
    // Without an org policy the instance default decides.
    await spec.given(org(ev.orgDomainPolicyRemoved, {}), instance(ev.instanceDomainPolicyAdded, { userLoginMustBeDomain: true }));
    expect(await preferred(userId, inst)).toBe("ada3@a.example");
    expect(await rowsOf("domain_policies", inst)).toEqual([
      expect.objectContaining({ owner_id: inst, resource_owner: inst, must_be_domain: true, is_default: true }),
    ]);
    await spec.given(instance(ev.instanceDomainPolicyChanged, { userLoginMustBeDomain: false }));
    expect(await preferred(userId, inst)).toBe("ada3");
    // An org policy overrides the instance default.
    await spec.given(org(ev.orgDomainPolicyAdded, { userLoginMustBeDomain: true }));
    expect(await preferred(userId, inst)).toBe("ada3@a.example");
  });

  it("the org's removal drops its domains and policy (and users); the instance default stays; the user's removal drops its name", async () => {
    const inst = "ln-2";
    const a = freshUser(inst, "ln-org-a");
    const b = freshUser(inst, "ln-org-b");
    const orgA = aggregate(inst, "ln-org-a", "ln-org-a");
    const orgB = aggregate(inst, "ln-org-b", "ln-org-b");
    await spec.given(
      a.u(ev.userHumanAdded, human),
      b.u(ev.userMachineAdded, { userName: "svc", name: "S" }),
      aggregate(inst, inst, inst)(ev.instanceDomainPolicyAdded, { userLoginMustBeDomain: true }),
      orgA(ev.orgDomainVerified, { domain: "a.example" }),
      orgA(ev.orgDomainPrimarySet, { domain: "a.example" }),
      orgA(ev.orgDomainPolicyAdded, { userLoginMustBeDomain: true }),
      orgB(ev.orgDomainVerified, { domain: "b.example" }),
      orgB(ev.orgDomainPrimarySet, { domain: "b.example" }),
    );
    expect(await preferred(a.id, inst)).toBe("ada@a.example");
    expect(await preferred(b.id, inst)).toBe("svc@b.example");
    await spec.given(orgA(ev.orgRemoved, {}), b.u(ev.userRemoved, {}));
    expect((await rowsOf("org_domains", inst)).map((r) => r.org_id)).toEqual(["ln-org-b"]);
    expect((await rowsOf("domain_policies", inst)).map((r) => r.owner_id)).toEqual([inst]);
    expect(await preferred(a.id, inst)).toBeUndefined();
    expect(await preferred(b.id, inst)).toBeUndefined();
    // A late domain event of the removed org creates nothing.
    await spec.given(orgA(ev.orgDomainVerified, { domain: "late.example" }), orgA(ev.orgDomainPolicyAdded, { userLoginMustBeDomain: false }));
    expect((await rowsOf("org_domains", inst)).map((r) => r.org_id)).toEqual(["ln-org-b"]);
    expect((await rowsOf("domain_policies", inst)).map((r) => r.owner_id)).toEqual([inst]);
  });
});
