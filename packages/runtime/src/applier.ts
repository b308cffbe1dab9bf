// One Kafka batch → one PostgreSQL transaction: read-model rows, aggregate sequences, parked events and
// the partition's next offset commit together, so a crash at any instant loses nothing and applies
// nothing twice. The offsets row is locked (FOR UPDATE): two members briefly owning the same partition
// during a rebalance serialise here, and the second sees the advanced offset and skips.
import {
  type EventCatalog,
  type EventEnvelope,
  HEADER,
  headersToEnvelope,
} from "@idp/events";
import type pg from "pg";
import type { Logger } from "pino";
import { type Queryable, withTransaction } from "./db/pool.ts";
import { classifyError } from "./errors.ts";
import { applyEvents, EventApplyError } from "./fold.ts";
import type { AdminPort, BatchOutcome, ConsumedRecord, RecordBatch, TopicPartition } from "./kafka/port.ts";
import type { ProjectedEvent, Projection } from "./projection.ts";

export interface ApplierOptions {
  pool: pg.Pool;
  projection: Projection;
  catalog: EventCatalog;
  admin: AdminPort;
  logger: Logger;
  /** Deterministic failures of one event before it is parked. */
  maxAttempts: number;
  /** Only records passing this are applied (a single-instance rebuild reads one tenant's events). */
  recordFilter?: (r: ConsumedRecord) => boolean;
}

export interface BatchStats {
  applied: number;
  /** Records of event types this projection does not read. */
  ignored: number;
  /** Events at or below their aggregate's applied sequence (redelivery, producer retry). */
  duplicates: number;
  parked: number;
  statements: number;
}

export type ApplyResult = BatchOutcome & { stats?: BatchStats };

interface Pending {
  record: ConsumedRecord;
  /** Missing when the record failed to decode (it is then parked). */
  event?: ProjectedEvent;
  /** The headers' envelope when the payload failed but the headers were fine. */
  envelope?: EventEnvelope;
  /** aggregateId() of the event or envelope. */
  aggregate?: string;
}

type AggregateRef = Pick<EventEnvelope, "instanceId" | "aggregateType" | "aggregateId">;
const aggregateId = (e: AggregateRef) =>
  `${e.instanceId}\u0000${e.aggregateType}\u0000${e.aggregateId}`;
const recordId = (r: ConsumedRecord) => `${r.topic}/${r.partition}/${r.offset}`;

export class BatchApplier {
  /** Failed attempts per record (topic/partition/offset); parked once it reaches maxAttempts. */
  private readonly attempts = new Map<string, { count: number; error: string }>();
  /** Partitions whose last attempt failed in SQL without a culprit: retry one savepoint per event. */
  private readonly isolate = new Set<string>();
  private readonly handled: Set<string>;

  constructor(private readonly opts: ApplierOptions) {
    this.handled = new Set(opts.projection.eventTypes());
  }

  /** Where each assigned partition starts: the stored offset, or the earliest retained offset if new. */
  async startOffsets(assigned: TopicPartition[]): Promise<(TopicPartition & { offset: string })[]> {
    const out: (TopicPartition & { offset: string })[] = [];
    for (const tp of assigned) out.push({ ...tp, offset: (await this.storedOffset(this.opts.pool, tp)).toString() });
    return out;
  }

  private async storedOffset(db: Queryable, tp: TopicPartition, lock = false): Promise<bigint> {
    const select = `SELECT next_offset::text AS next FROM projector_offsets
      WHERE projection = $1 AND topic = $2 AND partition = $3${lock ? " FOR UPDATE" : ""}`;
    const args = [this.opts.projection.name, tp.topic, tp.partition];
    let { rows } = await db.query(select, args);
    if (rows.length === 0) {
      const low = (await this.opts.admin.partitionOffsets(tp.topic)).find((p) => p.partition === tp.partition)?.low ?? "0";
      await db.query(
        `INSERT INTO projector_offsets (projection, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING`,
        [...args, low],
      );
      ({ rows } = await db.query(select, args));
    }
    return BigInt((rows[0] as { next: string }).next);
  }

  async apply(batch: RecordBatch): Promise<ApplyResult> {
    const tpKey = `${batch.topic}/${batch.partition}`;
    try {
      const result = await withTransaction(this.opts.pool, (db) => this.applyInTransaction(db, batch, tpKey));
      this.isolate.delete(tpKey);
      if (result.kind === "done") {
        for (const r of batch.records) this.attempts.delete(recordId(r));
      }
      return result;
    } catch (err) {
      if (classifyError(err) === "transient") throw err;
      if (err instanceof EventApplyError) {
        const r = batch.records.find((x) => x.offset === err.event.position.offset);
        if (r) this.countFailure(r, err);
      } else {
        this.isolate.add(tpKey); // a set-based statement failed: find the culprit event by event
      }
      throw err;
    }
  }

  private countFailure(r: ConsumedRecord, err: unknown) {
    const id = recordId(r);
    const prev = this.attempts.get(id)?.count ?? 0;
    this.attempts.set(id, { count: prev + 1, error: errorText(err) });
  }

  private exhausted(r: ConsumedRecord) {
    if (this.attempts.size === 0) return undefined; // the usual case: no key to build
    const a = this.attempts.get(recordId(r));
    return a && a.count >= this.opts.maxAttempts ? a : undefined;
  }

  private async applyInTransaction(db: pg.PoolClient, batch: RecordBatch, tpKey: string): Promise<ApplyResult> {
    const { projection, catalog } = this.opts;
    const stats: BatchStats = { applied: 0, ignored: 0, duplicates: 0, parked: 0, statements: 0 };
    const next = await this.storedOffset(db, batch, true);
    // Offsets ascend within a batch: usually the first record is already at or past the stored offset.
    const from = batch.records.findIndex((r) => BigInt(r.offset) >= next);
    const records = from === -1 ? [] : from === 0 ? batch.records : batch.records.slice(from);
    const last = batch.records.at(-1);
    if (records.length === 0 || !last) return { kind: "done", nextOffset: next.toString(), stats };
    const first = BigInt((records[0] as ConsumedRecord).offset);
    if (first > next && BigInt(batch.fetchedOffset) !== next) {
      // Records past our stored position, fetched from elsewhere (the group offset is ahead, a batch
      // prefetched before a seek, a rebuild switch): go back. Fetched from our position yet starting
      // later means those offsets hold no records (e.g. transaction markers): nothing is skipped.
      return { kind: "seek", offset: next.toString() };
    }

    // 1. Decode what this projection reads; everything else is skipped by header, undecoded.
    const decoded: Pending[] = [];
    const aggregates = new Map<string, AggregateRef>();
    for (const record of records) {
      const type = record.headers[HEADER.eventType];
      if (type === undefined || !this.handled.has(type) || (this.opts.recordFilter && !this.opts.recordFilter(record))) {
        if (type === undefined) this.opts.logger.warn({ record: recordId(record) }, "record without event-type header skipped");
        stats.ignored++;
        continue;
      }
      let envelope: EventEnvelope | undefined;
      try {
        envelope = headersToEnvelope(record.headers);
        if (!record.value) throw new Error("record has no value");
        const payload = catalog.decode(envelope.eventType, envelope.schemaVersion, record.value);
        const aggregate = aggregateId(envelope);
        aggregates.set(aggregate, envelope);
        decoded.push({ record, aggregate, event: { ...envelope, payload, position: { topic: record.topic, partition: record.partition, offset: record.offset } } });
      } catch (err) {
        this.countFailure(record, err);
        if (!this.exhausted(record)) throw new DecodeFailure(record, err);
        if (envelope) aggregates.set(aggregateId(envelope), envelope);
        decoded.push({ record, ...(envelope ? { envelope, aggregate: aggregateId(envelope) } : {}) });
      }
    }

    // 2. Sequence guard and parking, per aggregate, in stream order.
    const { sequences, parkedAggregates } = await this.loadAggregateStates(db, aggregates);
    const toApply: ProjectedEvent[] = [];
    for (const { record, event, envelope, aggregate: agg } of decoded) {
      const env = event ?? envelope;
      const blockedBy = agg === undefined ? undefined : parkedAggregates.get(agg);
      if (blockedBy !== undefined) {
        const error = `waiting behind parked event #${blockedBy} of the same aggregate`;
        await this.park(db, record, env, error, 0, blockedBy);
        stats.parked++;
        continue;
      }
      if (env && agg !== undefined && env.aggregateSequence <= (sequences.get(agg) ?? 0)) {
        stats.duplicates++;
        continue;
      }
      const failed = this.exhausted(record);
      if (failed || !event || agg === undefined) {
        const id = await this.park(db, record, env, failed?.error ?? "undecodable", failed?.count ?? 0, null);
        if (agg !== undefined) parkedAggregates.set(agg, id);
        stats.parked++;
        continue;
      }
      sequences.set(agg, event.aggregateSequence); // drops in-batch duplicates too
      toApply.push(event);
    }

    // 3. Apply: set-based normally; one savepoint per event after an unattributed SQL failure.
    let applied = toApply;
    if (this.isolate.has(tpKey)) {
      applied = await this.applyIsolated(db, toApply, records, parkedAggregates, stats);
    } else {
      stats.statements += (await applyEvents(db, projection, toApply)).statements;
    }
    stats.applied = applied.length;

    // 4. Bookkeeping in the same transaction. Sequences come from what really applied: an event parked
    // in isolation must stay unapplied, or a later retry would drop it as a duplicate.
    const lastApplied = new Map<string, ProjectedEvent>();
    for (const e of applied) lastApplied.set(aggregateId(e), e);
    if (lastApplied.size) {
      const rows = [...lastApplied.values()].map((e) => ({
        instance_id: e.instanceId,
        aggregate_type: e.aggregateType,
        aggregate_id: e.aggregateId,
        sequence: e.aggregateSequence,
      }));
      await db.query(
        `INSERT INTO projector_aggregate_sequences (projection, instance_id, aggregate_type, aggregate_id, sequence)
         SELECT $1, r.instance_id, r.aggregate_type, r.aggregate_id, r.sequence
         FROM jsonb_to_recordset($2::jsonb) AS r(instance_id text, aggregate_type text, aggregate_id text, sequence bigint)
         ON CONFLICT (projection, instance_id, aggregate_type, aggregate_id) DO UPDATE SET sequence = EXCLUDED.sequence`,
        [projection.name, JSON.stringify(rows)],
      );
    }
    const nextOffset = (BigInt(last.offset) + 1n).toString();
    // Compare-and-set: if the offsets row is no longer the one read at the start (a rebuild switch renamed
    // the schema under this transaction, or an operator moved it), everything rolls back and is retried.
    const moved = await db.query(
      `UPDATE projector_offsets SET next_offset = $4, applied_events = applied_events + $5, updated_at = now()
       WHERE projection = $1 AND topic = $2 AND partition = $3 AND next_offset = $6`,
      [projection.name, batch.topic, batch.partition, nextOffset, stats.applied, next.toString()],
    );
    if (moved.rowCount !== 1) throw new OffsetConflictError(`${batch.topic}/${batch.partition}: stored offset changed during the batch`);
    return { kind: "done", nextOffset, stats };
  }

  private async applyIsolated(
    db: pg.PoolClient,
    events: ProjectedEvent[],
    records: ConsumedRecord[],
    parkedAggregates: Map<string, number>,
    stats: BatchStats,
  ): Promise<ProjectedEvent[]> {
    const applied: ProjectedEvent[] = [];
    const byOffset = new Map(records.map((r) => [r.offset, r]));
    for (const event of events) {
      const record = byOffset.get(event.position.offset) as ConsumedRecord;
      const agg = aggregateId(event);
      const blockedBy = parkedAggregates.get(agg);
      if (blockedBy !== undefined) {
        await this.park(db, record, event, `waiting behind parked event #${blockedBy} of the same aggregate`, 0, blockedBy);
        stats.parked++;
        continue;
      }
      await db.query("SAVEPOINT apply_event");
      try {
        stats.statements += (await applyEvents(db, this.opts.projection, [event])).statements;
        await db.query("RELEASE SAVEPOINT apply_event");
        applied.push(event);
      } catch (err) {
        if (classifyError(err) === "transient") throw err;
        await db.query("ROLLBACK TO SAVEPOINT apply_event");
        this.countFailure(record, err);
        const a = this.exhausted(record);
        if (!a) throw err;
        parkedAggregates.set(agg, await this.park(db, record, event, a.error, a.count, null));
        stats.parked++;
      }
    }
    return applied;
  }

  /**
   * Operator retry: applies the parked events of one aggregate in stream order, each under a savepoint.
   * Stops at the first failure (it stays parked with the new error, and so do the events behind it).
   */
  async retryParked(db: pg.PoolClient, aggregate: { instanceId: string; aggregateType: string; aggregateId: string }) {
    const { projection, catalog } = this.opts;
    const { rows } = await db.query(
      `SELECT id, topic, partition, "offset"::text AS offset, headers, payload FROM projector_parked_events
       WHERE projection = $1 AND instance_id = $2 AND aggregate_type = $3 AND aggregate_id = $4 AND status = 'parked'
       ORDER BY topic, partition, "offset" FOR UPDATE`,
      [projection.name, aggregate.instanceId, aggregate.aggregateType, aggregate.aggregateId],
    );
    const [sequence] = (await this.loadAggregateStates(db, new Map([[aggregateId(aggregate), aggregate]]))).sequences.values();
    let last = sequence ?? 0;
    const result = { applied: [] as number[], duplicates: [] as number[], failed: undefined as { id: number; error: string } | undefined };
    for (const r of rows) {
      await db.query("SAVEPOINT retry_event");
      try {
        const envelope = headersToEnvelope(r.headers);
        const payload = catalog.decode(envelope.eventType, envelope.schemaVersion, r.payload);
        if (envelope.aggregateSequence <= last) {
          result.duplicates.push(Number(r.id));
        } else {
          await applyEvents(db, projection, [{ ...envelope, payload, position: { topic: r.topic, partition: r.partition, offset: r.offset } }]);
          last = envelope.aggregateSequence;
          result.applied.push(Number(r.id));
        }
        await db.query("UPDATE projector_parked_events SET status = 'applied', resolved_at = now() WHERE id = $1", [r.id]);
        await db.query("RELEASE SAVEPOINT retry_event");
      } catch (err) {
        if (classifyError(err) === "transient") throw err;
        await db.query("ROLLBACK TO SAVEPOINT retry_event");
        const error = errorText(err);
        await db.query("UPDATE projector_parked_events SET error = $2, attempts = attempts + 1, blocked_by = NULL WHERE id = $1", [r.id, error]);
        result.failed = { id: Number(r.id), error };
        break;
      }
    }
    if (last > (sequence ?? 0)) {
      await db.query(
        `INSERT INTO projector_aggregate_sequences (projection, instance_id, aggregate_type, aggregate_id, sequence) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (projection, instance_id, aggregate_type, aggregate_id) DO UPDATE SET sequence = EXCLUDED.sequence`,
        [projection.name, aggregate.instanceId, aggregate.aggregateType, aggregate.aggregateId, last],
      );
    }
    return result;
  }

  /**
   * Per aggregate of the batch: the highest applied sequence and the first parked event it waits behind,
   * in one round trip. Keys go as [instance, type, id] triples and rows come back by their ordinal.
   */
  private async loadAggregateStates(db: Queryable, keys: ReadonlyMap<string, AggregateRef>) {
    const sequences = new Map<string, number>();
    const parkedAggregates = new Map<string, number>();
    if (keys.size === 0) return { sequences, parkedAggregates };
    const ids = [...keys.keys()];
    const { rows } = await db.query(
      `WITH k AS (
         SELECT x.ord, x.k->>0 AS instance_id, x.k->>1 AS aggregate_type, x.k->>2 AS aggregate_id
         FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS x(k, ord))
       SELECT k.ord::int AS ord, false AS parked, s.sequence::float8 AS value FROM k
         JOIN projector_aggregate_sequences s ON s.projection = $1 AND s.instance_id = k.instance_id
           AND s.aggregate_type = k.aggregate_type AND s.aggregate_id = k.aggregate_id
       UNION ALL
       SELECT k.ord::int, true, min(p.id)::float8 FROM k
         JOIN projector_parked_events p ON p.projection = $1 AND p.instance_id = k.instance_id
           AND p.aggregate_type = k.aggregate_type AND p.aggregate_id = k.aggregate_id AND p.status = 'parked'
         GROUP BY k.ord`,
      [this.opts.projection.name, JSON.stringify([...keys.values()].map((a) => [a.instanceId, a.aggregateType, a.aggregateId]))],
    );
    for (const r of rows as { ord: number; parked: boolean; value: number }[]) {
      (r.parked ? parkedAggregates : sequences).set(ids[r.ord - 1] as string, r.value);
    }
    return { sequences, parkedAggregates };
  }

  private async park(
    db: Queryable,
    record: ConsumedRecord,
    envelope: EventEnvelope | undefined,
    error: string,
    attempts: number,
    blockedBy: number | null,
  ): Promise<number> {
    const { rows } = await db.query(
      `INSERT INTO projector_parked_events (projection, topic, partition, "offset", instance_id, aggregate_type,
         aggregate_id, aggregate_sequence, event_type, headers, payload, error, attempts, blocked_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
       ON CONFLICT (projection, topic, partition, "offset") DO UPDATE SET error = EXCLUDED.error
       RETURNING id`,
      [
        this.opts.projection.name,
        record.topic,
        record.partition,
        record.offset,
        envelope?.instanceId ?? record.headers[HEADER.instanceId] ?? null,
        envelope?.aggregateType ?? record.headers[HEADER.aggregateType] ?? null,
        envelope?.aggregateId ?? record.headers[HEADER.aggregateId] ?? null,
        envelope?.aggregateSequence ?? null,
        envelope?.eventType ?? record.headers[HEADER.eventType] ?? null,
        JSON.stringify(record.headers),
        record.value,
        error,
        attempts,
        blockedBy,
      ],
    );
    this.opts.logger.warn(
      { record: recordId(record), eventType: envelope?.eventType, aggregateId: envelope?.aggregateId, blockedBy, error },
      blockedBy ? "event parked behind an earlier parked event" : "event parked",
    );
    return Number(rows[0].id);
  }
}

/** The partition's stored offset changed under a batch (schema switch, operator replay): retry it. */
export class OffsetConflictError extends Error {
  override readonly name = "OffsetConflictError";
  readonly code = "OFFSET_CONFLICT";
}

/** A record could not be decoded; retried until maxAttempts, then parked. */
export class DecodeFailure extends Error {
  override readonly name = "DecodeFailure";
  constructor(
    readonly record: ConsumedRecord,
    override readonly cause: unknown,
  ) {
    super(`record ${recordId(record)}: ${errorText(cause)}`);
  }
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 2000);
