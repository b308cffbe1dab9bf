// projector_offsets: the next offset to apply per projection and topic-partition. Written in the same
// transaction as the read-model rows, it is the source of truth for progress (Kafka group offsets are
// only a hint). A schema argument reads another schema's copy (a rebuild's shadow, or the live one from
// a shadow's pool).
import { prepared, type Queryable } from "../db/pool.ts";
import { quoteIdent } from "../fold.ts";
import type { TopicPartition } from "../kafka/port.ts";
import type { BatchFacts } from "./instance-partitions.ts";

const table = (schema?: string) => (schema === undefined ? "projector_offsets" : `${quoteIdent(schema)}.projector_offsets`);

export interface StoredOffset extends TopicPartition {
  /** Next offset to apply (everything below it is applied). */
  next: string;
  /** Set while the partition is stopped: the offset belongs to another log than the one read now. */
  logMismatch?: string | null;
}

/** A partition's stored progress and the id of the write that put it there. */
export interface StoredPosition {
  next: bigint;
  version: string;
}

/**
 * The stored next offset of one partition; a partition seen for the first time starts at `initial()`
 * (the earliest retained offset). With lock, the row stays locked until the transaction ends: members
 * that briefly own the same partition during a rebalance serialise on it.
 */
export async function storedPosition(
  db: Queryable,
  projection: string,
  tp: TopicPartition,
  initial: () => Promise<string>,
  lock = false,
): Promise<StoredPosition> {
  const select = `SELECT next_offset::text AS next, version::text AS version FROM projector_offsets
    WHERE projection = $1 AND topic = $2 AND partition = $3${lock ? " FOR UPDATE" : ""}`;
  const args = [projection, tp.topic, tp.partition];
  let { rows } = await db.query(prepared(select, args));
  if (rows.length === 0) {
    await db.query(
      `INSERT INTO projector_offsets (projection, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
       ON CONFLICT DO NOTHING`,
      [...args, await initial()],
    );
    ({ rows } = await db.query(prepared(select, args)));
  }
  const r = rows[0] as { next: string; version: string };
  return { next: BigInt(r.next), version: r.version };
}

export async function storedOffset(db: Queryable, projection: string, tp: TopicPartition, initial: () => Promise<string>, lock = false): Promise<bigint> {
  return (await storedPosition(db, projection, tp, initial, lock)).next;
}

/**
 * Compare-and-set of a partition's next offset at the end of a batch (or a flush). False when the row is
 * no longer at `from` (a rebuild switch renamed the schema under the transaction, or an operator moved
 * it), or, given `version`, when anyone else wrote it since it was read. `newVersion`: the version it
 * gets (a later write-behind window knows it before this commits); a fresh one by default. `facts`: what
 * the applied records taught about the partition (store/instance-partitions.ts), saved with it.
 */
export async function advanceOffset(
  db: Queryable,
  projection: string,
  tp: TopicPartition,
  move: { from: string; to: string; applied: number; version?: string; newVersion?: string },
  facts?: BatchFacts,
): Promise<boolean> {
  // The facts ride in the same statement (one round trip per batch less): the instances seen on the
  // partition, and the anchor if the partition has none yet (SET reads the row's old check_offset).
  const r = await db.query(
    prepared(
      `WITH seen AS (
         INSERT INTO projector_instance_partitions (projection, instance_id, topic, partition)
         SELECT $1, i, $2, $3 FROM unnest($9::text[]) AS i ON CONFLICT DO NOTHING)
       UPDATE projector_offsets SET next_offset = $4, applied_events = applied_events + $5, updated_at = now(),
         version = coalesce($8::uuid, gen_random_uuid()),
         check_offset = CASE WHEN check_offset IS NULL THEN $10::bigint ELSE check_offset END,
         check_hash = CASE WHEN check_offset IS NULL THEN $11::text ELSE check_hash END
       WHERE projection = $1 AND topic = $2 AND partition = $3 AND next_offset = $6 AND ($7::uuid IS NULL OR version = $7::uuid)`,
      [
        projection,
        tp.topic,
        tp.partition,
        move.to,
        move.applied,
        move.from,
        move.version ?? null,
        move.newVersion ?? null,
        facts ? [...facts.instances] : [],
        facts?.first.offset ?? null,
        facts?.first.hash ?? null,
      ],
    ),
  );
  return r.rowCount === 1;
}

/** Marks partitions as written from outside their projector (a switch, a retry): write-behind caches of them start over. */
export async function touchOffsets(db: Queryable, projection: string, tps: readonly TopicPartition[], schema?: string): Promise<void> {
  if (tps.length === 0) return;
  await db.query(
    `UPDATE ${table(schema)} o SET version = gen_random_uuid() FROM unnest($2::text[], $3::int[]) AS t(topic, partition)
     WHERE o.projection = $1 AND o.topic = t.topic AND o.partition = t.partition`,
    [projection, tps.map((t) => t.topic), tps.map((t) => t.partition)],
  );
}

/** Every stored partition of a projection (optionally locked, optionally in another schema). */
export async function readOffsets(db: Queryable, projection: string, opts: { schema?: string; lock?: boolean } = {}): Promise<StoredOffset[]> {
  const { rows } = await db.query(
    `SELECT topic, partition, next_offset::text AS next, log_mismatch AS "logMismatch" FROM ${table(opts.schema)} WHERE projection = $1${opts.lock ? " FOR UPDATE" : ""}`,
    [projection],
  );
  return rows as StoredOffset[];
}

/** readOffsets keyed by `topic/partition`. */
export async function offsetMap(db: Queryable, projection: string, opts: { schema?: string; lock?: boolean } = {}): Promise<Map<string, bigint>> {
  return new Map((await readOffsets(db, projection, opts)).map((r) => [`${r.topic}/${r.partition}`, BigInt(r.next)]));
}

/** The stored next offset of one partition, if it has been seen. */
export async function offsetOf(db: Queryable, projection: string, tp: TopicPartition): Promise<string | undefined> {
  const { rows } = await db.query("SELECT next_offset::text AS next FROM projector_offsets WHERE projection = $1 AND topic = $2 AND partition = $3", [
    projection,
    tp.topic,
    tp.partition,
  ]);
  return rows[0]?.next;
}

export interface OffsetStatus extends StoredOffset {
  appliedEvents: string;
  updatedAt: Date;
  /** Why the partition is stopped: its stored position does not belong to the log read now. */
  logMismatch: string | null;
}

/** What the status page and readiness show per partition, in topic and partition order. */
export async function offsetStatus(db: Queryable, projection: string): Promise<OffsetStatus[]> {
  const { rows } = await db.query(
    `SELECT topic, partition, next_offset::text AS next, applied_events::text AS "appliedEvents", updated_at AS "updatedAt",
       log_mismatch AS "logMismatch"
     FROM projector_offsets WHERE projection = $1 ORDER BY topic, partition`,
    [projection],
  );
  return rows as OffsetStatus[];
}

/** Operator replay: sets a partition's next offset; returns the previous one (null if none was stored). */
export async function moveOffset(db: Queryable, projection: string, tp: TopicPartition, to: string): Promise<string | null> {
  // Read first: a CTE of the same statement would see the row already updated, and answer null.
  const old = await db.query("SELECT next_offset::text AS next FROM projector_offsets WHERE projection = $1 AND topic = $2 AND partition = $3 FOR UPDATE", [
    projection,
    tp.topic,
    tp.partition,
  ]);
  await db.query(
    `INSERT INTO projector_offsets (projection, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
     ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now(), version = gen_random_uuid()`,
    [projection, tp.topic, tp.partition, to],
  );
  return old.rows[0]?.next ?? null;
}

/**
 * Waits for in-flight batches of a schema and holds new ones until the transaction ends: a batch
 * resolves table names per statement, so one straddling a schema rename would write into both.
 */
export async function lockOffsets(db: Queryable, schema: string): Promise<void> {
  await db.query(`LOCK TABLE ${table(schema)} IN EXCLUSIVE MODE`);
}

/** What identifies the log a partition's stored offset was read from. */
export interface LogIdentity {
  next: bigint;
  clusterId: string | null;
  /** A stored position and its record's fingerprint (the last record applied). */
  check: { offset: bigint; hash: string } | null;
  logMismatch: string | null;
}

export async function logIdentity(db: Queryable, projection: string, tp: TopicPartition): Promise<LogIdentity | undefined> {
  const { rows } = await db.query(
    `SELECT next_offset::text AS next, cluster_id, check_offset::text AS check_offset, check_hash, log_mismatch FROM projector_offsets
     WHERE projection = $1 AND topic = $2 AND partition = $3`,
    [projection, tp.topic, tp.partition],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    next: BigInt(r.next),
    clusterId: r.cluster_id,
    check: r.check_offset === null || r.check_hash === null ? null : { offset: BigInt(r.check_offset), hash: r.check_hash },
    logMismatch: r.log_mismatch,
  };
}

/** Marks a partition as read from this cluster (rows written before the cluster was known take it now). */
export async function adoptCluster(db: Queryable, projection: string, tp: TopicPartition, clusterId: string): Promise<void> {
  await db.query("UPDATE projector_offsets SET cluster_id = $4 WHERE projection = $1 AND topic = $2 AND partition = $3 AND cluster_id IS NULL", [
    projection,
    tp.topic,
    tp.partition,
    clusterId,
  ]);
}

/** Sets (or clears, with null) why a partition is stopped. */
export async function setLogMismatch(db: Queryable, projection: string, tp: TopicPartition, reason: string | null): Promise<void> {
  await db.query("UPDATE projector_offsets SET log_mismatch = $4 WHERE projection = $1 AND topic = $2 AND partition = $3", [
    projection,
    tp.topic,
    tp.partition,
    reason,
  ]);
}

/** An operator placed the offset by hand on the log read now: forget what identified the old one. */
export async function forgetLogIdentity(db: Queryable, projection: string, tp: TopicPartition): Promise<void> {
  await db.query(
    `UPDATE projector_offsets SET cluster_id = NULL, check_offset = NULL, check_hash = NULL, log_mismatch = NULL
     WHERE projection = $1 AND topic = $2 AND partition = $3`,
    [projection, tp.topic, tp.partition],
  );
}
