// A rebuild's progress shows what the shadow has read, not only what it committed: with write-behind the
// shadow commits once per window, and an operator watching `applied` alone saw 0 until the first flush.
import { generateHistory } from "@idp/producer/src/history.ts";
import { afterAll, beforeAll, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { adminCall, waitForRebuild } from "../support/admin.ts";
import { startTestService, type TestService, waitForPositions } from "../support/service.ts";

let t: TestService;
// A window that is not flushed when caught up (min lag 0) and holds its events for 4 s.
const env = { WRITE_BEHIND_MIN_LAG: "0", WRITE_BEHIND_MAX_DELAY_MS: "4000" };

beforeAll(async () => {
  t = await startTestService(usersService, { env });
  const history = generateHistory({ seed: 5, instances: 2, orgsPerInstance: 1, usersPerOrg: 20, eventsPerUser: 5, prefix: "rp-" });
  await waitForPositions(t.svc.pool, "users", await t.publisher.publish(history));
});
afterAll(async () => t?.close());

it("reports the events read into the shadow's write-behind window ahead of those committed", async () => {
  const started = await adminCall(t.url, "POST", "/rebuild", {});
  expect(started.status).toBe(202);
  const seen: { applied: number; read: number; target: number }[] = [];
  const final = await waitForRebuild(t.url, 60_000, async (s) => {
    if (s.state === "running") seen.push(s.progress);
  });
  expect(final.state, final.error).toBe("done");
  const target = final.progress.target;
  expect(target).toBeGreaterThan(0);
  expect(final.progress).toMatchObject({ applied: target, read: target });
  // While the window held everything, read was at the target and applied behind it.
  expect(seen.some((p) => p.read === target && p.applied < target)).toBe(true);
  expect(seen.every((p) => p.read >= p.applied)).toBe(true);
});
