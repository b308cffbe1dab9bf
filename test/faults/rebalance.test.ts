// Fault: the consumer group is scaled 1 → 2 → 1 while events flow. Two users service processes share
// the consumer group, schema and a 4-partition topic: B starts while A is applying (A gives up some
// partitions mid-stream), then A is stopped gracefully (SIGTERM: drain, commit, leave the group) and B
// takes everything over. The read model equals the independent reference and every event was applied
// exactly once: no partition handover lost or re-applied a batch, also with batches folded into the
// write-behind window (WRITE_BEHIND_MIN_LAG=0) when a partition changes hands.
import { type Position, partitionForKey } from "@idp/events";
import { EventPublisher, type EventToPublish } from "@idp/producer";
import { generateHistory } from "@idp/producer/src/history.ts";
import { createPool, type KafkaClient } from "@idp/runtime";
import type pg from "pg";
import { afterAll, expect, it } from "vitest";
import { databaseUrl, kafkaBrokers, uniqueName } from "../support/env.ts";
import { type ServiceProcess, spawnService } from "../support/process.ts";
import { createTopic, dropSchema, serviceEnv, waitForPositions } from "../support/service.ts";
import { appliedEvents, expectUsersMatchReference, faultLine, relevantCount, sleep, waitForProgress } from "./fault-support.ts";

const PARTITIONS = 4;
const ENTRY = "services/users/src/main.ts";
const procs: ServiceProcess[] = [];
const pools: pg.Pool[] = [];
const schemas: string[] = [];

afterAll(async () => {
  for (const p of procs) await p.kill("SIGKILL");
  for (const pool of pools) await pool.end();
  for (const schema of schemas) await dropSchema(schema);
});

interface Member {
  proc: ServiceProcess;
  /** Every assignment the member received, in order (from its "partitions assigned" log lines). */
  assignments: number[][];
}

/** Starts a service process and records the partitions each group (re)join assigned to it. */
function startMember(env: Record<string, string>): Member {
  const proc = spawnService(ENTRY, env);
  procs.push(proc);
  const member: Member = { proc, assignments: [] };
  let buffer = "";
  proc.child.stdout?.on("data", (b: Buffer) => {
    buffer += b.toString();
    const lines = buffer.split("\n");
    buffer = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.includes('"partitions assigned"')) continue;
      const entry = JSON.parse(line) as { assigned: { partition: number }[] };
      member.assignments.push(entry.assigned.map((a) => a.partition).sort());
    }
  });
  return member;
}

const current = (m: Member) => m.assignments.at(-1) ?? [];

async function until(what: string, cond: () => boolean, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Publishes the history in small slices at a steady pace, never past the released index. */
class Trickle {
  readonly positions: Position[] = [];
  sent = 0;
  private allowed = 0;
  private stopped = false;
  readonly done: Promise<void>;
  private readonly publisher: EventPublisher;
  private readonly events: EventToPublish[];
  private slice: number;
  private pauseMs: number;

  constructor(publisher: EventPublisher, events: EventToPublish[], slice: number, pauseMs: number) {
    this.publisher = publisher;
    this.events = events;
    this.slice = slice;
    this.pauseMs = pauseMs;
    this.done = this.run();
    this.done.catch(() => {}); // awaited by the test; never an unhandled rejection
  }

  private async run() {
    while (!this.stopped && this.sent < this.events.length) {
      if (this.sent >= this.allowed) {
        await sleep(10);
        continue;
      }
      const end = Math.min(this.allowed, this.sent + this.slice);
      this.positions.push(...(await this.publisher.publish(this.events.slice(this.sent, end))));
      this.sent = end;
      await sleep(this.pauseMs);
    }
  }
  pace(slice: number, pauseMs: number) {
    this.slice = slice;
    this.pauseMs = pauseMs;
  }
  stop() {
    this.stopped = true;
  }
  release(fraction: number) {
    this.allowed = Math.max(this.allowed, Math.round(this.events.length * fraction));
  }
}

/** Member A alone, B joins mid-stream, A leaves (SIGTERM) and B takes over; each on its Kafka client (unset: as configured). */
async function scaleOutAndIn(clients: { a?: KafkaClient; b?: KafkaClient } = {}) {
  const schema = uniqueName("fault_rebalance");
  schemas.push(schema);
  const pool = createPool({ connectionString: databaseUrl(), schema, max: 2 });
  pools.push(pool);
  const topic = await createTopic("fault_rebalance", PARTITIONS);
  // Same GROUP_ID (derived from the schema), same schema, same topic for both members.
  const env = serviceEnv(topic, schema, { LOG_LEVEL: "info", PARTITIONS_CONCURRENCY: "2", WRITE_BEHIND_MIN_LAG: "0", WRITE_BEHIND_MAX_DELAY_MS: "500" });
  const first = procs.length;
  const history = generateHistory({ seed: 4040, instances: 8, orgsPerInstance: 3, usersPerOrg: 40, eventsPerUser: 8, orgRemovalRate: 0.1, prefix: "rb-" });
  const expected = relevantCount(history);
  // Events are keyed by instance: the instances must cover every partition for both members to work.
  const used = new Set(history.map((e) => partitionForKey(e.instanceId, PARTITIONS)));
  expect([...used].sort()).toEqual([0, 1, 2, 3]);

  const publisher = await EventPublisher.connect({ brokers: kafkaBrokers(), topic });
  const trickle = new Trickle(publisher, history, 50, 100);
  try {
    // One member.
    const a = startMember(clients.a ? { ...env, KAFKA_CLIENT: clients.a } : env);
    trickle.release(0.3);
    await waitForProgress(pool, 0, 60_000, "member A");
    await until("A to own every partition", () => current(a).length === PARTITIONS);

    // Scale out: B joins while events flow and A is applying; the group splits the partitions.
    trickle.release(0.75);
    const b = startMember(clients.b ? { ...env, KAFKA_CLIENT: clients.b } : env);
    await until("B to be assigned partitions", () => current(b).length > 0);
    await until("A to give up B's partitions", () => current(a).length < PARTITIONS);
    const atScaleOut = { applied: await appliedEvents(pool), published: relevantCount(history.slice(0, trickle.sent)) };
    const split = { a: current(a), b: current(b) };
    expect([...split.a, ...split.b].sort()).toEqual([0, 1, 2, 3]); // disjoint, and nothing unowned
    // The group of two applies everything published so far.
    await waitForPositions(pool, "users", [...trickle.positions], 60_000);

    // Scale in: the rest of the stream arrives in a burst, and A leaves gracefully (SIGTERM) while both
    // members are applying it; B takes over all partitions.
    const beforeBurst = await appliedEvents(pool);
    trickle.pace(500, 0);
    trickle.release(1);
    await waitForProgress(pool, beforeBurst, 60_000, "the group of two (burst)");
    const atScaleIn = { applied: await appliedEvents(pool), published: relevantCount(history.slice(0, trickle.sent)) };
    const code = await a.proc.kill("SIGTERM");
    expect(code, a.proc.output()).toBe(0); // drained, committed, left the group: a clean exit
    await until("B to own every partition", () => current(b).length === PARTITIONS);

    await trickle.done;
    await waitForPositions(pool, "users", trickle.positions, 90_000);
    expect(b.proc.child.exitCode).toBeNull(); // B is still running

    const applied = await appliedEvents(pool);
    faultLine(clients.a ? `rebalance ${clients.a}→${clients.b}` : "rebalance", expected, applied, {
      split: `A[${split.a}]/B[${split.b}]`,
      backlogAtScaleOut: atScaleOut.published - atScaleOut.applied,
      backlogAtScaleIn: atScaleIn.published - atScaleIn.applied,
      assignmentsA: a.assignments.length,
      assignmentsB: b.assignments.length,
    });
    expect(applied).toBe(expected); // each event applied exactly once
    await expectUsersMatchReference(pool, history, 500);
  } catch (err) {
    // The members' own logs are the evidence of what went wrong.
    for (const [i, p] of procs.slice(first).entries()) {
      console.error(`--- member ${"AB"[i]} (exit ${p.child.exitCode ?? p.child.signalCode}) output tail:\n${p.output().slice(-6000)}`);
    }
    throw err;
  } finally {
    trickle.stop();
    await trickle.done.catch(() => {});
    await publisher.close();
  }
}

it("scales the consumer group 1 → 2 → 1 mid-stream: nothing lost, nothing applied twice", async () => {
  await scaleOutAndIn();
});

// A rolling switch of clients: members of both share the group (the same assignor name and protocol version).
it("a kafkajs member and a @platformatic/kafka member share the group while one replaces the other", async () => {
  await scaleOutAndIn({ a: "kafkajs", b: "platformatic" });
});
