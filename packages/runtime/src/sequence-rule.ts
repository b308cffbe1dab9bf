// The sequence guard: what a projector does with an event given what it has applied of the event's
// aggregate. Pure; the applier and the operator retry both use it.
//
// Per aggregate the projector keeps, in the same transaction as the rows: S, the last applied sequence;
// I, that event's id; P, the position (topic, partition, offset) it was read from; and M, the sequences
// below S that were skipped over (never applied: sequences need not be contiguous, a projection does not
// read every event type). For an event with sequence s, id i, read at position p:
//   1. nothing applied yet, or s > S: a new event, applied; the sequences between S and s join M.
//   2. s <= S and p is on P's partition at or before P: that position was read before (a replay, a
//      redelivery after a crash): a duplicate, dropped.
//   3. s = S and i = I: the last applied event again (a producer retry): a duplicate, dropped.
//   4. s = S and i != I: two events claim one sequence: a contract violation, parked.
//   5. s < S and s not in M: sequence s was applied: a duplicate (a late copy), dropped. Only the last
//      event's id is kept, so the copy's id is not compared here.
//   6. s < S and s in M: a new event arriving after a later one of its aggregate: a contract violation
//      ("out of order: sequence 2 after 3"), parked and counted; it never holds up the aggregate, which
//      has moved past it (an operator skips it, or rebuilds once the producer is fixed).
// The producer's part: an idempotent producer (retries never reorder or duplicate within a partition),
// key = instance id so an aggregate's events share one partition, and each aggregate's sequences
// written in increasing order. Rows stored before event ids were kept (I unknown) count as matching in 3.
import type { Position } from "./projection.ts";

export interface SequenceState {
  sequence: number;
  eventId: string | null;
  position: Position | null;
  /** Sequences skipped over below `sequence`, as ascending inclusive ranges. */
  missing: [number, number][];
}

export interface SequencedEvent {
  aggregateSequence: number;
  eventId: string;
  position: Position;
}

export type Verdict = { kind: "apply" } | { kind: "duplicate" } | { kind: "violation"; error: string; outOfOrder: boolean };

const APPLY: Verdict = { kind: "apply" };
const DUPLICATE: Verdict = { kind: "duplicate" };

const samePartition = (a: Position, b: Position) => a.topic === b.topic && a.partition === b.partition;

const isMissing = (missing: [number, number][], s: number) => missing.some(([lo, hi]) => s >= lo && s <= hi);

export function judge(state: SequenceState | undefined, e: SequencedEvent): Verdict {
  const s = e.aggregateSequence;
  if (!state || s > state.sequence) return APPLY;
  if (state.position && samePartition(state.position, e.position) && BigInt(e.position.offset) <= BigInt(state.position.offset)) return DUPLICATE;
  if (s === state.sequence) {
    if (state.eventId === null || state.eventId === e.eventId) return DUPLICATE;
    return {
      kind: "violation",
      outOfOrder: false,
      error: `contract violation: sequence ${s} already applied as event ${state.eventId}, this is event ${e.eventId}`,
    };
  }
  if (!isMissing(state.missing, s)) return DUPLICATE;
  return { kind: "violation", outOfOrder: true, error: `out of order: sequence ${s} after ${state.sequence}` };
}

/** The state after applying `e` (judged "apply"). */
export function advance(state: SequenceState | undefined, e: SequencedEvent): SequenceState {
  const missing = state ? [...state.missing] : [];
  const from = (state?.sequence ?? 0) + 1;
  if (e.aggregateSequence > from) missing.push([from, e.aggregateSequence - 1]);
  return { sequence: e.aggregateSequence, eventId: e.eventId, position: e.position, missing };
}

/** int8multirange text, e.g. `{[2,3),[5,10)}`, to inclusive ranges. */
export function parseMissing(text: string | null | undefined): [number, number][] {
  if (!text) return [];
  return [...text.matchAll(/\[(\d+),(\d+)\)/g)].map((m) => [Number(m[1]), Number(m[2]) - 1]);
}

/** Inclusive ranges to int8multirange text. */
export const formatMissing = (missing: [number, number][]) => `{${missing.map(([lo, hi]) => `[${lo},${hi + 1})`).join(",")}}`;
