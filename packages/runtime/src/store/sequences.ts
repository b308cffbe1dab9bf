// projector_aggregate_sequences: per aggregate, the last applied sequence, which event that was and
// where it was read, and the sequences skipped over. sequence-rule.ts says how a record is judged by it.
import type { Queryable } from "../db/pool.ts";
import { keyedStatement } from "../fold.ts";
import type { Position } from "../projection.ts";
import { formatMissing, parseMissing, type SequenceState } from "../sequence-rule.ts";

export interface AggregateRef {
  instanceId: string;
  aggregateType: string;
  aggregateId: string;
}

/** An aggregate's key in the maps given to and returned by loadAggregateStates. */
export const aggregateRefKey = (a: AggregateRef) => `${a.instanceId}\u0000${a.aggregateType}\u0000${a.aggregateId}`;

/** The first open parked event an aggregate waits behind. */
export interface ParkedHead extends Position {
  id: number;
}

export interface AggregateStates {
  /** What is applied, by the caller's key. */
  sequences: Map<string, SequenceState>;
  /** The lowest-id open parked event that holds up the aggregate, by the caller's key. */
  parkedAggregates: Map<string, ParkedHead>;
}

interface StateRow {
  ord: number;
  parked: boolean;
  value: string;
  event_id: string | null;
  topic: string | null;
  partition: number | null;
  offset: string | null;
  missing: string | null;
}

// Each key's applied sequence and its first blocking parked event: the keys, by ordinal…
const STATE_KEYS = `WITH k AS (
       SELECT x.ord, x.k->>0 AS instance_id, x.k->>1 AS aggregate_type, x.k->>2 AS aggregate_id
       FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS x(k, ord))
     SELECT k.ord::int AS ord, false AS parked, s.sequence::text AS value, s.event_id, s.topic, s.partition, s."offset"::text AS offset,
         nullif(s.missing, '{}')::text AS missing FROM k`;

/** …as a join (many keys)… */
const STATES = `${STATE_KEYS}
       JOIN projector_aggregate_sequences s ON s.projection = $1 AND s.instance_id = k.instance_id
         AND s.aggregate_type = k.aggregate_type AND s.aggregate_id = k.aggregate_id
     UNION ALL
     SELECT * FROM (SELECT DISTINCT ON (k.ord) k.ord::int, true, p.id::text, null, p.topic, p.partition, p."offset"::text, null FROM k
       JOIN projector_parked_events p ON p.projection = $1 AND p.instance_id = k.instance_id
         AND p.aggregate_type = k.aggregate_type AND p.aggregate_id = k.aggregate_id AND p.status = 'parked' AND p.blocking
       ORDER BY k.ord, p.id) first_parked`;

/** …and with one index probe per key (fold.ts, FEW_KEYS). */
const STATES_FEW = `${STATE_KEYS}
       CROSS JOIN LATERAL (SELECT s.sequence, s.event_id, s.topic, s.partition, s."offset", s.missing FROM projector_aggregate_sequences s WHERE s.projection = $1 AND s.instance_id = k.instance_id
         AND s.aggregate_type = k.aggregate_type AND s.aggregate_id = k.aggregate_id LIMIT 1) s
     UNION ALL
     SELECT k.ord::int, true, p.id::text, null, p.topic, p.partition, p."offset"::text, null FROM k
       CROSS JOIN LATERAL (SELECT p.id, p.topic, p.partition, p."offset" FROM projector_parked_events p WHERE p.projection = $1
         AND p.instance_id = k.instance_id AND p.aggregate_type = k.aggregate_type AND p.aggregate_id = k.aggregate_id
         AND p.status = 'parked' AND p.blocking ORDER BY p.id LIMIT 1) p`;

/**
 * Per aggregate: what is applied and the first parked event it waits behind, in one round trip. Keys go
 * as [instance, type, id] triples and rows come back by their ordinal.
 */
export async function loadAggregateStates(db: Queryable, projection: string, keys: ReadonlyMap<string, AggregateRef>): Promise<AggregateStates> {
  const sequences = new Map<string, SequenceState>();
  const parkedAggregates = new Map<string, ParkedHead>();
  if (keys.size === 0) return { sequences, parkedAggregates };
  const ids = [...keys.keys()];
  const { rows } = await db.query(
    keyedStatement(keys.size, [projection, JSON.stringify([...keys.values()].map((a) => [a.instanceId, a.aggregateType, a.aggregateId]))], STATES_FEW, STATES),
  );
  for (const r of rows as StateRow[]) {
    const key = ids[r.ord - 1] as string;
    if (r.parked) {
      parkedAggregates.set(key, { id: Number(r.value), topic: r.topic as string, partition: r.partition as number, offset: r.offset as string });
    } else {
      const position = r.topic === null ? null : { topic: r.topic, partition: r.partition as number, offset: r.offset as string };
      sequences.set(key, { sequence: Number(r.value), eventId: r.event_id, position, missing: parseMissing(r.missing) });
    }
  }
  return { sequences, parkedAggregates };
}

const SAVE_SEQUENCES = `INSERT INTO projector_aggregate_sequences (projection, instance_id, aggregate_type, aggregate_id, sequence, event_id, topic, partition, "offset", missing)
     SELECT $1, r.instance_id, r.aggregate_type, r.aggregate_id, r.sequence, r.event_id, r.topic, r.partition, r."offset", r.missing::int8multirange
     FROM jsonb_to_recordset($2::jsonb) AS r(instance_id text, aggregate_type text, aggregate_id text, sequence bigint, event_id text, topic text,
       partition int, "offset" bigint, missing text)
     ON CONFLICT (projection, instance_id, aggregate_type, aggregate_id) DO UPDATE SET sequence = EXCLUDED.sequence, event_id = EXCLUDED.event_id,
       topic = EXCLUDED.topic, partition = EXCLUDED.partition, "offset" = EXCLUDED."offset", missing = EXCLUDED.missing`;

/** Records what is applied of each aggregate (set-based, one statement). */
export async function saveSequences(db: Queryable, projection: string, applied: readonly (AggregateRef & { state: SequenceState })[]): Promise<void> {
  if (applied.length === 0) return;
  const rows = applied.map(({ state: s, ...a }) => ({
    instance_id: a.instanceId,
    aggregate_type: a.aggregateType,
    aggregate_id: a.aggregateId,
    sequence: s.sequence,
    event_id: s.eventId,
    topic: s.position?.topic ?? null,
    partition: s.position?.partition ?? null,
    offset: s.position?.offset ?? null,
    missing: formatMissing(s.missing),
  }));
  await db.query(keyedStatement(applied.length, [projection, JSON.stringify(rows)], SAVE_SEQUENCES));
}
