// projector_parked_events: events that failed deterministically, and the later events of the same
// aggregate waiting behind them, until an operator retries or skips them. Whatever the record's bytes,
// it can be parked: the key and headers are kept as bytes, every text column gets escaped text.
import { type EventEnvelope, HEADER } from "@idp/events";
import type { Queryable } from "../db/pool.ts";
import type { ConsumedRecord } from "../kafka/port.ts";
import { headerBytesJson, headerBytesOf, headerText, renderHeaders } from "../record-contract.ts";
import type { AggregateRef } from "./sequences.ts";

export type ParkedStatus = "parked" | "applied" | "skipped";

export interface ParkEntry {
  record: ConsumedRecord;
  /** Missing when the headers could not be read: the raw headers then say what is known. */
  envelope: EventEnvelope | undefined;
  error: string;
  /** Failed attempts this time (0 for an event that only waits behind another). */
  attempts: number;
  /** The earlier parked event of the same aggregate this one waits behind. */
  blockedBy: number | null;
  /** False for an event the aggregate has moved past (out of order): later events do not wait behind it. */
  blocking: boolean;
}

/**
 * Parks one record; returns its id and status. Parking the same position again (a replay) keeps the
 * first error, records the latest in last_error and adds the attempts; a skipped or applied row keeps
 * its status.
 */
export async function park(db: Queryable, projection: string, p: ParkEntry): Promise<{ id: number; status: ParkedStatus }> {
  const { record, envelope } = p;
  const headers = headerBytesOf(record);
  const error = p.error.replaceAll("\u0000", "\\x00"); // an error may quote the bytes it complains about
  const { rows } = await db.query(
    `INSERT INTO projector_parked_events AS t (projection, topic, partition, "offset", instance_id, aggregate_type,
       aggregate_id, aggregate_sequence, event_type, headers, payload, error, last_error, attempts, blocked_by, blocking, record_key, header_bytes)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15, $16, $17)
     ON CONFLICT (projection, topic, partition, "offset") DO UPDATE SET last_error = EXCLUDED.error, attempts = t.attempts + EXCLUDED.attempts,
       blocked_by = CASE WHEN t.status = 'parked' THEN nullif(EXCLUDED.blocked_by, t.id) ELSE t.blocked_by END
     RETURNING id, status`,
    [
      projection,
      record.topic,
      record.partition,
      record.offset,
      envelope?.instanceId ?? headerText(headers, HEADER.instanceId),
      envelope?.aggregateType ?? headerText(headers, HEADER.aggregateType),
      envelope?.aggregateId ?? headerText(headers, HEADER.aggregateId),
      envelope?.aggregateSequence ?? null,
      envelope?.eventType ?? headerText(headers, HEADER.eventType),
      JSON.stringify(renderHeaders(headers)),
      record.value,
      error,
      p.attempts,
      p.blockedBy,
      p.blocking,
      record.key,
      JSON.stringify(headerBytesJson(headers)),
    ],
  );
  return { id: Number(rows[0].id), status: rows[0].status as ParkedStatus };
}

/** Parked events waiting for an operator. */
export async function countParked(db: Queryable, projection: string): Promise<number> {
  const { rows } = await db.query("SELECT count(*)::int AS n FROM projector_parked_events WHERE projection = $1 AND status = 'parked'", [projection]);
  return rows[0].n as number;
}

const IDENTITY = `id, topic, partition, "offset"::text AS offset, instance_id, aggregate_type, aggregate_id, aggregate_sequence, event_type`;
const OUTCOME = "error, last_error, attempts, blocked_by, blocking, status, parked_at, resolved_at";

export async function listParked(
  db: Queryable,
  projection: string,
  filter: { status: ParkedStatus; instanceId?: string | undefined; limit: number },
): Promise<Record<string, unknown>[]> {
  const { rows } = await db.query(
    `SELECT ${IDENTITY}, ${OUTCOME} FROM projector_parked_events
     WHERE projection = $1 AND status = $2 AND ($3::text IS NULL OR instance_id = $3) ORDER BY id LIMIT $4`,
    [projection, filter.status, filter.instanceId ?? null, filter.limit],
  );
  return rows;
}

/** One parked event with its headers: readable, and as bytes (base64) with the key. */
export async function getParked(db: Queryable, projection: string, id: number): Promise<Record<string, unknown> | undefined> {
  const { rows } = await db.query(
    `SELECT ${IDENTITY}, headers, header_bytes, encode(record_key, 'base64') AS record_key_base64, ${OUTCOME}
     FROM projector_parked_events WHERE projection = $1 AND id = $2`,
    [projection, id],
  );
  return rows[0];
}

/** Drops one waiting parked event; undefined when there is none with that id. */
export async function skipParked(db: Queryable, projection: string, id: number): Promise<Record<string, unknown> | undefined> {
  const { rows } = await db.query(
    `UPDATE projector_parked_events SET status = 'skipped', resolved_at = now() WHERE projection = $1 AND id = $2 AND status = 'parked'
     RETURNING id, instance_id, aggregate_type, aggregate_id, aggregate_sequence`,
    [projection, id],
  );
  return rows[0];
}

export interface ParkedRecord {
  id: string;
  topic: string;
  partition: number;
  offset: string;
  headers: Record<string, string>;
  /** [name, base64 value] pairs; null for rows parked before the bytes were kept. */
  header_bytes: [string, string][] | null;
  record_key: Buffer | null;
  payload: Buffer | null;
  blocking: boolean;
}

/** An aggregate's waiting parked events in stream order, locked until the transaction ends. */
export async function lockParkedOf(db: Queryable, projection: string, a: AggregateRef): Promise<ParkedRecord[]> {
  const { rows } = await db.query(
    `SELECT id, topic, partition, "offset"::text AS offset, headers, header_bytes, record_key, payload, blocking FROM projector_parked_events
     WHERE projection = $1 AND instance_id = $2 AND aggregate_type = $3 AND aggregate_id = $4 AND status = 'parked'
     ORDER BY topic, partition, "offset" FOR UPDATE`,
    [projection, a.instanceId, a.aggregateType, a.aggregateId],
  );
  return rows as ParkedRecord[];
}

export async function markParkedApplied(db: Queryable, id: string): Promise<void> {
  await db.query("UPDATE projector_parked_events SET status = 'applied', resolved_at = now() WHERE id = $1", [id]);
}

/** A retry failed again: keeps it parked with its first error and the new one as last_error, no longer blocked by another event. */
export async function markParkedFailed(db: Queryable, id: string, error: string): Promise<void> {
  await db.query("UPDATE projector_parked_events SET last_error = $2, attempts = attempts + 1, blocked_by = NULL WHERE id = $1", [id, error]);
}
