// Projection specs: given lockout policy, org and instance events, then the expected rows, against real PostgreSQL.
import * as ev from "@idp/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { type ProjectionSpec, projectionSpec } from "../../../test/support/projection-spec.ts";
import { lockoutPoliciesService, PolicyState } from "../src/index.ts";

let spec: ProjectionSpec;
beforeAll(async () => {
  spec = await projectionSpec(lockoutPoliciesService);
});
afterAll(async () => spec?.close());

let n = 0;
/** A fresh instance (with its instance aggregate) and org per test, so tests share one schema. */
const fresh = () => {
  const inst = `i${++n}`;
  return {
    inst,
    org: (id = "o1") => aggregate(inst, id, id),
    instance: aggregate(inst, inst, inst),
  };
};
const policy = async (inst: string, id: string) =>
  (await spec.pool.query("SELECT * FROM lockout_policies WHERE instance_id = $1 AND id = $2", [inst, id])).rows[0];
const ids = async (inst: string) => (await spec.pool.query("SELECT id FROM lockout_policies WHERE instance_id = $1 ORDER BY id", [inst])).rows.map((r) => r.id);

describe("lockout policies projection", () => {
  it("instance.policy.lockout.added inserts the instance default (id = instance id)", async () => {
    const { inst, instance } = fresh();
    await spec.given(instance(ev.instanceLockoutPolicyAdded, { maxPasswordAttempts: 5, maxOTPAttempts: 3, showLockOutFailures: true }));
    expect(await policy(inst, inst)).toEqual({
      instance_id: inst,
      id: inst,
      resource_owner: inst,
      creation_date: new Date("2026-03-01T10:00:01Z"),
      change_date: new Date("2026-03-01T10:00:01Z"),
      sequence: 1,
      state: PolicyState.active,
      is_default: true,
      max_password_attempts: 5,
      max_otp_attempts: 3,
      show_lockout_failures: true,
    });
  });

  it("org.policy.lockout.added inserts the org's policy (id = org id, not default); an absent maxOTPAttempts is 0", async () => {
    const { inst, org } = fresh();
    await spec.given(org("org-a")(ev.orgLockoutPolicyAdded, { maxPasswordAttempts: 10, showLockOutFailures: false }));
    expect(await policy(inst, "org-a")).toMatchObject({
      resource_owner: "org-a",
      is_default: false,
      state: PolicyState.active,
      max_password_attempts: 10,
      max_otp_attempts: 0,
      show_lockout_failures: false,
      sequence: 1,
    });
  });

  it("a second add for the same owner keeps the first policy", async () => {
    const { inst, org } = fresh();
    const o = org();
    await spec.given(
      o(ev.orgLockoutPolicyAdded, { maxPasswordAttempts: 1, showLockOutFailures: false }),
      o(ev.orgLockoutPolicyAdded, { maxPasswordAttempts: 2, showLockOutFailures: true }),
    );
    expect(await policy(inst, "o1")).toMatchObject({ max_password_attempts: 1, show_lockout_failures: false, sequence: 1 });
  });

  it("org.policy.lockout.changed updates only the fields present, and stamps change date and sequence", async () => {
    const { inst, org } = fresh();
    const o = org();
    await spec.given(o(ev.orgLockoutPolicyAdded, { maxPasswordAttempts: 3, maxOTPAttempts: 4, showLockOutFailures: false }));
    await spec.given(o(ev.orgLockoutPolicyChanged, { maxOTPAttempts: 9 }));
    expect(await policy(inst, "o1")).toMatchObject({
      max_password_attempts: 3,
      max_otp_attempts: 9,
      show_lockout_failures: false,
      sequence: 2,
      change_date: new Date("2026-03-01T10:00:02Z"),
      creation_date: new Date("2026-03-01T10:00:01Z"),
    });
    await spec.given(o(ev.orgLockoutPolicyChanged, { maxPasswordAttempts: 0, showLockOutFailures: true }));
    expect(await policy(inst, "o1")).toMatchObject({ max_password_attempts: 0, max_otp_attempts: 9, show_lockout_failures: true, sequence: 3 });
  });

  it("instance.policy.lockout.changed updates the default", async () => {
    const { inst, instance } = fresh();
    await spec.given(
      instance(ev.instanceLockoutPolicyAdded, { maxPasswordAttempts: 5, showLockOutFailures: true }),
      instance(ev.instanceLockoutPolicyChanged, { maxPasswordAttempts: 7 }),
    );
    expect(await policy(inst, inst)).toMatchObject({
      is_default: true,
      max_password_attempts: 7,
      max_otp_attempts: 0,
      show_lockout_failures: true,
      sequence: 2,
    });
  });

  it("a change of a policy that does not exist adds nothing", async () => {
    const { inst, org, instance } = fresh();
    await spec.given(org()(ev.orgLockoutPolicyChanged, { maxPasswordAttempts: 2 }), instance(ev.instanceLockoutPolicyChanged, { maxOTPAttempts: 2 }));
    expect(await ids(inst)).toEqual([]);
  });

  it("org.policy.lockout.removed deletes the org's policy only (the org falls back to the default)", async () => {
    const { inst, org, instance } = fresh();
    const a = org("org-a");
    await spec.given(
      instance(ev.instanceLockoutPolicyAdded, { maxPasswordAttempts: 5, showLockOutFailures: true }),
      a(ev.orgLockoutPolicyAdded, { maxPasswordAttempts: 1, showLockOutFailures: false }),
      org("org-b")(ev.orgLockoutPolicyAdded, { maxPasswordAttempts: 2, showLockOutFailures: false }),
    );
    await spec.given(a(ev.orgLockoutPolicyRemoved, {}));
    expect(await ids(inst)).toEqual([inst, "org-b"].sort());
    // A new policy after the removal is added again.
    await spec.given(a(ev.orgLockoutPolicyAdded, { maxPasswordAttempts: 8, showLockOutFailures: true }));
    expect(await policy(inst, "org-a")).toMatchObject({ max_password_attempts: 8, sequence: 3 });
  });

  it("org.removed deletes the org's policy, not other orgs' nor the default", async () => {
    const { inst, org, instance } = fresh();
    const a = org("org-a");
    await spec.given(
      instance(ev.instanceLockoutPolicyAdded, { maxPasswordAttempts: 5, showLockOutFailures: true }),
      a(ev.orgLockoutPolicyAdded, { maxPasswordAttempts: 1, showLockOutFailures: false }),
      org("org-b")(ev.orgLockoutPolicyAdded, { maxPasswordAttempts: 2, showLockOutFailures: false }),
    );
    await spec.given(a(ev.orgRemoved, {}));
    expect(await ids(inst)).toEqual([inst, "org-b"].sort());
  });

  it("instance.removed deletes every policy of that instance only", async () => {
    const gone = fresh();
    const stays = fresh();
    for (const x of [gone, stays]) {
      await spec.given(
        x.instance(ev.instanceLockoutPolicyAdded, { maxPasswordAttempts: 5, showLockOutFailures: true }),
        x.org()(ev.orgLockoutPolicyAdded, { maxPasswordAttempts: 1, showLockOutFailures: false }),
      );
    }
    await spec.given(gone.instance(ev.instanceRemoved, {}));
    expect(await ids(gone.inst)).toEqual([]);
    expect(await ids(stays.inst)).toEqual([stays.inst, "o1"].sort());
  });
});

describe("multi-topic convergence (tombstones)", () => {
  it("an instance removal applied before a late add of the default or of an org policy leaves no policy", async () => {
    const { inst, org } = fresh();
    // The instance's own events share one aggregate: the late default is a later sequence of it.
    const instance = aggregate(inst, inst, inst);
    await spec.given(instance(ev.instanceRemoved, {}));
    await spec.given(instance(ev.instanceLockoutPolicyAdded, { maxPasswordAttempts: 5, showLockOutFailures: true }));
    await spec.given(org()(ev.orgLockoutPolicyAdded, { maxPasswordAttempts: 1, showLockOutFailures: false }));
    expect(await ids(inst)).toEqual([]);
  });

  it("an org removal applied before a late add of its policy (same batch) leaves no policy; other orgs are unaffected", async () => {
    const { inst, org } = fresh();
    const a = org("org-a");
    await spec.given(
      a(ev.orgRemoved, {}),
      a(ev.orgLockoutPolicyAdded, { maxPasswordAttempts: 1, showLockOutFailures: false }),
      org("org-b")(ev.orgLockoutPolicyAdded, { maxPasswordAttempts: 2, showLockOutFailures: false }),
    );
    expect(await ids(inst)).toEqual(["org-b"]);
  });
});
