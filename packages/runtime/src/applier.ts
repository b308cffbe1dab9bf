// One Kafka batch → one PostgreSQL transaction: read-model rows, aggregate sequences, parked events and
// the partition's next offset commit together, so a crash at any instant loses nothing and applies
// nothing twice. The offsets row is locked (FOR UPDATE): two members briefly owning the same partition
// during a rebalance serialise here, and the second sees the advanced offset and skips.
import { type EventCatalog, type EventEnvelope, HEADER } from "@idp/events";
import type pg from "pg";
import type { Logger } from "pino";
import { type Queryable, withTransaction } from "./db/pool.ts";
import { classifyError } from "./errors.ts";
import { AttemptCounter, markRecordAttempt, OffsetConflictError, recordId } from "./failures.ts";
import { applyEvents, EventApplyError } from "./fold.ts";
import type { AdminPort, BatchOutcome, ConsumedRecord, RecordBatch, TopicPartition } from "./kafka/port.ts";
import type { ProjectedEvent, Projection } from "./projection.ts";
import { decodeRecord, UndecodableRecordError } from "./record-contract.ts";
import { advance, judge, type SequenceState } from "./sequence-rule.ts";
import { recordBatchFacts } from "./store/instance-partitions.ts";
import { advanceOffset, storedOffset } from "./store/offsets.ts";
import { park } from "./store/parked.ts";
import { type AggregateRef, aggregateRefKey, loadAggregateStates, type ParkedHead, saveSequences } from "./store/sequences.ts";

export interface ApplierOptions {
  pool: pg.Pool;
  projection: Projection;
  catalog: EventCatalog;
  admin: AdminPort;
  logger: Logger;
  /** Failures of one event in a reducer or its SQL before it is parked (a record that cannot be decoded parks at once). */
  maxAttempts: number;
  /** Only records passing this are applied (a single-instance rebuild reads one tenant's events). */
  recordFilter?: (r: ConsumedRecord) => boolean;
}

export interface BatchStats {
  applied: number;
  /** Records of event types this projection does not read. */
  ignored: number;
  /** Events dropped by the sequence rule as already applied (redelivery, producer retry, replay). */
  duplicates: number;
  parked: number;
  /** Of the parked: new events at or below their aggregate's applied sequence (sequence-rule.ts). */
  outOfOrder: number;
  statements: number;
}

export type ApplyResult = BatchOutcome & { stats?: BatchStats };

interface Pending {
  record: ConsumedRecord;
  /** Missing when the record failed to decode (it is then parked). */
  event?: ProjectedEvent;
  /** The headers' envelope when the payload failed but the headers were fine. */
  envelope?: EventEnvelope;
  /** aggregateRefKey() of the event or envelope. */
  aggregate?: string;
  /** Why it could not be decoded. */
  error?: string;
}

/** A parked event holds up a later record of its aggregate; the record at its own position (a replay) is judged again. */
const holdsUp = (head: ParkedHead | undefined, r: ConsumedRecord) =>
  head !== undefined && (head.topic !== r.topic || head.partition !== r.partition || BigInt(head.offset) < BigInt(r.offset));

const waitingBehind = (id: number) => `waiting behind parked event #${id} of the same aggregate`;

export class BatchApplier {
  private readonly attempts: AttemptCounter;
  /** Partitions whose last attempt failed in SQL without a culprit: retry one savepoint per event. */
  private readonly isolate = new Set<string>();
  private readonly handled: Set<string>;

  private readonly opts: ApplierOptions;

  constructor(opts: ApplierOptions) {
    this.opts = opts;
    this.handled = new Set(opts.projection.eventTypes());
    this.attempts = new AttemptCounter(opts.maxAttempts);
  }

  /** Where each assigned partition starts: the stored offset, or the earliest retained offset if new. */
  async startOffsets(assigned: TopicPartition[]): Promise<(TopicPartition & { offset: string })[]> {
    const out: (TopicPartition & { offset: string })[] = [];
    for (const tp of assigned) out.push({ ...tp, offset: (await this.storedOffset(this.opts.pool, tp)).toString() });
    return out;
  }

  private storedOffset(db: Queryable, tp: TopicPartition, lock = false): Promise<bigint> {
    const earliest = async () => (await this.opts.admin.partitionOffsets(tp.topic)).find((p) => p.partition === tp.partition)?.low ?? "0";
    return storedOffset(db, this.opts.projection.name, tp, earliest, lock);
  }

  async apply(batch: RecordBatch): Promise<ApplyResult> {
    const tpKey = `${batch.topic}/${batch.partition}`;
    try {
      const result = await withTransaction(this.opts.pool, (db) => this.applyInTransaction(db, batch, tpKey));
      this.isolate.delete(tpKey);
      if (result.kind === "done") this.attempts.forget(batch.records);
      return result;
    } catch (err) {
      if (classifyError(err) === "transient") throw err;
      if (err instanceof EventApplyError) {
        const r = batch.records.find((x) => x.offset === err.event.position.offset);
        if (r) markRecordAttempt(err, this.attempts.fail(r, err));
      } else {
        this.isolate.add(tpKey); // a set-based statement failed: find the culprit event by event
      }
      throw err;
    }
  }

  private async applyInTransaction(db: pg.PoolClient, batch: RecordBatch, tpKey: string): Promise<ApplyResult> {
    const { projection, catalog } = this.opts;
    const stats: BatchStats = { applied: 0, ignored: 0, duplicates: 0, parked: 0, outOfOrder: 0, statements: 0 };
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

    // 1. Decode what this projection reads; everything else is skipped by header, undecoded. A record
    // that breaks the contract or does not decode parks on first sight: its bytes never change.
    const decoded: Pending[] = [];
    const aggregates = new Map<string, AggregateRef>();
    for (const record of records) {
      const type = record.headers[HEADER.eventType];
      if (this.opts.recordFilter && !this.opts.recordFilter(record)) {
        stats.ignored++;
        continue;
      }
      // A type this projection does not read is skipped (the contract); one that is not even text is parked.
      if (type !== undefined && !this.handled.has(type) && !type.includes("\u0000") && !type.includes("\ufffd")) {
        stats.ignored++;
        continue;
      }
      try {
        const { envelope, payload } = decodeRecord(catalog, record);
        const aggregate = aggregateRefKey(envelope);
        aggregates.set(aggregate, envelope);
        decoded.push({
          record,
          aggregate,
          event: { ...envelope, payload, position: { topic: record.topic, partition: record.partition, offset: record.offset } },
        });
      } catch (err) {
        if (!(err instanceof UndecodableRecordError)) throw err;
        const { envelope } = err;
        if (envelope) aggregates.set(aggregateRefKey(envelope), envelope);
        decoded.push({ record, error: err.message, ...(envelope ? { envelope, aggregate: aggregateRefKey(envelope) } : {}) });
      }
    }

    // 2. Sequence rule (sequence-rule.ts) and parking, per aggregate, in stream order.
    const { sequences, parkedAggregates } = await loadAggregateStates(db, projection.name, aggregates);
    const initial = new Map(sequences);
    const toApply: ProjectedEvent[] = [];
    const parkOne = async (p: Pending, error: string, attempts: number, blockedBy: number | null, blocking: boolean) => {
      const { id, status } = await this.park(db, p.record, p.event ?? p.envelope, error, attempts, blockedBy, blocking);
      stats.parked++;
      if (blocking && status === "parked" && p.aggregate !== undefined && !parkedAggregates.has(p.aggregate)) {
        parkedAggregates.set(p.aggregate, { id, topic: p.record.topic, partition: p.record.partition, offset: p.record.offset });
      }
    };
    for (const p of decoded) {
      const { record, event, aggregate: agg } = p;
      const head = agg === undefined ? undefined : parkedAggregates.get(agg);
      const waitFor = holdsUp(head, record) ? (head as ParkedHead).id : null;
      if (!event || agg === undefined) {
        await parkOne(p, p.error ?? "undecodable", 1, waitFor, true);
        continue;
      }
      const verdict = judge(sequences.get(agg), event);
      if (verdict.kind === "duplicate") {
        stats.duplicates++;
        continue;
      }
      if (waitFor !== null) {
        await parkOne(p, waitingBehind(waitFor), 0, waitFor, true);
        continue;
      }
      if (head !== undefined && head.topic === record.topic && head.partition === record.partition && head.offset === record.offset) {
        // This record is the parked event itself, read again by a replay: it stays parked for the operator.
        await parkOne(p, "read again by a replay: still parked (retry or skip it)", 0, null, true);
        continue;
      }
      const failed = this.attempts.exhausted(record);
      if (failed) {
        await parkOne(p, failed.error, failed.count, null, true);
        continue;
      }
      if (verdict.kind === "violation") {
        if (verdict.outOfOrder) stats.outOfOrder++;
        await parkOne(p, verdict.error, 1, null, false);
        continue;
      }
      sequences.set(agg, advance(sequences.get(agg), event));
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
    const saved = new Map<string, AggregateRef & { state: SequenceState }>();
    for (const e of applied) {
      const k = aggregateRefKey(e);
      const state = advance(saved.get(k)?.state ?? initial.get(k), e);
      saved.set(k, { instanceId: e.instanceId, aggregateType: e.aggregateType, aggregateId: e.aggregateId, state });
    }
    await saveSequences(db, projection.name, [...saved.values()]);
    const nextOffset = (BigInt(last.offset) + 1n).toString();
    // Compare-and-set: if the offsets row is no longer the one read at the start (a rebuild switch renamed
    // the schema under this transaction, or an operator moved it), everything rolls back and is retried.
    if (!(await advanceOffset(db, projection.name, batch, { from: next.toString(), to: nextOffset, applied: stats.applied }))) {
      throw new OffsetConflictError(`${batch.topic}/${batch.partition}: stored offset changed during the batch`);
    }
    await recordBatchFacts(db, projection.name, records); // instances' partitions, fingerprint of the last record
    return { kind: "done", nextOffset, stats };
  }

  private async applyIsolated(
    db: pg.PoolClient,
    events: ProjectedEvent[],
    records: ConsumedRecord[],
    parkedAggregates: Map<string, ParkedHead>,
    stats: BatchStats,
  ): Promise<ProjectedEvent[]> {
    const applied: ProjectedEvent[] = [];
    const byOffset = new Map(records.map((r) => [r.offset, r]));
    for (const event of events) {
      const record = byOffset.get(event.position.offset) as ConsumedRecord;
      const agg = aggregateRefKey(event);
      const head = parkedAggregates.get(agg);
      if (head !== undefined && holdsUp(head, record)) {
        await this.park(db, record, event, waitingBehind(head.id), 0, head.id, true);
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
        const count = this.attempts.fail(record, err);
        const a = this.attempts.exhausted(record);
        if (!a) throw markRecordAttempt(err, count);
        const { id } = await this.park(db, record, event, a.error, a.count, null, true);
        parkedAggregates.set(agg, { id, topic: record.topic, partition: record.partition, offset: record.offset });
        stats.parked++;
      }
    }
    return applied;
  }

  private async park(
    db: Queryable,
    record: ConsumedRecord,
    envelope: EventEnvelope | undefined,
    error: string,
    attempts: number,
    blockedBy: number | null,
    blocking: boolean,
  ): Promise<{ id: number; status: string }> {
    const parked = await park(db, this.opts.projection.name, { record, envelope, error, attempts, blockedBy, blocking });
    this.opts.logger.warn(
      { record: recordId(record), eventType: envelope?.eventType, aggregateId: envelope?.aggregateId, blockedBy, error },
      blockedBy ? "event parked behind an earlier parked event" : "event parked",
    );
    return parked;
  }
}
