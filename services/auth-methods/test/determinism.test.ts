// Replay = live, and duplicates change nothing, over random histories of users setting up and removing
// auth methods (fast-check): several instances and orgs, interleaved users, org and instance removals.
import * as ev from "@idp/events";
import type { EventToPublish } from "@idp/producer";
import fc from "fast-check";
import { it } from "vitest";
import { checkDeterminism } from "../../../test/support/determinism.ts";
import { aggregate } from "../../../test/support/events.ts";
import { authMethodsService } from "../src/index.ts";

type U = ReturnType<typeof aggregate>;
const token = (i: number) => `tok${i % 2}`;
const steps: Record<string, (u: U, i: number) => EventToPublish> = {
  otpAdd: (u) => u(ev.userHumanMfaOtpAdded, {}),
  otpVerify: (u) => u(ev.userHumanMfaOtpVerified, {}),
  otpRemove: (u) => u(ev.userHumanMfaOtpRemoved, {}),
  smsAdd: (u) => u(ev.userHumanMfaOtpSmsAdded, {}),
  smsRemove: (u) => u(ev.userHumanMfaOtpSmsRemoved, {}),
  phoneRemove: (u) => u(ev.userHumanPhoneRemoved, {}),
  emailAdd: (u) => u(ev.userHumanMfaOtpEmailAdded, {}),
  emailRemove: (u) => u(ev.userHumanMfaOtpEmailRemoved, {}),
  recoveryAdd: (u) => u(ev.userHumanMfaRecoveryCodeAdded, {}),
  recoveryRemove: (u) => u(ev.userHumanMfaRecoveryCodeRemoved, {}),
  u2fAdd: (u, i) => u(ev.userHumanU2fTokenAdded, { webAuthNTokenId: token(i), rpID: "example.com" }),
  u2fVerify: (u, i) => u(ev.userHumanU2fTokenVerified, { webAuthNTokenId: token(i), webAuthNTokenName: `key ${i}` }),
  u2fRemove: (u, i) => u(ev.userHumanU2fTokenRemoved, { webAuthNTokenId: token(i) }),
  plAdd: (u, i) => u(ev.userHumanPasswordlessTokenAdded, { webAuthNTokenId: token(i) }),
  plVerify: (u, i) => u(ev.userHumanPasswordlessTokenVerified, { webAuthNTokenId: token(i), webAuthNTokenName: `pl ${i}` }),
  plSignCount: (u, i) => u(ev.userHumanPasswordlessTokenSignCountChanged, { webAuthNTokenId: token(i), signCount: i }),
  plRemove: (u, i) => u(ev.userHumanPasswordlessTokenRemoved, { webAuthNTokenId: token(i) }),
  password: (u) => u(ev.userHumanPasswordChanged, { changeRequired: false }),
};

const userScript = fc.record({
  machine: fc.boolean(),
  withPassword: fc.boolean(),
  org: fc.constantFrom("o1", "o2"),
  steps: fc.array(fc.tuple(fc.constantFrom(...Object.keys(steps)), fc.nat(3)), { maxLength: 12 }),
  removed: fc.boolean(),
});
const instanceScript = fc.record({
  users: fc.array(userScript, { maxLength: 4 }),
  orgRemoved: fc.boolean(),
  instanceRemoved: fc.boolean(),
});

const histories = fc
  .record({ instances: fc.array(instanceScript, { minLength: 1, maxLength: 3 }), order: fc.array(fc.nat(), { maxLength: 300 }) })
  .map(({ instances, order }) => {
    const streams: EventToPublish[][] = [];
    const tail: EventToPublish[] = [];
    instances.forEach((script, i) => {
      const inst = `inst${i}`;
      script.users.forEach((us, j) => {
        const u = aggregate(inst, `u${j}`, us.org);
        const events = [
          us.machine
            ? u(ev.userMachineAdded, { userName: `m${j}`, name: "M" })
            : u(ev.userHumanAdded, {
                userName: `h${j}`,
                firstName: "F",
                lastName: "L",
                email: "h@x.com",
                changeRequired: false,
                encodedHash: us.withPassword ? "$h" : null,
              }),
        ];
        for (const [step, k] of us.steps) events.push((steps[step] as (u: U, i: number) => EventToPublish)(u, k));
        if (us.removed) events.push(u(ev.userRemoved, {}));
        streams.push(events);
      });
      // Removals of orgs and instances come after everything of theirs.
      if (script.orgRemoved) tail.push(aggregate(inst, "o1", "o1")(ev.orgRemoved, {}));
      if (script.instanceRemoved) tail.push(aggregate(inst, inst, inst)(ev.instanceRemoved, {}));
    });
    // Interleave the users (each keeps its own order).
    const out: EventToPublish[] = [];
    let k = 0;
    for (;;) {
      const open = streams.filter((s) => s.length);
      if (!open.length) break;
      out.push((open[(order[k++] ?? 0) % open.length] as EventToPublish[]).shift() as EventToPublish);
    }
    return [...out, ...tail];
  });

it("auth-methods: live (random batches) = replay = live with a suffix published twice", async () => {
  await checkDeterminism(authMethodsService, histories, { numRuns: 25 });
});
