// Replay = live, and duplicates change nothing, over random histories of IdP links (fast-check): users
// adding, removing and migrating links (external ids shared between users, so some adds and migrations
// meet another user's link), IdP configurations removed at random points, user, org, instance removals.
import * as ev from "@idp/events";
import type { EventToPublish } from "@idp/producer";
import fc from "fast-check";
import { it } from "vitest";
import { checkDeterminism } from "../../../test/support/determinism.ts";
import { aggregate } from "../../../test/support/events.ts";
import { authMethodsService } from "../src/index.ts";

type U = ReturnType<typeof aggregate>;
const link = (i: number) => ({ idpConfigId: `idp${i % 2}`, userId: `ext${i % 3}` });
const steps: Record<string, (u: U, i: number) => EventToPublish> = {
  add: (u, i) => u(ev.userIdpLinkAdded, { ...link(i), displayName: i % 2 ? `name ${i}` : null }),
  remove: (u, i) => u(ev.userIdpLinkRemoved, link(i)),
  cascade: (u, i) => u(ev.userIdpLinkCascadeRemoved, link(i)),
  migrate: (u, i) => u(ev.userIdpLinkIdMigrated, { idpConfigId: link(i).idpConfigId, previousId: link(i).userId, newId: link(i + 1).userId }),
  otp: (u) => u(ev.userHumanMfaOtpAdded, {}),
};

const userScript = fc.record({
  org: fc.constantFrom("o1", "o2"),
  steps: fc.array(fc.tuple(fc.constantFrom(...Object.keys(steps)), fc.nat(5)), { maxLength: 10 }),
  removed: fc.boolean(),
});
const idpRemoval = fc.tuple(fc.constantFrom("orgConfig", "orgIdp", "instanceConfig", "instanceIdp"), fc.nat(1));
const instanceScript = fc.record({
  users: fc.array(userScript, { maxLength: 4 }),
  idpRemovals: fc.array(idpRemoval, { maxLength: 3 }),
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
      const org = aggregate(inst, "o1", "o1");
      const instance = aggregate(inst, inst, inst);
      script.users.forEach((us, j) => {
        const u = aggregate(inst, `u${j}`, us.org);
        const events = [u(ev.userHumanAdded, { userName: `h${j}`, firstName: "F", lastName: "L", email: "h@x.com", changeRequired: false })];
        for (const [step, k] of us.steps) events.push((steps[step] as (u: U, i: number) => EventToPublish)(u, k));
        if (us.removed) events.push(u(ev.userRemoved, {}));
        streams.push(events);
      });
      // IdP removals interleave with the users' events (org o1's and the instance's aggregates keep their order).
      streams.push(
        script.idpRemovals.map(([kind, n]) => {
          const idp = `idp${n}`;
          if (kind === "orgConfig") return org(ev.orgIdpConfigRemoved, { idpConfigId: idp });
          if (kind === "orgIdp") return org(ev.orgIdpRemoved, { id: idp });
          if (kind === "instanceConfig") return instance(ev.instanceIdpConfigRemoved, { idpConfigId: idp });
          return instance(ev.instanceIdpRemoved, { id: idp });
        }),
      );
      if (script.orgRemoved) tail.push(org(ev.orgRemoved, {}));
      if (script.instanceRemoved) tail.push(instance(ev.instanceRemoved, {}));
    });
    const out: EventToPublish[] = [];
    let k = 0;
    for (;;) {
      const open = streams.filter((s) => s.length);
      if (!open.length) break;
      out.push((open[(order[k++] ?? 0) % open.length] as EventToPublish[]).shift() as EventToPublish);
    }
    return [...out, ...tail];
  });

it("IdP links: live (random batches) = replay = live with a suffix published twice", async () => {
  await checkDeterminism(authMethodsService, histories, { numRuns: 25 });
});
