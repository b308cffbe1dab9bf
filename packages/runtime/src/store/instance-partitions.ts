// What a batch teaches about the log, written in the batch's own transaction with its offset
// (advanceOffset in offsets.ts): which partition each instance's events arrived on
// (projector_instance_partitions), and, once per partition, a fingerprint of
// the first record applied (the anchor), kept beside the partition's offset so the projector can tell
// later whether it still reads the same log. The anchor never moves with progress: a replaced log whose
// records were taken for new ones is still found out by it. A tenant's partition is learned here, never assumed from the key's hash; the default
// partitioner (murmur2) is only the guess for an instance never seen.

import { createHash } from "node:crypto";
import { HEADER, idSchema, partitionForKey } from "@idp/events";
import type { Queryable } from "../db/pool.ts";
import type { ConsumedRecord, TopicPartition } from "../kafka/port.ts";

/** A record's fingerprint: the same offset of the same log always gives the same one. */
export function recordHash(r: Pick<ConsumedRecord, "key" | "value" | "headers">): string {
  const h = createHash("sha256");
  h.update(r.key ?? Buffer.alloc(0))
    .update("\u0000")
    .update(r.value ?? Buffer.alloc(0))
    .update("\u0000");
  h.update(JSON.stringify(r.headers));
  return h.digest("hex").slice(0, 32);
}

/** The instance a record names, if it is a valid id (hostile headers are parked, never recorded). */
function instanceOf(r: ConsumedRecord): string | undefined {
  const raw: unknown = (r.headers as Record<string, unknown>)[HEADER.instanceId];
  const id = typeof raw === "string" ? raw : Buffer.isBuffer(raw) ? raw.toString("utf8") : undefined;
  return id !== undefined && idSchema.safeParse(id).success ? id : undefined;
}

/** What a batch (or the batches of a write-behind window) teaches about one partition. */
export interface BatchFacts extends TopicPartition {
  instances: Set<string>;
  /** The first record's offset and fingerprint: the partition's anchor if it has none yet. */
  first: { offset: string; hash: string };
}

/** The facts of records in offset order, all on one partition (undefined for none). */
export function batchFacts(records: readonly ConsumedRecord[]): BatchFacts | undefined {
  const first = records[0];
  if (!first) return undefined;
  const instances = new Set<string>();
  for (const r of records) {
    const i = instanceOf(r);
    if (i !== undefined) instances.add(i);
  }
  return { topic: first.topic, partition: first.partition, instances, first: { offset: first.offset, hash: recordHash(first) } };
}

/** Facts of later records of the same partition added to earlier ones (the anchor stays the earliest). */
export function mergeFacts(earlier: BatchFacts | undefined, later: BatchFacts | undefined): BatchFacts | undefined {
  if (!earlier || !later) return earlier ?? later;
  for (const i of later.instances) earlier.instances.add(i);
  return earlier;
}

/** The partitions an instance's events were seen on, per topic. */
export async function learnedPartitions(db: Queryable, projection: string, instanceId: string): Promise<Map<string, number[]>> {
  const { rows } = await db.query(
    "SELECT topic, partition FROM projector_instance_partitions WHERE projection = $1 AND instance_id = $2 ORDER BY topic, partition",
    [projection, instanceId],
  );
  const out = new Map<string, number[]>();
  for (const r of rows as TopicPartition[]) out.set(r.topic, [...(out.get(r.topic) ?? []), r.partition]);
  return out;
}

/** The partitions of one topic holding an instance's events: learned ones, else the default partitioner's guess. */
export async function partitionsOfInstance(db: Queryable, projection: string, instanceId: string, topic: string, partitionCount: number): Promise<number[]> {
  const learned = (await learnedPartitions(db, projection, instanceId)).get(topic);
  return learned?.length ? learned : [partitionForKey(instanceId, partitionCount)];
}
