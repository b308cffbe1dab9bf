// Operator retry of parked events: a plain function over a pool, so any process of the service (also an
// API-only one, which runs no projector) can do it. It applies exactly as a batch does: the record's
// bytes through the contract checks and decode, the sequence rule, the fold, and the aggregate's
// sequence state in the same transaction.
import { type EventCatalog, HEADER } from "@idp/events";
import type pg from "pg";
import { withTransaction } from "./db/pool.ts";
import { classifyError } from "./errors.ts";
import { errorText } from "./failures.ts";
import { applyEvents } from "./fold.ts";
import type { ProjectedEvent, Projection } from "./projection.ts";
import { decodeRecord, headerBytesFromJson } from "./record-contract.ts";
import { advance, judge } from "./sequence-rule.ts";
import { touchOffsets } from "./store/offsets.ts";
import { lockParkedOf, markParkedApplied, markParkedFailed, type ParkedRecord } from "./store/parked.ts";
import { type AggregateRef, aggregateRefKey, loadAggregateStates, saveSequences } from "./store/sequences.ts";

export interface RetryResult {
  /** Parked events applied, in stream order. */
  applied: number[];
  /** Parked events already applied meanwhile (the sequence rule drops them): resolved, not applied. */
  duplicates: number[];
  /** The event that failed again; it stays parked with the new error as last_error, and so do the events behind it. */
  failed: { id: number; error: string } | undefined;
}

/** Applies the parked events of one aggregate in stream order, each under a savepoint; stops at the first failure that holds up the aggregate. */
export function retryParked(pool: pg.Pool, deps: { projection: Projection; catalog: EventCatalog }, aggregate: AggregateRef): Promise<RetryResult> {
  return withTransaction(pool, (db) => retryInTransaction(db, deps, aggregate));
}

async function retryInTransaction(db: pg.PoolClient, { projection, catalog }: { projection: Projection; catalog: EventCatalog }, aggregate: AggregateRef) {
  const rows = await lockParkedOf(db, projection.name, aggregate);
  const [loaded] = (await loadAggregateStates(db, projection.name, new Map([[aggregateRefKey(aggregate), aggregate]]))).sequences.values();
  let state = loaded;
  const result: RetryResult = { applied: [], duplicates: [], failed: undefined };
  for (const r of rows) {
    await db.query("SAVEPOINT retry_event");
    try {
      const { envelope, payload } = decodeRecord(catalog, parkedRecord(r));
      const event: ProjectedEvent = { ...envelope, payload, position: { topic: r.topic, partition: r.partition, offset: r.offset } };
      const verdict = judge(state, event);
      if (verdict.kind === "violation") throw new Error(verdict.error);
      if (verdict.kind === "duplicate") {
        result.duplicates.push(Number(r.id));
      } else {
        await applyEvents(db, projection, [event]);
        state = advance(state, event);
        result.applied.push(Number(r.id));
      }
      await markParkedApplied(db, r.id);
      await db.query("RELEASE SAVEPOINT retry_event");
    } catch (err) {
      if (classifyError(err) === "transient") throw err;
      await db.query("ROLLBACK TO SAVEPOINT retry_event");
      const error = errorText(err);
      await markParkedFailed(db, r.id, error);
      result.failed ??= { id: Number(r.id), error };
      // An event the aggregate has moved past (out of order) holds up nothing: go on with the others.
      if (r.blocking) break;
    }
  }
  if (state && state !== loaded) {
    await saveSequences(db, projection.name, [{ ...aggregate, state }]);
    // A projector's write-behind window may hold this aggregate's rows as they were before: it starts over.
    const retried = new Map(rows.map((r) => [`${r.topic}/${r.partition}`, { topic: r.topic, partition: r.partition }]));
    await touchOffsets(db, projection.name, [...retried.values()]);
  }
  return result;
}

/** The record as it was consumed; rows parked before the bytes were kept have only their text headers (and no key check). */
function parkedRecord(r: ParkedRecord) {
  if (!r.header_bytes) return { key: Buffer.from(r.headers[HEADER.instanceId] ?? ""), value: r.payload, headers: r.headers };
  const rawHeaders = headerBytesFromJson(r.header_bytes);
  const headers = Object.fromEntries(rawHeaders.map(([name, value]) => [name, Buffer.from(value).toString()]));
  return { key: r.record_key, value: r.payload, headers, rawHeaders };
}
