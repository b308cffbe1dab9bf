// Write-behind: while a projector catches up, the batches of many fetches are applied in one transaction
// (a window): rows, aggregate sequences and offsets are folded in memory and written when the window is
// flushed, so a row changed by many events is loaded and written once per flush instead of once per
// batch. Records are released after each batch; the window holds rows, bounded by configuration. A
// set-based reaction runs inside the window's transaction when its event comes (after writing the held
// rows of the tables it touches). Exactly-once is unchanged: the flush commits the rows, the sequences
// and the offset of every partition folded since the last flush together, after comparing each offset
// (and its version) with what it was when the partition entered the window. If anyone wrote the
// partition meanwhile (another member after a rebalance, a rebuild switch, an operator), the transaction
// rolls back and the window's partitions are read again from their stored offsets, as after a crash.
import type pg from "pg";
import { OffsetConflictError } from "./failures.ts";
import { type FoldStats, RowCache } from "./fold.ts";
import type { TopicPartition } from "./kafka/port.ts";
import type { SequenceState } from "./sequence-rule.ts";
import { type BatchFacts, mergeFacts, saveBatchFacts } from "./store/instance-partitions.ts";
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
}

interface WindowSequence {
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

  constructor(options: WriteBehindOptions) {
    this.options = options;
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

  /** Whether to flush now: full, old enough, or the batch just folded left its partition caught up. */
  due(lagAfter: bigint, now = Date.now()): boolean {
    const { maxRows, maxDelayMs, minLag } = this.options;
    return this.held() >= maxRows || (this.since !== undefined && now - this.since >= maxDelayMs) || lagAfter < BigInt(minLag);
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
    const client = this.client;
    this.clear();
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
   * each partition. The window is empty afterwards, committed or rolled back.
   */
  async flush(pool: pg.Pool, projection: string, earliest: (tp: TopicPartition) => Promise<string>): Promise<void> {
    if (this.isEmpty()) return this.discard();
    const db = await this.connection(pool);
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
        await advanceOffset(db, projection, p.tp, { from: p.stored.next.toString(), to: p.to, applied: p.applied });
        await saveBatchFacts(db, projection, p.facts);
      }
      await db.query("COMMIT");
    } catch (err) {
      await this.discard();
      throw err;
    }
    this.clear();
    db.release();
  }
}
