// Fault: the users projector process is SIGKILLed 10 times during one stream, each time at a random small
// delay after it was seen applying (inside a batch transaction or between two), and restarted with the
// same consumer group. The final read model equals the independent reference and every event was applied
// exactly once (applied_events is written in the same transaction as the rows and the offsets). Every
// batch goes through the write-behind window (WRITE_BEHIND_MIN_LAG=0), so kills also land between folding
// and flushing.

import type { Position } from "@idp/events";
import { EventPublisher } from "@idp/producer";
import { generateHistory, prng } from "@idp/producer/src/history.ts";
import { createPool } from "@idp/runtime";
import { afterAll, expect, it } from "vitest";
import { databaseUrl, kafkaBrokers, uniqueName } from "../support/env.ts";
import { type ServiceProcess, spawnService } from "../support/process.ts";
import { createTopic, dropSchema, serviceEnv, waitForPositions } from "../support/service.ts";
import { appliedEvents, chunksOf, expectUsersMatchReference, faultLine, relevantCount, sleep, waitForProgress } from "./fault-support.ts";

const KILLS = 10;
const ENTRY = "services/users/src/main.ts";
const schema = uniqueName("fault_sigkill");
const pool = createPool({ connectionString: databaseUrl(), schema, max: 2 });
let proc: ServiceProcess | undefined;

/** Transactions the projector process has open right now (its pool names its connections). */
const projectorTransactions = async () =>
  (await pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND xact_start IS NOT NULL", [`projector:${schema}`])).rows[0]
    .n as number;

afterAll(async () => {
  await proc?.kill("SIGKILL");
  await pool.end();
  await dropSchema(schema);
});

it(`survives ${KILLS} SIGKILLs at random points of one stream: nothing lost, nothing applied twice`, async () => {
  const topic = await createTopic("fault_sigkill", 4);
  const env = serviceEnv(topic, schema, { PARTITIONS_CONCURRENCY: "2", WRITE_BEHIND_MIN_LAG: "0", WRITE_BEHIND_MAX_DELAY_MS: "500" });
  const history = generateHistory({ seed: 1010, instances: 8, orgsPerInstance: 3, usersPerOrg: 45, eventsPerUser: 8, orgRemovalRate: 0.1, prefix: "sk10-" });
  const expected = relevantCount(history);
  const chunks = chunksOf(history, KILLS + 2);
  const random = prng(20260301);
  const publisher = await EventPublisher.connect({ brokers: kafkaBrokers(), topic });
  const positions: Position[] = [];
  const kills: { delayMs: number; openTransactions: number; appliedAtKill: number; publishedSoFar: number }[] = [];
  let published = 0;
  try {
    for (const chunk of chunks) {
      proc ??= spawnService(ENTRY, env);
      const before = await appliedEvents(pool);
      positions.push(...(await publisher.publish(chunk)));
      published += relevantCount(chunk);
      if (kills.length >= KILLS) continue;
      // Progress observed: the projector is consuming. Then kill after a random small delay, so the kill
      // lands at arbitrary points: mid-transaction, between batches, during a rebalance.
      await waitForProgress(pool, before, 60_000, `users projector (after ${kills.length} kills)`);
      const delayMs = random.int(150);
      await sleep(delayMs);
      const openTransactions = await projectorTransactions();
      const victim = proc;
      const code = await victim.kill("SIGKILL");
      proc = undefined;
      // It really was alive and really died of the SIGKILL (not of an error of its own before it).
      expect({ code, signal: victim.child.signalCode }, victim.output()).toEqual({ code: null, signal: "SIGKILL" });
      kills.push({ delayMs, openTransactions, appliedAtKill: await appliedEvents(pool), publishedSoFar: published });
    }
  } finally {
    await publisher.close();
  }
  expect(kills).toHaveLength(KILLS);
  const midStream = kills.filter((k) => k.appliedAtKill < k.publishedSoFar).length;
  const inTransaction = kills.filter((k) => k.openTransactions > 0).length;
  // The last kill left work behind: the restarted process has to pick the stream up where it was cut.
  expect((kills.at(-1) as (typeof kills)[number]).appliedAtKill).toBeLessThan(expected);

  proc ??= spawnService(ENTRY, env);
  await waitForPositions(pool, "users", positions, 120_000);

  const applied = await appliedEvents(pool);
  faultLine("sigkill-10", expected, applied, {
    kills: kills.length,
    killsWithBacklog: midStream,
    killsInOpenTransaction: inTransaction,
    delaysMs: kills.map((k) => k.delayMs).join(","),
  });
  expect(applied).toBe(expected); // each event applied exactly once
  await expectUsersMatchReference(pool, history, 500);
});
