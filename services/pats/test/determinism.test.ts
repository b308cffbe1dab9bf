// Replay = live, and duplicates change nothing, over random valid histories of personal access tokens
// (fast-check): several instances and orgs, interleaved users adding and removing tokens, user removals,
// org and instance removals.
import * as ev from "@idp/events";
import type { EventToPublish } from "@idp/producer";
import fc from "fast-check";
import { it } from "vitest";
import { checkDeterminism } from "../../../test/support/determinism.ts";
import { aggregate } from "../../../test/support/events.ts";
import { patsService } from "../src/index.ts";

const T0 = Date.parse("2026-03-01T10:00:00Z");

const userScript = fc.record({
  org: fc.constantFrom("o1", "o2"),
  // add: a new token; remove: one of the user's tokens (possibly already removed, or never added).
  steps: fc.array(
    fc.oneof(
      fc.record({
        kind: fc.constant("add" as const),
        expiresIn: fc.integer({ min: -10, max: 10 }),
        scopes: fc.option(fc.subarray(["openid", "profile", "email"])),
      }),
      fc.record({ kind: fc.constant("remove" as const), token: fc.nat({ max: 5 }) }),
    ),
    { maxLength: 6 },
  ),
  removed: fc.boolean(),
});
const instanceScript = fc.record({
  users: fc.array(userScript, { maxLength: 4 }),
  orgRemoved: fc.boolean(),
  instanceRemoved: fc.boolean(),
});

const histories = fc
  .record({ instances: fc.array(instanceScript, { minLength: 1, maxLength: 3 }), order: fc.array(fc.nat(), { maxLength: 200 }) })
  .map(({ instances, order }) => {
    const streams: EventToPublish[][] = [];
    const tail: EventToPublish[] = [];
    instances.forEach((script, i) => {
      const inst = `inst${i}`;
      script.users.forEach((us, j) => {
        const userId = `u${j}`;
        const u = aggregate(inst, userId, us.org);
        const events: EventToPublish[] = [];
        let added = 0;
        for (const step of us.steps) {
          if (step.kind === "add") {
            const payload = { tokenId: `${userId}-t${++added}`, expiration: T0 + step.expiresIn * 86_400_000 };
            events.push(u(ev.userPatAdded, step.scopes ? { ...payload, scopes: step.scopes } : payload));
          } else {
            events.push(u(ev.userPatRemoved, { tokenId: `${userId}-t${step.token}` }));
          }
        }
        if (us.removed) events.push(u(ev.userRemoved, {}));
        streams.push(events);
      });
      // Removals of orgs and instances come after everything of theirs.
      if (script.orgRemoved) tail.push(aggregate(inst, "o1", "o1")(ev.orgRemoved, {}));
      if (script.instanceRemoved) tail.push(aggregate(inst, inst, inst)(ev.instanceRemoved, {}));
    });
    // Interleave the aggregates (each keeps its own order), then give every event its place's time.
    const out: EventToPublish[] = [];
    let k = 0;
    for (;;) {
      const open = streams.filter((s) => s.length);
      if (!open.length) break;
      out.push((open[(order[k++] ?? 0) % open.length] as EventToPublish[]).shift() as EventToPublish);
    }
    return [...out, ...tail].map((e, i) => ({ ...e, createdAt: new Date(T0 + i * 1000) }));
  });

it("pats: live (random batches) = replay = live with a suffix published twice", async () => {
  await checkDeterminism(patsService, histories, { numRuns: 50 });
});
