// Crash safety: the users projector is SIGKILLed in the middle of a stream (several times) and restarted;
// the final read model equals a reference computed independently from the produced events, and every
// event was applied exactly once (applied_events counts applies in the same transaction as the rows).
import { EventPublisher } from "@idp/producer";
import { generateHistory } from "@idp/producer/src/history.ts";
import { createPool } from "@idp/runtime";
import { afterAll, expect, it } from "vitest";
import { databaseUrl, kafkaBrokers, uniqueName } from "../support/env.ts";
import { type ServiceProcess, spawnService } from "../support/process.ts";
import { createTopic, dropSchema, serviceEnv, waitForPositions } from "../support/service.ts";
import { REF_COLUMNS, referenceUsers } from "../support/users-reference.ts";

const KILLS = Number(process.env.CRASH_KILLS ?? 3);
const schema = uniqueName("crash_users");
let proc: ServiceProcess | undefined;
const pool = createPool({ connectionString: databaseUrl(), schema, max: 2 });

afterAll(async () => {
  await proc?.kill();
  await pool.end();
  await dropSchema(schema);
});

const applied = async () =>
  (await pool.query("SELECT coalesce(sum(applied_events), 0)::int AS n FROM projector_offsets").catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n as number;

it(`survives ${KILLS} SIGKILLs mid-stream: nothing lost, nothing applied twice`, async () => {
  const topic = await createTopic("crash", 3);
  const env = serviceEnv(topic, schema, { PARTITIONS_CONCURRENCY: "3" });
  const history = generateHistory({ seed: 11, instances: 6, orgsPerInstance: 3, usersPerOrg: 60, eventsPerUser: 8, orgRemovalRate: 0.1, prefix: "crash-" });
  const publisher = await EventPublisher.connect({ brokers: kafkaBrokers(), topic });
  const chunk = Math.ceil(history.length / (KILLS + 2));
  const positions = [];
  let kills = 0;
  try {
    for (let i = 0; i < history.length; i += chunk) {
      positions.push(...(await publisher.publish(history.slice(i, i + chunk))));
      if (!proc) proc = spawnService("services/users/src/main.ts", env);
      if (kills < KILLS) {
        // Kill as soon as this chunk is being applied: somewhere inside a batch, or between two.
        const before = await applied();
        const deadline = Date.now() + 60_000;
        while ((await applied()) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        await proc.kill("SIGKILL");
        proc = undefined;
        kills++;
      }
    }
  } finally {
    await publisher.close();
  }
  expect(kills).toBe(KILLS);
  const progressBeforeRestart = await applied();
  expect(progressBeforeRestart).toBeLessThan(history.length); // the stream really was cut short
  proc ??= spawnService("services/users/src/main.ts", env);
  await waitForPositions(pool, "users", positions, 120_000);

  expect(await applied()).toBe(history.length); // each event applied exactly once
  const rows = (await pool.query(`SELECT ${REF_COLUMNS} FROM users ORDER BY instance_id, id`)).rows;
  const ref = [...referenceUsers(history).values()].sort((a, b) => a.instance_id.localeCompare(b.instance_id) || a.id.localeCompare(b.id));
  expect(rows.length).toBeGreaterThan(500);
  expect(rows).toEqual(ref);
});
