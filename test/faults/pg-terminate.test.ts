// Fault: while the users projector applies a stream, its PostgreSQL connections are killed again and again
// (pg_terminate_backend on every connection named `projector:<schema>`), inside transactions or idle in
// the pool. Batches hit by it fail with admin_shutdown / connection loss, are retried with backoff, and
// the final read model equals the independent reference with every event applied exactly once.

import type { Position } from "@idp/events";
import { generateHistory, prng } from "@idp/producer/src/history.ts";
import { createPool } from "@idp/runtime";
import { afterAll, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { databaseUrl } from "../support/env.ts";
import { createTopic, startTestService, type TestService, waitForPositions } from "../support/service.ts";
import { appliedEvents, chunksOf, expectUsersMatchReference, faultLine, relevantCount, sleep, waitForProgress, within } from "./fault-support.ts";

const TERMINATIONS = 8;
let t: TestService | undefined;
// The test's own connections: a different application_name, so they are never among the terminated ones.
const admin = createPool({ connectionString: databaseUrl(), max: 1, applicationName: "fault-test-admin" });
let pool: ReturnType<typeof createPool> | undefined;
// A service process dies of any uncaught exception; here the service runs in-process, so collect them
// (vitest reports them too) and assert there were none: a fault must be retried, not crash the process.
const uncaught: string[] = [];
const onUncaught = (err: Error) => uncaught.push(`${err.name}: ${err.message}`);
process.on("uncaughtException", onUncaught);

afterAll(async () => {
  process.off("uncaughtException", onUncaught);
  await pool?.end();
  await admin.end();
  await within(t?.close() ?? Promise.resolve(), 30_000, "service stop").catch((err) => console.error(err));
});

const transientRetries = async (svc: TestService["svc"]) =>
  (await svc.metrics.batchRetries.get()).values.filter((v) => v.labels.kind === "transient").reduce((n, v) => n + v.value, 0);

it(`survives ${TERMINATIONS} rounds of pg_terminate_backend on the projector's connections mid-stream`, async () => {
  t = await startTestService(usersService, { topic: await createTopic("fault_pgterm", 4) });
  const svc = t.svc;
  pool = createPool({ connectionString: databaseUrl(), schema: t.schema, max: 2, applicationName: "fault-test" });
  const history = generateHistory({ seed: 3030, instances: 8, orgsPerInstance: 3, usersPerOrg: 45, eventsPerUser: 8, orgRemovalRate: 0.1, prefix: "pgt-" });
  const expected = relevantCount(history);
  const random = prng(3031);
  const positions: Position[] = [];
  const rounds: { terminated: number; inTransaction: number; appliedAtKill: number; publishedSoFar: number }[] = [];
  let published = 0;
  for (const chunk of chunksOf(history, TERMINATIONS + 1)) {
    const before = await appliedEvents(pool);
    positions.push(...(await t.publisher.publish(chunk)));
    published += relevantCount(chunk);
    if (rounds.length >= TERMINATIONS) continue;
    await waitForProgress(pool, before, 60_000, `users projector (after ${rounds.length} terminations)`);
    await sleep(random.int(20));
    // Aim at a batch in flight: poll for a projector connection inside a transaction (the applier holds
    // one for the whole batch), then kill every projector connection, busy and idle alike. If the chunk
    // is applied before one is seen, the round kills idle pool connections only.
    const deadline = Date.now() + 2_000;
    let rows: { killed: boolean; in_tx: boolean }[] = [];
    for (;;) {
      const busy = await admin.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND xact_start IS NOT NULL LIMIT 1", [
        `projector:${t.schema}`,
      ]);
      if (busy.rowCount || Date.now() > deadline || (await appliedEvents(pool)) >= published) {
        ({ rows } = await admin.query(
          `SELECT pg_terminate_backend(pid) AS killed, xact_start IS NOT NULL AS in_tx FROM pg_stat_activity
           WHERE application_name = $1 AND pid <> pg_backend_pid()`,
          [`projector:${t.schema}`],
        ));
        break;
      }
    }
    rounds.push({
      terminated: rows.filter((r) => r.killed).length,
      inTransaction: rows.filter((r) => r.killed && r.in_tx).length,
      appliedAtKill: await appliedEvents(pool),
      publishedSoFar: published,
    });
  }
  expect(rounds).toHaveLength(TERMINATIONS);
  // Every round found live projector connections to kill (the projector had just made progress).
  expect(rounds.map((r) => r.terminated > 0)).toEqual(rounds.map(() => true));

  await waitForPositions(pool, "users", positions, 90_000);

  const applied = await appliedEvents(pool);
  const retries = await transientRetries(svc);
  faultLine("pg-terminate", expected, applied, {
    terminationRounds: rounds.length,
    connectionsTerminated: rounds.reduce((n, r) => n + r.terminated, 0),
    terminatedInTransaction: rounds.reduce((n, r) => n + r.inTransaction, 0),
    roundsWithBacklog: rounds.filter((r) => r.appliedAtKill < r.publishedSoFar).length,
    transientBatchRetries: retries,
    uncaughtExceptions: uncaught.length,
  });
  expect(uncaught, "uncaught exceptions (each one kills a service process)").toEqual([]);
  // The fault really hit batches in flight (they failed as transient and were retried), and none of them
  // was parked as if its data were bad.
  expect(
    rounds.some((r) => r.inTransaction > 0),
    "no round hit a batch in flight",
  ).toBe(true);
  expect(retries).toBeGreaterThan(0);
  expect((await pool.query("SELECT count(*)::int AS n FROM projector_parked_events")).rows[0].n).toBe(0);
  expect(applied).toBe(expected); // each event applied exactly once
  await expectUsersMatchReference(pool, history, 500);
});
