// Write-behind: while a projector catches up, the batches of many fetches are applied in one transaction
// (a window): rows, aggregate sequences and offsets are folded in memory and written when the window is
// flushed, so a row changed by many events is loaded and written once per flush instead of once per
// batch. Records are released after each batch; the window holds rows, bounded by configuration. A
// set-based reaction runs inside the window's transaction, deferred until its tables are read again or
// the flush (fold.ts). Exactly-once is unchanged: the flush commits the rows, the sequences
// and the offset of every partition folded since the last flush together, after comparing each offset
// (and its version) with what it was when the partition entered the window. If anyone wrote the
// partition meanwhile (another member after a rebalance, a rebuild switch, an operator), the transaction
// rolls back and the window's partitions are read again from their stored offsets, as after a crash.
// A window that is full or old commits in the background: the next window folds over its rows, aggregate
// states and offsets meanwhile (reading the database only for what it did not change) and writes nothing
// before it committed; if it fails, the next window is dropped with it.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { OffsetConflictError } from "./failures.ts";
import { type CommittingRows, type FoldStats, RowCache } from "./fold.ts";
import type { TopicPartition } from "./kafka/port.ts";
import type { SequenceState } from "./sequence-rule.ts";
import { type BatchFacts, mergeFacts } from "./store/instance-partitions.ts";
import { advanceOffset, type StoredPosition, storedPosition } from "./store/offsets.ts";
import { type AggregateRef, saveSequences } from "./store/sequences.ts";

export interface WriteBehindOptions {
  /** Rows held before a flush; 0 turns write-behind off (every batch in its own transaction). */
  maxRows: number;
  /** Longest a folded event waits for its flush. */
  maxDelayMs: number;
  /** A batch that leaves fewer records than this behind the partition's end flushes at once (caught up: freshness first). */
  minLag: number;
}

export const WRITE_BEHIND_DEFAULTS: WriteBehindOptions = { maxRows: 500_000, maxDelayMs: 30_000, minLag: 1000 };

/** A partition folded into the window: where it was stored when it entered, and how far it is folded. */
export interface WindowPartition {
  tp: TopicPartition;
  stored: StoredPosition;
  /** The next offset after the last folded record. */
  to: string;
  applied: number;
  facts: BatchFacts | undefined;
  /** The offsets row's version once this window committed. */
  nextVersion?: string;
}

/** A window whose transaction is committing, as the window after it sees it. */
export interface CommittingWindow {
  rows: CommittingRows;
  sequences: ReadonlyMap<string, WindowSequence>;
  partitions: ReadonlyMap<string, WindowPartition>;
  committed: Promise<void>;
}

export interface WindowSequence {
  ref: AggregateRef;
  /** Undefined: nothing of the aggregate is applied. */
  state: SequenceState | undefined;
  dirty: boolean;
}

export class WriteBehindWindow {
  readonly rows = new RowCache();
  readonly sequences = new Map<string, WindowSequence>();
  readonly partitions = new Map<string, WindowPartition>();
  /** When the first event still unflushed was folded. */
  private since: number | undefined;
  /** The window's transaction, begun with its first batch. */
  private client: pg.PoolClient | undefined;

  readonly options: WriteBehindOptions;
  /** The window before this one while it commits. */
  predecessor: CommittingWindow | undefined;
  /** The predecessor's commit failed: everything here was folded over rows that never were. */
  failure: unknown;

  constructor(options: WriteBehindOptions, predecessor?: CommittingWindow) {
    this.options = options;
    this.predecessor = predecessor;
    this.rows.predecessor = predecessor?.rows;
  }

  /** How far a partition is folded: here, or in the committing predecessor (it starts where that one ends). */
  entry(key: string): Pick<WindowPartition, "tp" | "stored" | "to"> | undefined {
    const own = this.partitions.get(key);
    if (own) return own;
    const p = this.predecessor?.partitions.get(key);
    return p && { tp: p.tp, stored: { next: BigInt(p.to), version: p.nextVersion as string }, to: p.to };
  }

  /** An aggregate's applied state: here, or taken over from the committing predecessor; undefined when unknown to both. */
  sequence(key: string): WindowSequence | undefined {
    const own = this.sequences.get(key);
    if (own) return own;
    const p = this.predecessor?.sequences.get(key);
    if (!p) return undefined;
    const s = { ref: p.ref, state: p.state, dirty: false };
    this.sequences.set(key, s);
    return s;
  }

  /** Where to read each partition again when this window is dropped: before the predecessor's records too if that failed. */
  rewindTargets(): { tp: TopicPartition; offset: bigint }[] {
    return [...this.partitions].map(([key, p]) => {
      const before = this.failure === undefined ? undefined : this.predecessor?.partitions.get(key);
      return { tp: p.tp, offset: (before ?? p).stored.next };
    });
  }

  /** The predecessor committed: the database now holds what it held. */
  predecessorCommitted(): void {
    this.predecessor = undefined;
    this.rows.predecessor = undefined;
  }

  /** Fixes the versions the offsets rows get from this window's commit (before flush: the next window compares with them). */
  seal(): void {
    for (const p of this.partitions.values()) p.nextVersion = randomUUID();
  }

  /** What the next window sees while this one commits (after seal). */
  committing(committed: Promise<void>): CommittingWindow {
    return { rows: this.rows.committing(committed), sequences: this.sequences, partitions: this.partitions, committed };
  }

  isEmpty(): boolean {
    return this.partitions.size === 0;
  }

  /** Rows and aggregate states held (what the memory bound counts). */
  held(): number {
    return this.rows.size + this.sequences.size;
  }

  /** Records that a batch of `tp` was folded up to `to`. */
  folded(key: string, entry: Omit<WindowPartition, "to" | "applied" | "facts">, to: string, applied: number, facts: BatchFacts | undefined): void {
    const p = this.partitions.get(key) ?? { ...entry, to, applied: 0, facts: undefined };
    p.to = to;
    p.applied += applied;
    p.facts = mergeFacts(p.facts, facts);
    this.partitions.set(key, p);
    this.since ??= Date.now();
  }

  /** Whether to flush now: full, old enough, the batch just folded left its partition caught up, or it must be dropped. */
  due(lagAfter: bigint, now = Date.now()): boolean {
    const { maxRows, maxDelayMs, minLag } = this.options;
    return this.failure !== undefined || this.held() >= maxRows || (this.since !== undefined && now - this.since >= maxDelayMs) || lagAfter < BigInt(minLag);
  }

  /** The window's transaction (begun on first use): every read and write of the window goes through it. */
  async connection(pool: pg.Pool): Promise<pg.PoolClient> {
    if (this.client) return this.client;
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
    } catch (err) {
      client.release(true);
      throw err;
    }
    this.client = client;
    return client;
  }

  /** Rolls the window's transaction back and forgets everything it held. */
  async discard(): Promise<void> {
    await this.rollback();
    this.clear();
  }

  /** Ends the transaction without a trace; what the window held stays readable (for the window after it). */
  private async rollback(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    const broken = await client.query("ROLLBACK").then(
      () => false,
      () => true,
    );
    client.release(broken);
  }

  private clear(): void {
    this.rows.clear();
    this.sequences.clear();
    this.partitions.clear();
    this.since = undefined;
    this.client = undefined;
  }

  /**
   * Commits the window: offsets locked in a fixed order and compared first (OffsetConflictError when
   * anyone wrote a partition since it entered), then rows, sequences, offsets and what was learned about
   * each partition. Committed or rolled back, the window is done with (what it held stays readable for
   * the window after it, which lets go of it).
   */
  async flush(pool: pg.Pool, projection: string, earliest: (tp: TopicPartition) => Promise<string>): Promise<void> {
    if (this.isEmpty()) return this.discard();
    const db = await this.connection(pool);
    if (this.predecessor)
      await this.predecessor.committed.catch(async (err) => {
        await this.rollback();
        throw err;
      });
    const stats: FoldStats = { statements: 0 };
    const parts = [...this.partitions.values()].sort((a, b) => a.tp.topic.localeCompare(b.tp.topic) || a.tp.partition - b.tp.partition);
    try {
      for (const p of parts) {
        const now = await storedPosition(db, projection, p.tp, () => earliest(p.tp), true);
        if (now.next !== p.stored.next || now.version !== p.stored.version) {
          throw new OffsetConflictError(`${p.tp.topic}/${p.tp.partition}: written by someone else since its records were folded (stored offset ${now.next})`);
        }
      }
      await this.rows.write(db, stats);
      const dirty = [...this.sequences.values()].filter((s) => s.dirty && s.state !== undefined);
      await saveSequences(
        db,
        projection,
        dirty.map((s) => ({ ...s.ref, state: s.state as SequenceState })),
      );
      for (const p of parts) {
        await advanceOffset(db, projection, p.tp, { from: p.stored.next.toString(), to: p.to, applied: p.applied, newVersion: p.nextVersion }, p.facts);
      }
      await db.query("COMMIT");
    } catch (err) {
      await this.rollback();
      throw err;
    }
    this.client = undefined;
    db.release();
  }
}
