// Replay = live, and duplicates change nothing, over random valid grant histories (fast-check).
import { it } from "vitest";
import { checkDeterminism } from "../../../test/support/determinism.ts";
import { grantsService } from "../src/index.ts";
import { histories } from "./history.ts";

it("grants: live (random batches) = replay = live with a suffix published twice", async () => {
  await checkDeterminism(grantsService, histories, { numRuns: 40 });
});
