// Replay = live, and duplicates change nothing, over random valid histories of sessions and the users
// they reference (fast-check): several instances, interleaved aggregates, cascades and removals, and the
// org-domain and domain-policy events the users' login names depend on.
import * as ev from "@idp/events";
import type { EventToPublish } from "@idp/producer";
import fc from "fast-check";
import { it } from "vitest";
import { checkDeterminism } from "../../../test/support/determinism.ts";
import { aggregate } from "../../../test/support/events.ts";
import { sessionsService } from "../src/index.ts";

const T0 = Date.parse("2026-03-01T10:00:00Z");

const userScript = fc.record({
  machine: fc.boolean(),
  org: fc.constantFrom("o1", "o2"),
  steps: fc.array(fc.constantFrom("rename", "claim", "profile", "password", "lock", "deactivate"), { maxLength: 4 }),
  removed: fc.boolean(),
});
const sessionScript = fc.record({
  userAgent: fc.boolean(),
  user: fc.nat(),
  steps: fc.array(fc.constantFrom("user", "password", "intent", "webauthn", "totp", "otpSms", "otpEmail", "recovery", "token", "metadata", "lifetime"), {
    maxLength: 6,
  }),
  terminated: fc.boolean(),
});
const domainStep = fc.constantFrom("verify", "primary", "removeDomain", "policyAdd", "policyChange", "policyRemove");
const orgStepList = fc.array(fc.tuple(domainStep, fc.boolean()), { maxLength: 6 });
const instanceScript = fc.record({
  users: fc.array(userScript, { maxLength: 3 }),
  orgs: fc.record({ o1: orgStepList, o2: orgStepList }),
  instancePolicy: fc.array(fc.boolean(), { maxLength: 3 }),
  sessions: fc.array(sessionScript, { maxLength: 4 }),
  orgRemoved: fc.boolean(),
  instanceRemoved: fc.boolean(),
});

type Step = (e: ReturnType<typeof aggregate>) => EventToPublish;
const human = { userName: "h", firstName: "F", lastName: "L", displayName: "F L", email: "h@x.com", changeRequired: false };
const checkedAt = 0; // replaced by the event's time below
const userSteps: Record<string, Step> = {
  rename: (u) => u(ev.userUsernameChanged, { userName: "renamed" }),
  claim: (u) => u(ev.userDomainClaimed, { userName: "claimed" }),
  profile: (u) => u(ev.userHumanProfileChanged, { displayName: "New Name" }),
  password: (u) => u(ev.userHumanPasswordChanged, { changeRequired: false }),
  lock: (u) => u(ev.userLocked, {}),
  deactivate: (u) => u(ev.userDeactivated, {}),
};
const sessionSteps: Record<string, Step> = {
  password: (s) => s(ev.sessionPasswordChecked, { checkedAt }),
  intent: (s) => s(ev.sessionIntentChecked, { checkedAt }),
  webauthn: (s) => s(ev.sessionWebAuthNChecked, { checkedAt, userVerified: true }),
  totp: (s) => s(ev.sessionTotpChecked, { checkedAt }),
  otpSms: (s) => s(ev.sessionOtpSmsChecked, { checkedAt }),
  otpEmail: (s) => s(ev.sessionOtpEmailChecked, { checkedAt }),
  recovery: (s) => s(ev.sessionRecoveryCodeChecked, { checkedAt }),
  token: (s) => s(ev.sessionTokenSet, { tokenID: "tok" }),
  metadata: (s) => s(ev.sessionMetadataSet, { metadata: { k: Buffer.from("v") } }),
  lifetime: (s) => s(ev.sessionLifetimeSet, { lifetime: 3_600_000_000_000 }),
};

const orgSteps: Record<string, (o: ReturnType<typeof aggregate>, flag: boolean) => EventToPublish> = {
  verify: (o, flag) => o(ev.orgDomainVerified, { domain: flag ? "a.example" : "b.example" }),
  primary: (o, flag) => o(ev.orgDomainPrimarySet, { domain: flag ? "a.example" : "b.example" }),
  removeDomain: (o, flag) => o(ev.orgDomainRemoved, { domain: flag ? "a.example" : "b.example" }),
  policyAdd: (o, flag) => o(ev.orgDomainPolicyAdded, { userLoginMustBeDomain: flag }),
  policyChange: (o, flag) => o(ev.orgDomainPolicyChanged, flag ? { userLoginMustBeDomain: true } : { validateOrgDomains: true }),
  policyRemove: (o) => o(ev.orgDomainPolicyRemoved, {}),
};

const histories = fc
  .record({ instances: fc.array(instanceScript, { minLength: 1, maxLength: 3 }), order: fc.array(fc.nat(), { maxLength: 300 }) })
  .map(({ instances, order }) => {
    const streams: EventToPublish[][] = [];
    const tail: EventToPublish[] = [];
    instances.forEach((script, i) => {
      const inst = `inst${i}`;
      const userIds = script.users.map((_, j) => `u${j}`);
      script.users.forEach((us, j) => {
        const u = aggregate(inst, `u${j}`, us.org);
        const events = [us.machine ? u(ev.userMachineAdded, { userName: `m${j}`, name: "M" }) : u(ev.userHumanAdded, human)];
        for (const step of us.steps)
          if (!us.machine || step === "rename" || step === "lock" || step === "deactivate") events.push((userSteps[step] as Step)(u));
        if (us.removed) events.push(u(ev.userRemoved, {}));
        streams.push(events);
      });
      // One stream per org and one for the instance default; their removals (in the tail) continue the
      // same aggregates' sequences.
      const o1 = aggregate(inst, "o1", "o1");
      const ia = aggregate(inst, inst, inst);
      for (const [org, steps] of [
        [o1, script.orgs.o1],
        [aggregate(inst, "o2", "o2"), script.orgs.o2],
      ] as const) {
        streams.push(steps.map(([step, flag]) => (orgSteps[step] as (typeof orgSteps)[string])(org, flag)));
      }
      if (script.instancePolicy.length) {
        const [first, ...rest] = script.instancePolicy;
        streams.push([
          ia(ev.instanceDomainPolicyAdded, { userLoginMustBeDomain: first === true }),
          ...rest.map((must) => ia(ev.instanceDomainPolicyChanged, { userLoginMustBeDomain: must })),
        ]);
      }
      script.sessions.forEach((ss, j) => {
        const s = aggregate(inst, `s${j}`, inst);
        const events = [s(ev.sessionAdded, ss.userAgent ? { user_agent: { fingerprint_id: `fp${j}`, ip: "192.0.2.1", header: { a: ["b"] } } } : {})];
        for (const step of ss.steps) {
          events.push(
            step === "user"
              ? s(ev.sessionUserChecked, { userID: userIds[ss.user % Math.max(1, userIds.length)] ?? "ghost", userResourceOwner: "o1", checkedAt })
              : (sessionSteps[step] as Step)(s),
          );
        }
        if (ss.terminated) events.push(s(ev.sessionTerminated, {}));
        streams.push(events);
      });
      // Removals of orgs and instances come after everything of theirs.
      if (script.orgRemoved) tail.push(o1(ev.orgRemoved, {}));
      if (script.instanceRemoved) tail.push(ia(ev.instanceRemoved, {}));
    });
    // Interleave the aggregates (each keeps its own order), then give every event its place's time;
    // checks happen just before the event that records them.
    const out: EventToPublish[] = [];
    let k = 0;
    for (;;) {
      const open = streams.filter((s) => s.length);
      if (!open.length) break;
      out.push((open[(order[k++] ?? 0) % open.length] as EventToPublish[]).shift() as EventToPublish);
    }
    return [...out, ...tail].map((e, i) => {
      const createdAt = new Date(T0 + i * 1000);
      const payload = "checkedAt" in e.payload ? { ...e.payload, checkedAt: createdAt.getTime() - 500 } : e.payload;
      return { ...e, createdAt, payload };
    });
  });

it("sessions: live (random batches) = replay = live with a suffix published twice", async () => {
  await checkDeterminism(sessionsService, histories, { numRuns: 25 });
});
