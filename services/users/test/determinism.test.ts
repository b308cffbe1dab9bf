// Replay = live, and duplicates change nothing, over random valid user histories (fast-check).
import { generateHistory } from "@idp/producer/src/history.ts";
import fc from "fast-check";
import { it } from "vitest";
import { checkDeterminism } from "../../../test/support/determinism.ts";
import { usersService } from "../src/index.ts";

const histories = fc
  .record({
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    instances: fc.integer({ min: 1, max: 3 }),
    orgsPerInstance: fc.integer({ min: 1, max: 3 }),
    usersPerOrg: fc.integer({ min: 0, max: 6 }),
    eventsPerUser: fc.integer({ min: 0, max: 10 }),
    orgRemovalRate: fc.constantFrom(0, 0.3, 1),
  })
  .map((o) => generateHistory(o));

it("users: live (random batches) = replay = live with a suffix published twice", async () => {
  await checkDeterminism(usersService, histories, { numRuns: 40 });
});
