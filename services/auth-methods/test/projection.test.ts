// Projection specs: given user auth-method events, then the expected rows, against real PostgreSQL.
import * as ev from "@idp/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { type ProjectionSpec, projectionSpec } from "../../../test/support/projection-spec.ts";
import { authMethodsService, MethodState, MethodType } from "../src/index.ts";

let spec: ProjectionSpec;
beforeAll(async () => {
  spec = await projectionSpec(authMethodsService);
});
afterAll(async () => spec?.close());

let n = 0;
/** A fresh user id per test, so tests share one schema without interfering. */
const fresh = (instance = "i1", org = "o1") => {
  const id = `u${++n}`;
  return { id, u: aggregate(instance, id, org) };
};
const T0 = Date.parse("2026-03-01T10:00:00Z");
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const human = { userName: "ada", firstName: "Ada", lastName: "L", email: "a@x.com", changeRequired: false };

const methods = async (userId: string, instance = "i1") =>
  (await spec.pool.query("SELECT * FROM user_auth_methods WHERE instance_id = $1 AND user_id = $2 ORDER BY method_type, token_id", [instance, userId])).rows;
const lookup = async (userId: string, instance = "i1") =>
  (await spec.pool.query("SELECT * FROM auth_method_users WHERE instance_id = $1 AND user_id = $2", [instance, userId])).rows[0];

describe("auth methods projection", () => {
  it.each([
    ["passwordless", ev.userHumanPasswordlessTokenAdded, ev.userHumanPasswordlessTokenVerified, MethodType.passwordless],
    ["u2f", ev.userHumanU2fTokenAdded, ev.userHumanU2fTokenVerified, MethodType.u2f],
  ] as const)("%s token added (not ready, rp id) then verified (ready, name)", async (_name, added, verified, type) => {
    const { id, u } = fresh();
    await spec.given(u(added, { webAuthNTokenId: "tok-1", rpID: "login.example.com" }));
    expect(await methods(id)).toEqual([
      {
        instance_id: "i1",
        user_id: id,
        method_type: type,
        token_id: "tok-1",
        resource_owner: "o1",
        creation_date: at(1),
        change_date: at(1),
        sequence: 1,
        state: MethodState.notReady,
        name: "",
        domain: "login.example.com",
      },
    ]);
    await spec.given(u(verified, { webAuthNTokenId: "tok-1", webAuthNTokenName: "YubiKey", publicKey: Buffer.from("pk"), signCount: 1 }));
    expect(await methods(id)).toMatchObject([{ state: MethodState.ready, name: "YubiKey", sequence: 2, change_date: at(2), creation_date: at(1) }]);
  });

  it("several WebAuthn tokens of one user are separate rows; verify and remove address one token", async () => {
    const { id, u } = fresh();
    await spec.given(
      u(ev.userHumanU2fTokenAdded, { webAuthNTokenId: "a", rpID: null }),
      u(ev.userHumanU2fTokenAdded, { webAuthNTokenId: "b" }),
      u(ev.userHumanPasswordlessTokenAdded, { webAuthNTokenId: "a" }),
      u(ev.userHumanU2fTokenVerified, { webAuthNTokenId: "b", webAuthNTokenName: "B" }),
      u(ev.userHumanU2fTokenRemoved, { webAuthNTokenId: "a" }),
    );
    expect((await methods(id)).map((r) => [r.method_type, r.token_id, r.state, r.name, r.domain])).toEqual([
      [MethodType.u2f, "b", MethodState.ready, "B", null],
      [MethodType.passwordless, "a", MethodState.notReady, "", null],
    ]);
    await spec.given(u(ev.userHumanPasswordlessTokenRemoved, { webAuthNTokenId: "a" }));
    expect((await methods(id)).map((r) => r.token_id)).toEqual(["b"]);
  });

  it("TOTP added (not ready), verified (ready, no name), removed; re-adding keeps the creation date", async () => {
    const { id, u } = fresh();
    await spec.given(u(ev.userHumanMfaOtpAdded, {}));
    expect(await methods(id)).toMatchObject([{ method_type: MethodType.totp, token_id: "", state: MethodState.notReady, name: "", domain: null }]);
    await spec.given(u(ev.userHumanMfaOtpVerified, { userAgentID: "ua" }));
    expect(await methods(id)).toMatchObject([{ state: MethodState.ready, name: "", sequence: 2 }]);
    await spec.given(u(ev.userHumanMfaOtpAdded, {}));
    expect(await methods(id)).toMatchObject([{ state: MethodState.notReady, creation_date: at(1), change_date: at(3) }]);
    await spec.given(u(ev.userHumanMfaOtpRemoved, {}));
    expect(await methods(id)).toEqual([]);
  });

  it("the v1 names user.mfa.otp.added / verified / removed are reduced like the current ones", async () => {
    const { id, u } = fresh();
    await spec.given(
      { ...u(ev.userHumanMfaOtpAdded, {}), eventType: "user.mfa.otp.added" },
      { ...u(ev.userHumanMfaOtpVerified, {}), eventType: "user.mfa.otp.verified" },
    );
    expect(await methods(id)).toMatchObject([{ method_type: MethodType.totp, state: MethodState.ready }]);
    await spec.given({ ...u(ev.userHumanMfaOtpRemoved, {}), eventType: "user.mfa.otp.removed" });
    expect(await methods(id)).toEqual([]);
  });

  it.each([
    ["OTP SMS", ev.userHumanMfaOtpSmsAdded, ev.userHumanMfaOtpSmsRemoved, MethodType.otpSms],
    ["OTP email", ev.userHumanMfaOtpEmailAdded, ev.userHumanMfaOtpEmailRemoved, MethodType.otpEmail],
    ["recovery codes", ev.userHumanMfaRecoveryCodeAdded, ev.userHumanMfaRecoveryCodeRemoved, MethodType.recoveryCode],
  ] as const)("%s is ready when added and deleted when removed", async (_name, added, removed, type) => {
    const { id, u } = fresh();
    await spec.given(u(added, {}));
    expect(await methods(id)).toMatchObject([{ method_type: type, token_id: "", state: MethodState.ready, name: "", sequence: 1 }]);
    await spec.given(u(removed, {}));
    expect(await methods(id)).toEqual([]);
  });

  it("removing the phone (both event names) removes OTP SMS only", async () => {
    for (const name of ["user.human.phone.removed", "user.phone.removed"]) {
      const { id, u } = fresh();
      await spec.given(u(ev.userHumanMfaOtpSmsAdded, {}), u(ev.userHumanMfaOtpEmailAdded, {}));
      await spec.given({ ...u(ev.userHumanPhoneRemoved, {}), eventType: name });
      expect(
        (await methods(id)).map((r) => r.method_type),
        name,
      ).toEqual([MethodType.otpEmail]);
    }
  });

  it("verify or remove of an unknown method changes nothing; sign count changes are not reduced", async () => {
    const { id, u } = fresh();
    await spec.given(
      u(ev.userHumanU2fTokenVerified, { webAuthNTokenId: "ghost", webAuthNTokenName: "G" }),
      u(ev.userHumanMfaOtpVerified, {}),
      u(ev.userHumanPasswordlessTokenRemoved, { webAuthNTokenId: "ghost" }),
    );
    expect(await methods(id)).toEqual([]);
    await spec.given(u(ev.userHumanPasswordlessTokenAdded, { webAuthNTokenId: "t" }));
    const stats = await spec.given(u(ev.userHumanPasswordlessTokenSignCountChanged, { webAuthNTokenId: "t", signCount: 9 }));
    expect(stats.applied).toBe(0);
    expect(await methods(id)).toMatchObject([{ sequence: 4 }]);
  });
});

describe("password flag (lookup per user)", () => {
  it("human added with a hash, without one, machine added; password changed sets it; removed deletes it", async () => {
    const a = fresh();
    const b = fresh();
    const m = fresh();
    await spec.given(
      a.u(ev.userHumanAdded, { ...human, encodedHash: "$argon2id$x" }),
      b.u(ev.userHumanSelfRegistered, human),
      m.u(ev.userMachineAdded, { userName: "svc", name: "S" }),
    );
    expect(await lookup(a.id)).toMatchObject({ password_set: true, resource_owner: "o1", sequence: 1 });
    expect(await lookup(b.id)).toMatchObject({ password_set: false });
    expect(await lookup(m.id)).toMatchObject({ password_set: false });
    await spec.given(b.u(ev.userHumanPasswordChanged, { encodedHash: "$argon2id$y", changeRequired: false }));
    expect(await lookup(b.id)).toMatchObject({ password_set: true, sequence: 2, change_date: at(2) });
    await spec.given(b.u(ev.userRemoved, {}));
    expect(await lookup(b.id)).toBeUndefined();
  });
});

describe("cascades", () => {
  it("user.removed deletes all of the user's methods and nobody else's", async () => {
    const a = fresh();
    const b = fresh();
    await spec.given(
      a.u(ev.userHumanAdded, human),
      a.u(ev.userHumanMfaOtpAdded, {}),
      a.u(ev.userHumanU2fTokenAdded, { webAuthNTokenId: "x" }),
      a.u(ev.userHumanMfaOtpEmailAdded, {}),
      b.u(ev.userHumanMfaOtpEmailAdded, {}),
    );
    await spec.given(a.u(ev.userRemoved, {}));
    expect(await methods(a.id)).toEqual([]);
    expect(await lookup(a.id)).toBeUndefined();
    expect(await methods(b.id)).toHaveLength(1);
  });

  it("org.removed deletes the methods and users of that org only", async () => {
    const org = aggregate("i-org", "org-x", "org-x");
    const x = fresh("i-org", "org-x");
    const y = fresh("i-org", "org-y");
    await spec.given(x.u(ev.userHumanAdded, human), x.u(ev.userHumanMfaOtpSmsAdded, {}), y.u(ev.userHumanAdded, human), y.u(ev.userHumanMfaOtpSmsAdded, {}));
    await spec.given(org(ev.orgRemoved, {}));
    expect(await methods(x.id, "i-org")).toEqual([]);
    expect(await lookup(x.id, "i-org")).toBeUndefined();
    expect(await methods(y.id, "i-org")).toHaveLength(1);
    expect(await lookup(y.id, "i-org")).toBeDefined();
  });

  it("instance.removed deletes everything of that instance only", async () => {
    const inst = aggregate("i-gone", "i-gone", "i-gone");
    const gone = fresh("i-gone");
    const kept = fresh("i-kept");
    await spec.given(
      gone.u(ev.userHumanAdded, human),
      gone.u(ev.userHumanMfaOtpAdded, {}),
      kept.u(ev.userHumanAdded, human),
      kept.u(ev.userHumanMfaOtpAdded, {}),
    );
    await spec.given(inst(ev.instanceRemoved, {}));
    expect(await methods(gone.id, "i-gone")).toEqual([]);
    expect(await lookup(gone.id, "i-gone")).toBeUndefined();
    expect(await methods(kept.id, "i-kept")).toHaveLength(1);
    expect(await lookup(kept.id, "i-kept")).toBeDefined();
  });
});

describe("multi-topic convergence (tombstones)", () => {
  it("an org removal applied before a late add of a user or method of that org leaves no stale row", async () => {
    const org = aggregate("mt1", "org-late", "org-late");
    const x = fresh("mt1", "org-late");
    await spec.given(org(ev.orgRemoved, {}));
    await spec.given(x.u(ev.userHumanAdded, human), x.u(ev.userHumanU2fTokenAdded, { webAuthNTokenId: "t" }), x.u(ev.userHumanMfaOtpSmsAdded, {}));
    expect((await spec.pool.query("SELECT * FROM user_auth_methods WHERE instance_id = 'mt1'")).rows).toEqual([]);
    expect((await spec.pool.query("SELECT * FROM auth_method_users WHERE instance_id = 'mt1'")).rows).toEqual([]);
  });

  it("an instance removal applied before a late add leaves no stale row", async () => {
    const inst = aggregate("mt2", "mt2", "mt2");
    const x = fresh("mt2");
    await spec.given(inst(ev.instanceRemoved, {}));
    await spec.given(x.u(ev.userMachineAdded, { userName: "s", name: "S" }), x.u(ev.userHumanMfaRecoveryCodeAdded, {}), x.u(ev.userHumanMfaOtpAdded, {}));
    expect((await spec.pool.query("SELECT * FROM user_auth_methods WHERE instance_id = 'mt2'")).rows).toEqual([]);
    expect((await spec.pool.query("SELECT * FROM auth_method_users WHERE instance_id = 'mt2'")).rows).toEqual([]);
  });
});
