// Replay = live, and duplicates change nothing, over random histories of user metadata (fast-check):
// several instances, orgs and users setting, replacing and removing keys (one or all), interleaved,
// with user, org and instance removals.
import * as ev from "@idp/events";
import type { EventToPublish } from "@idp/producer";
import fc from "fast-check";
import { it } from "vitest";
import { checkDeterminism } from "../../../test/support/determinism.ts";
import { aggregate } from "../../../test/support/events.ts";
import { usersService } from "../src/index.ts";

type U = ReturnType<typeof aggregate>;
const key = (i: number) => ["plan", "Plan", "tier"][i % 3] as string;
const steps: Record<string, (u: U, i: number) => EventToPublish> = {
  set: (u, i) => u(ev.userMetadataSet, { key: key(i), value: Buffer.from([i, 0, 255 - i]) }),
  setText: (u, i) => u(ev.userMetadataSet, { key: key(i), value: Buffer.from(`v${i}`) }),
  remove: (u, i) => u(ev.userMetadataRemoved, { key: key(i) }),
  removeAll: (u) => u(ev.userMetadataRemovedAll, {}),
};

const userScript = fc.record({
  org: fc.constantFrom("o1", "o2"),
  steps: fc.array(fc.tuple(fc.constantFrom(...Object.keys(steps)), fc.nat(5)), { maxLength: 12 }),
  removed: fc.boolean(),
});
const instanceScript = fc.record({ users: fc.array(userScript, { maxLength: 4 }), orgRemoved: fc.boolean(), instanceRemoved: fc.boolean() });

const histories = fc
  .record({ instances: fc.array(instanceScript, { minLength: 1, maxLength: 3 }), order: fc.array(fc.nat(), { maxLength: 300 }) })
  .map(({ instances, order }) => {
    const streams: EventToPublish[][] = [];
    const tail: EventToPublish[] = [];
    instances.forEach((script, i) => {
      const inst = `inst${i}`;
      script.users.forEach((us, j) => {
        const u = aggregate(inst, `u${j}`, us.org);
        const events = [u(ev.userHumanAdded, { userName: `h${j}`, firstName: "F", lastName: "L", email: "h@x.com", changeRequired: false })];
        for (const [step, k] of us.steps) events.push((steps[step] as (u: U, i: number) => EventToPublish)(u, k));
        if (us.removed) events.push(u(ev.userRemoved, {}));
        streams.push(events);
      });
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

it("user metadata: live (random batches) = replay = live with a suffix published twice", async () => {
  await checkDeterminism(usersService, histories, { numRuns: 25 });
});
