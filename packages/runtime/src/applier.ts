// One Kafka batch → one PostgreSQL transaction: read-model rows, aggregate sequences, parked events and
// the partition's next offset commit together, so a crash at any instant loses nothing and applies
// nothing twice. The offsets row is locked (FOR UPDATE): two members briefly owning the same partition
// during a rebalance serialise here, and the second sees the advanced offset and skips. While a partition
// catches up, its batches are applied in a write-behind window instead (write-behind.ts): many batches
// per transaction, each row written once per flush, a full window committed while the next one folds; a
// record to park or a failure flushes (or drops) the window first and takes the one-batch transaction.
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
import { batchFacts } from "./store/instance-partitions.ts";
import { advanceOffset, storedOffset, storedPosition } from "./store/offsets.ts";
import { park } from "./store/parked.ts";
import { type AggregateRef, aggregateRefKey, loadAggregateStates, type ParkedHead, saveSequences } from "./store/sequences.ts";
import { type WindowSequence, type WriteBehindOptions, WriteBehindWindow } from "./write-behind.ts";

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
  /** Fold batches of a partition that is catching up into a window written many batches at a time (maxRows 0: off). */
  writeBehind?: WriteBehindOptions;
  /** After every commit that moved a partition (read-your-writes). */
  onCommitted?: (tp: TopicPartition, nextOffset: string) => void;
  /** A flush failed: the consumer must read these partitions again from their stored offsets. */
  rewind?: (tp: TopicPartition, offset: string) => void;
  /** How much the write-behind window holds now, and how long each commit of it took. */
  onWindow?: (e: { held: number; flushedSeconds?: number }) => void;
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

const newStats = (): BatchStats => ({ applied: 0, ignored: 0, duplicates: 0, parked: 0, outOfOrder: 0, statements: 0 });

/** Records left behind the partition's end after this batch. */
const lagAfter = (batch: RecordBatch): bigint => {
  const last = batch.records.at(-1);
  return last ? BigInt(batch.highWatermark) - BigInt(last.offset) - 1n : 0n;
};

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
  private window: WriteBehindWindow | undefined;
  /** The commit of the window before the current one, while it runs (never rejects: its failure is handled). */
  private committing: Promise<void> | undefined;
  /** Batches and flushes that use the window run one at a time, in call order. */
  private windowQueue: Promise<unknown> = Promise.resolve();
  private readonly flushTimer: NodeJS.Timeout | undefined;

  private readonly opts: ApplierOptions;

  constructor(opts: ApplierOptions) {
    this.opts = opts;
    this.handled = new Set(opts.projection.eventTypes());
    this.attempts = new AttemptCounter(opts.maxAttempts);
    const wb = opts.writeBehind;
    if (wb && wb.maxRows > 0) {
      this.window = new WriteBehindWindow(wb);
      // A window whose partitions got no further batch (the fetch came back empty) is flushed by age.
      this.flushTimer = setInterval(
        () => {
          if (this.window?.due(BigInt(Number.MAX_SAFE_INTEGER)))
            this.inWindowOrder(() => this.flushWindow(true)).catch((err) => opts.logger.warn({ err }, "write-behind flush failed"));
        },
        Math.max(10, Math.floor(wb.maxDelayMs / 4)),
      );
      this.flushTimer.unref();
    }
  }

  /** Writes what the window holds (a no-op without write-behind). Failures rewind its partitions, then throw. */
  flush(): Promise<void> {
    return this.inWindowOrder(() => this.flushWindow());
  }

  /** Flushes and stops the flush timer (the projector stopped). */
  async close(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.flush();
    await this.committing;
  }

  /** Where each assigned partition starts: the stored offset, or the earliest retained offset if new. */
  async startOffsets(assigned: TopicPartition[]): Promise<(TopicPartition & { offset: string })[]> {
    const out: (TopicPartition & { offset: string })[] = [];
    for (const tp of assigned) out.push({ ...tp, offset: (await this.storedOffset(this.opts.pool, tp)).toString() });
    return out;
  }

  private storedOffset(db: Queryable, tp: TopicPartition, lock = false): Promise<bigint> {
    return storedOffset(db, this.opts.projection.name, tp, () => this.earliest(tp), lock);
  }

  async apply(batch: RecordBatch): Promise<ApplyResult> {
    const tpKey = `${batch.topic}/${batch.partition}`;
    const w = this.window;
    try {
      const behind = w !== undefined && !this.isolate.has(tpKey) && (!w.isEmpty() || lagAfter(batch) >= BigInt(w.options.minLag));
      if (!behind) await this.committing; // its rows and offsets first
      const result = behind ? await this.inWindowOrder(() => this.applyBehind(batch, tpKey)) : await this.applyNow(batch, tpKey);
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

  private async applyNow(batch: RecordBatch, tpKey: string): Promise<ApplyResult> {
    const result = await withTransaction(this.opts.pool, (db) => this.applyInTransaction(db, batch, tpKey));
    this.isolate.delete(tpKey);
    if (result.kind === "done") this.opts.onCommitted?.(batch, result.nextOffset);
    return result;
  }

  private inWindowOrder<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.windowQueue.then(fn, fn);
    this.windowQueue = run.catch(() => {});
    return run;
  }

  /** Folds the batch into the window, flushing when due; a batch the window cannot take flushes it and applies alone. */
  private async applyBehind(batch: RecordBatch, tpKey: string): Promise<ApplyResult> {
    const w = this.window as WriteBehindWindow;
    if (w.failure !== undefined) {
      await this.discardWindow(); // folded over a window that did not commit
      throw w.failure;
    }
    let folded: ApplyResult | undefined;
    try {
      folded = await this.fold(w, batch, tpKey);
    } catch (err) {
      // A reducer, a reaction or a row load failed halfway: the window may hold part of this batch.
      await this.discardWindow();
      throw err;
    }
    if (!folded) {
      await this.flushWindow(); // earlier records first: stream order
      return this.applyNow(batch, tpKey);
    }
    const lag = lagAfter(batch);
    if (w.isEmpty())
      await w.discard(); // nothing folded: no transaction left idle
    else if (w.due(lag)) await this.flushWindow(lag >= BigInt(w.options.minLag)); // caught up: wait for the commit
    return folded;
  }

  /** Undefined when the batch has a record to park (the one-batch path); the window is then unchanged. */
  private async fold(w: WriteBehindWindow, batch: RecordBatch, tpKey: string): Promise<ApplyResult | undefined> {
    const { pool, projection } = this.opts;
    const db = await w.connection(pool);
    const entered = w.entry(tpKey);
    // Outside the window's transaction: a partition seen for the first time gets its offsets row committed at once.
    const stored = entered?.stored ?? (await storedPosition(pool, projection.name, batch, () => this.earliest(batch)));
    const next = entered ? BigInt(entered.to) : stored.next;
    const stats = newStats();
    const picked = pickRecords(batch, next, stats);
    if (!("records" in picked)) return picked;
    const { records } = picked;
    const { decoded, aggregates } = this.decode(records, stats);
    if (decoded.some((p) => !p.event)) return undefined;

    // The batch's aggregates looked up in the window once each (its map is large: one per aggregate folded).
    const held = new Map<string, WindowSequence | undefined>();
    for (const k of aggregates.keys()) held.set(k, w.sequence(k));
    const unknown = new Map([...aggregates].filter(([k]) => held.get(k) === undefined));
    const { sequences, parkedAggregates } = await loadAggregateStates(db, projection.name, unknown);
    if (parkedAggregates.size > 0) return undefined;
    for (const [k, ref] of unknown) {
      const s = { ref, state: sequences.get(k), dirty: false };
      w.sequences.set(k, s);
      held.set(k, s);
    }

    const advanced = new Map<string, SequenceState>();
    const toApply: ProjectedEvent[] = [];
    for (const { record, event, aggregate } of decoded) {
      const agg = aggregate as string;
      const current = advanced.get(agg) ?? held.get(agg)?.state;
      const verdict = judge(current, event as ProjectedEvent);
      if (verdict.kind === "duplicate") {
        stats.duplicates++;
        continue;
      }
      if (verdict.kind === "violation" || this.attempts.exhausted(record)) return undefined;
      advanced.set(agg, advance(current, event as ProjectedEvent));
      toApply.push(event as ProjectedEvent);
    }
    await w.rows.apply(db, projection, toApply, stats);

    for (const [k, state] of advanced) {
      const s = held.get(k);
      if (s) Object.assign(s, { state, dirty: true });
    }
    const nextOffset = (BigInt((batch.records.at(-1) as ConsumedRecord).offset) + 1n).toString();
    w.folded(tpKey, { tp: { topic: batch.topic, partition: batch.partition }, stored }, nextOffset, toApply.length, batchFacts(records));
    stats.applied = toApply.length;
    return { kind: "done", nextOffset, stats };
  }

  /**
   * Commits the window and puts a new one in its place, which folds over it meanwhile. In the
   * background, the caller goes on at once (one commit runs at a time); otherwise it waits, and a failure
   * is thrown. A failed commit reads its partitions again and drops the window that followed it.
   */
  private async flushWindow(background = false): Promise<void> {
    await this.committing;
    const w = this.window;
    if (!w) return;
    if (w.failure !== undefined) {
      await this.discardWindow();
      throw w.failure;
    }
    if (w.isEmpty()) return w.discard();
    const parts = [...w.partitions.values()];
    const held = w.held();
    const events = parts.reduce((n, p) => n + p.applied, 0);
    const t0 = performance.now();
    w.seal();
    const committed = w.flush(this.opts.pool, this.opts.projection.name, (tp) => this.earliest(tp));
    const view = w.committing(committed);
    this.window = new WriteBehindWindow(w.options, view);
    // The window folding over this one (the same, or one put in its place when that was dropped).
    const follower = () => (this.window?.predecessor === view ? this.window : undefined);
    const settled = committed.then(
      () => {
        follower()?.predecessorCommitted();
        const seconds = (performance.now() - t0) / 1000;
        this.opts.onWindow?.({ held: this.window?.held() ?? 0, flushedSeconds: seconds });
        this.opts.logger.info({ events, rows: held, partitions: parts.length, ms: Math.round(seconds * 1000) }, "write-behind window committed");
        for (const p of parts) this.opts.onCommitted?.(p.tp, p.to);
      },
      (err) => {
        const f = follower();
        if (f) f.failure = err;
        this.opts.onWindow?.({ held: 0 });
        this.rewind(parts.map((p) => ({ tp: p.tp, offset: p.stored.next })));
        // A write that fails for the data itself: those partitions find the culprit batch by batch, event by event.
        if (classifyError(err) !== "transient") for (const p of parts) this.isolate.add(`${p.tp.topic}/${p.tp.partition}`);
        throw err;
      },
    );
    if (!background) {
      this.committing = settled.catch(() => {});
      await settled.catch((err) => {
        this.window = new WriteBehindWindow(w.options); // nothing was folded over it meanwhile: the caller waited
        throw err;
      });
      return;
    }
    this.committing = settled.then(
      () => {},
      (err) => this.opts.logger.warn({ err }, "write-behind window failed to commit: reading its partitions again"),
    );
  }

  /** Drops the window: its partitions are read again from their stored offsets, as after a crash. */
  private async discardWindow(): Promise<void> {
    const w = this.window;
    if (!w) return;
    const targets = w.rewindTargets();
    await w.discard();
    // A predecessor still committing stays the base of the window after this one.
    this.window = new WriteBehindWindow(w.options, w.failure === undefined ? w.predecessor : undefined);
    this.opts.onWindow?.({ held: 0 });
    this.rewind(targets);
  }

  private rewind(targets: { tp: TopicPartition; offset: bigint }[]): void {
    for (const { tp, offset } of targets) {
      this.opts.logger.warn({ topic: tp.topic, partition: tp.partition, offset: offset.toString() }, "write-behind window dropped: reading again");
      this.opts.rewind?.(tp, offset.toString());
    }
  }

  private earliest = async (tp: TopicPartition) => (await this.opts.admin.partitionOffsets(tp.topic)).find((p) => p.partition === tp.partition)?.low ?? "0";

  private async applyInTransaction(db: pg.PoolClient, batch: RecordBatch, tpKey: string): Promise<ApplyResult> {
    const { projection } = this.opts;
    const stats = newStats();
    const next = await this.storedOffset(db, batch, true);
    const picked = pickRecords(batch, next, stats);
    if (!("records" in picked)) return picked;
    const { records } = picked;
    const last = batch.records.at(-1) as ConsumedRecord;
    const { decoded, aggregates } = this.decode(records, stats);

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
    // Compare-and-set, with the instances' partitions and the partition's anchor: if the offsets row is no
    // longer the one read at the start (a rebuild switch renamed the schema under this transaction, or an
    // operator moved it), everything rolls back and is retried.
    if (!(await advanceOffset(db, projection.name, batch, { from: next.toString(), to: nextOffset, applied: stats.applied }, batchFacts(records)))) {
      throw new OffsetConflictError(`${batch.topic}/${batch.partition}: stored offset changed during the batch`);
    }
    return { kind: "done", nextOffset, stats };
  }

  /**
   * Decodes what this projection reads; everything else is skipped by header, undecoded. A record that
   * breaks the contract or does not decode comes back without an event (it parks on first sight: its
   * bytes never change).
   */
  private decode(records: readonly ConsumedRecord[], stats: BatchStats): { decoded: Pending[]; aggregates: Map<string, AggregateRef> } {
    const { catalog } = this.opts;
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
    return { decoded, aggregates };
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

/**
 * The batch's records from the partition's next offset on, or what to do instead: nothing new (done), or
 * go back to the next offset when the batch was fetched from elsewhere.
 */
function pickRecords(batch: RecordBatch, next: bigint, stats: BatchStats): { records: ConsumedRecord[] } | ApplyResult {
  // Offsets ascend within a batch: usually the first record is already at or past the stored offset.
  const from = batch.records.findIndex((r) => BigInt(r.offset) >= next);
  const records = from === -1 ? [] : from === 0 ? batch.records : batch.records.slice(from);
  if (records.length === 0) return { kind: "done", nextOffset: next.toString(), stats };
  const first = BigInt((records[0] as ConsumedRecord).offset);
  if (first > next && BigInt(batch.fetchedOffset) !== next) {
    // Records past our stored position, fetched from elsewhere (the group offset is ahead, a batch
    // prefetched before a seek, a rebuild switch): go back. Fetched from our position yet starting
    // later means those offsets hold no records (e.g. transaction markers): nothing is skipped.
    return { kind: "seek", offset: next.toString() };
  }
  return { records };
}
