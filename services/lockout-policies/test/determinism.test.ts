// Replay = live, and duplicates change nothing, over random valid histories of lockout policies
// (fast-check): several instances, the instance default and org policies added, changed and removed
// (and re-added), org removals and instance removals, interleaved across aggregates.

import type { EventDefinition } from "@idp/events";
import * as ev from "@idp/events";
import type { EventToPublish } from "@idp/producer";
import fc from "fast-check";
import { it } from "vitest";
import { checkDeterminism } from "../../../test/support/determinism.ts";
import { aggregate } from "../../../test/support/events.ts";
import { lockoutPoliciesService } from "../src/index.ts";

const T0 = Date.parse("2026-03-01T10:00:00Z");

const attempts = fc.integer({ min: 0, max: 20 });
const addPayload = fc.record({ maxPasswordAttempts: attempts, maxOTPAttempts: fc.option(attempts), showLockOutFailures: fc.boolean() });
const changePayload = fc.record({ maxPasswordAttempts: attempts, maxOTPAttempts: attempts, showLockOutFailures: fc.boolean() }, { requiredKeys: [] });
// A policy's life: add, then changes; an org policy may be removed and added again.
const step = fc.oneof(
  fc.record({ kind: fc.constant("add" as const), payload: addPayload }),
  fc.record({ kind: fc.constant("change" as const), payload: changePayload }),
  fc.record({ kind: fc.constant("remove" as const) }),
);
const instanceScript = fc.record({
  defaultSteps: fc.array(step, { maxLength: 4 }),
  orgs: fc.array(fc.record({ steps: fc.array(step, { maxLength: 6 }), removed: fc.boolean() }), { maxLength: 3 }),
  instanceRemoved: fc.boolean(),
});

type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;
type Def<D> = D extends EventDefinition<string, infer F> ? EventDefinition<string, F> : never;
interface Defs {
  added: Def<typeof ev.orgLockoutPolicyAdded>;
  changed: Def<typeof ev.orgLockoutPolicyChanged>;
  removed?: Def<typeof ev.orgLockoutPolicyRemoved>;
}

/** Keeps a script valid: add only when there is no policy, change/remove only when there is one. */
function policyEvents(a: ReturnType<typeof aggregate>, steps: Step[], defs: Defs) {
  const out: EventToPublish[] = [];
  let exists = false;
  for (const s of steps) {
    if (s.kind === "add" && !exists) {
      out.push(a(defs.added, s.payload));
      exists = true;
    } else if (s.kind === "change" && exists) {
      out.push(a(defs.changed, s.payload));
    } else if (s.kind === "remove" && exists && defs.removed) {
      out.push(a(defs.removed, {}));
      exists = false;
    }
  }
  return out;
}

const histories = fc
  .record({ instances: fc.array(instanceScript, { minLength: 1, maxLength: 3 }), order: fc.array(fc.nat(), { maxLength: 200 }) })
  .map(({ instances, order }) => {
    const streams: EventToPublish[][] = [];
    const tail: EventToPublish[] = [];
    instances.forEach((script, i) => {
      const inst = `inst${i}`;
      const instance = aggregate(inst, inst, inst);
      streams.push(
        // The default has no "removed" event.
        policyEvents(instance, script.defaultSteps, { added: ev.instanceLockoutPolicyAdded, changed: ev.instanceLockoutPolicyChanged }),
      );
      script.orgs.forEach((o, j) => {
        const org = aggregate(inst, `o${j}`, `o${j}`);
        const events = policyEvents(org, o.steps, {
          added: ev.orgLockoutPolicyAdded,
          changed: ev.orgLockoutPolicyChanged,
          removed: ev.orgLockoutPolicyRemoved,
        });
        if (o.removed) events.push(org(ev.orgRemoved, {}));
        streams.push(events);
      });
      // The instance's removal comes after everything of it, as the instance aggregate's last event.
      if (script.instanceRemoved) tail.push(instance(ev.instanceRemoved, {}));
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

it("lockout policies: live (random batches) = replay = live with a suffix published twice", async () => {
  await checkDeterminism(lockoutPoliciesService, histories, { numRuns: 50 });
});
