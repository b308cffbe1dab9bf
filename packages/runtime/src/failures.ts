// Failures of the batch applier: its error classes, and the count of failures per record in a reducer or
// its SQL that decides when a record is parked instead of retried again (a record that cannot be decoded
// is parked at once: see record-contract.ts).
import type { ConsumedRecord } from "./kafka/port.ts";

export const recordId = (r: Pick<ConsumedRecord, "topic" | "partition" | "offset">) => `${r.topic}/${r.partition}/${r.offset}`;

/** An error's message, bounded for logs and the parked-events table. */
export const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 2000);

/** The partition's stored offset changed under a batch (schema switch, operator replay): retry it. */
export class OffsetConflictError extends Error {
  override readonly name = "OffsetConflictError";
  readonly code = "OFFSET_CONFLICT";
}

// Which failed attempt of its record an error is: the retry backoff grows with it, so one record's
// failures never lengthen the wait for the next record (a batch-wide count would).
const attemptOf = new WeakMap<object, number>();

/** Tags an error with the failed attempt count of the record it came from; returns the error. */
export function markRecordAttempt<E>(err: E, attempt: number): E {
  if (typeof err === "object" && err !== null) attemptOf.set(err, attempt);
  return err;
}

/** The record's failed attempt count an error was tagged with, if any. */
export const recordAttemptOf = (err: unknown): number | undefined => (typeof err === "object" && err !== null ? attemptOf.get(err) : undefined);

export interface Exhausted {
  count: number;
  error: string;
}

/** Failed attempts per record (topic/partition/offset), held in memory by the member applying it. */
export class AttemptCounter {
  private readonly byRecord = new Map<string, Exhausted>();

  private readonly maxAttempts: number;

  constructor(maxAttempts: number) {
    this.maxAttempts = maxAttempts;
  }

  /** Counts one failure; returns how many the record has had. */
  fail(r: ConsumedRecord, err: unknown): number {
    const id = recordId(r);
    const count = (this.byRecord.get(id)?.count ?? 0) + 1;
    this.byRecord.set(id, { count, error: errorText(err) });
    return count;
  }

  /** The record's failures once it has failed maxAttempts times: it is then parked. */
  exhausted(r: ConsumedRecord): Exhausted | undefined {
    if (this.byRecord.size === 0) return undefined; // the usual case: no key to build
    const a = this.byRecord.get(recordId(r));
    return a && a.count >= this.maxAttempts ? a : undefined;
  }

  /** The batch committed: its records' failures are history. */
  forget(records: readonly ConsumedRecord[]): void {
    if (this.byRecord.size === 0) return;
    for (const r of records) this.byRecord.delete(recordId(r));
  }
}
