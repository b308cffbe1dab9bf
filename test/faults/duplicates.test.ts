// Fault: duplicated delivery. Every event is published at least twice, as producer retries do: half of
// them again right after themselves, the other half again after the NEXT chunk of the stream (so after
// later events of the same aggregate: out-of-order duplicates), plus a sample of older events replayed a
// third time. Retries carry the same event id. The read model must equal the reference computed over the
// de-duplicated history, applied_events must count each unique event once, and every extra copy must be
// dropped by the sequence guard (projector_events_duplicate_total).

import { randomUUID } from "node:crypto";
import type { Position } from "@idp/events";
import type { EventToPublish } from "@idp/producer";
import { generateHistory, prng } from "@idp/producer/src/history.ts";
import { afterAll, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { createTopic, startTestService, type TestService, waitForPositions } from "../support/service.ts";
import { appliedEvents, chunksOf, expectUsersMatchReference, faultLine, relevantCount, within } from "./fault-support.ts";

let t: TestService | undefined;

afterAll(async () => {
  await within(t?.close() ?? Promise.resolve(), 30_000, "service stop").catch((err) => console.error(err));
});

const eventKey = (e: EventToPublish) => `${e.instanceId}\u0000${e.aggregateId}\u0000${e.aggregateSequence}`;

/** The stream as the broker receives it from a retrying producer (see the file comment). */
function withDuplicates(history: EventToPublish[], seed: number): EventToPublish[] {
  const random = prng(seed);
  const stream: EventToPublish[] = [];
  let deferred: EventToPublish[] = [];
  let seen = 0;
  for (const chunk of chunksOf(history, 25)) {
    const later: EventToPublish[] = [];
    for (const e of chunk) {
      stream.push(e);
      if (random.chance(0.5)) stream.push(e);
      else later.push(e);
    }
    stream.push(...deferred);
    deferred = later;
    seen += chunk.length;
    for (let k = 0; k < chunk.length / 10; k++) stream.push(history[random.int(seen)] as EventToPublish);
  }
  stream.push(...deferred);
  return stream;
}

it("every event published twice, some out of order: same read model, each event applied once", async () => {
  t = await startTestService(usersService, { topic: await createTopic("fault_dup", 4) });
  const history = generateHistory({ seed: 5050, instances: 8, orgsPerInstance: 3, usersPerOrg: 25, eventsPerUser: 7, orgRemovalRate: 0.1, prefix: "dup-" }).map(
    (e) => ({ ...e, eventId: randomUUID() }), // a retried record carries the same event id
  );
  const stream = withDuplicates(history, 5051);

  // The stream is what this test claims it is: each event at least twice, many copies after later
  // events of their aggregate, and de-duplicating it gives back the history in its order.
  const copies = new Map<string, number>();
  for (const e of stream) copies.set(eventKey(e), (copies.get(eventKey(e)) ?? 0) + 1);
  expect([...copies.values()].every((n) => n >= 2)).toBe(true);
  const lastSeq = new Map<string, number>();
  let outOfOrder = 0;
  for (const e of stream) {
    const agg = `${e.instanceId}\u0000${e.aggregateId}`;
    if (e.aggregateSequence < (lastSeq.get(agg) ?? 0)) outOfOrder++;
    lastSeq.set(agg, Math.max(e.aggregateSequence, lastSeq.get(agg) ?? 0));
  }
  expect(outOfOrder).toBeGreaterThan(1000);
  const firstSeen = new Set<string>();
  const deduplicated = stream.filter((e) => !firstSeen.has(eventKey(e)) && firstSeen.add(eventKey(e)));
  expect(deduplicated).toEqual(history);

  const positions: Position[] = [];
  for (const slice of chunksOf(stream, Math.ceil(stream.length / 1000))) positions.push(...(await t.publisher.publish(slice)));
  expect(positions).toHaveLength(stream.length);
  await waitForPositions(t.svc.pool, "users", positions, 90_000);

  const unique = relevantCount(deduplicated);
  const published = relevantCount(stream);
  const applied = await appliedEvents(t.svc.pool);
  const dropped = (await t.svc.metrics.duplicates.get()).values.reduce((n, v) => n + v.value, 0);
  faultLine("duplicates", unique, applied, { recordsPublished: published, outOfOrderCopies: outOfOrder, droppedAsDuplicate: dropped });
  expect(applied).toBe(unique); // each unique event applied exactly once
  expect(dropped).toBe(published - unique); // and every extra copy recognised as a duplicate
  await expectUsersMatchReference(t.svc.pool, deduplicated, 400);
});
