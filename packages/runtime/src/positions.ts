// Read-your-writes: which positions the projection has applied, for this process and its replicas.
// Local commits update it at once; other members' progress is read from projector_offsets on demand.
import { type Position, formatPosition } from "@idp/events";
import { setTimeout as delay } from "node:timers/promises";
import type pg from "pg";
import { partitionForKey } from "./kafka/kafkajs.ts";
import type { AdminPort } from "./kafka/port.ts";

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export class PositionTracker {
  /** Next offset to apply per topic-partition (everything below it is applied). */
  private readonly next = new Map<string, bigint>();
  private readonly partitionCounts = new Map<string, number>();
  private readonly countLookups = new Map<string, Promise<number | undefined>>();
  /** Topics whose pending lookup already timed out once: later queries do not wait for it again. */
  private readonly slowLookups = new Set<string>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly projection: string,
    private readonly admin: AdminPort,
    readonly topics: readonly string[],
  ) {}

  /** Called by the local projector after each committed batch. */
  noteApplied(topic: string, partition: number, nextOffset: string): void {
    const k = key(topic, partition);
    const n = BigInt(nextOffset);
    if ((this.next.get(k) ?? -1n) < n) this.next.set(k, n);
  }

  /** Forgets what it knew (after a rebuild switch the stored offsets are another schema's). */
  reset(): void {
    this.next.clear();
  }

  async refresh(): Promise<void> {
    const { rows } = await this.pool.query(
      "SELECT topic, partition, next_offset::text AS next FROM projector_offsets WHERE projection = $1",
      [this.projection],
    );
    for (const r of rows) this.noteApplied(r.topic, r.partition, r.next);
  }

  isApplied(p: Position): boolean {
    return (this.next.get(key(p.topic, p.partition)) ?? 0n) > BigInt(p.offset);
  }

  /** Waits until every position is applied; false when the deadline passes first. */
  async waitFor(positions: Position[], timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (positions.every((p) => this.isApplied(p))) return true;
      if (Date.now() >= deadline) return false;
      await delay(Math.min(20, Math.max(1, deadline - Date.now())));
      await this.refresh();
    }
  }

  /** The position this read model reflects for an instance: the last applied offset of its partition per topic. */
  async tenantPositions(instanceId: string): Promise<string[]> {
    const out: string[] = [];
    for (const topic of this.topics) {
      const count = await this.partitionCount(topic);
      if (!count) continue;
      const partition = partitionForKey(instanceId, count);
      const next = this.next.get(key(topic, partition));
      if (next !== undefined && next > 0n) out.push(formatPosition({ topic, partition, offset: (next - 1n).toString() }));
    }
    return out;
  }

  /** Looks the partition counts up before the first query needs them (waits at most as long as a query). */
  async prefetchPartitionCounts(): Promise<void> {
    await Promise.all(this.topics.map((topic) => this.partitionCount(topic)));
  }

  /**
   * A topic's partition count, looked up in Kafka once. A query waits for it at most briefly: Kafka being
   * slow or unreachable must not stall the query API (the response then lacks this topic's position).
   */
  private async partitionCount(topic: string): Promise<number | undefined> {
    const known = this.partitionCounts.get(topic);
    if (known !== undefined) return known;
    let lookup = this.countLookups.get(topic);
    if (lookup && this.slowLookups.has(topic)) return undefined;
    if (!lookup) {
      lookup = this.admin.partitionOffsets(topic).then(
        (partitions) => {
          if (partitions.length > 0) this.partitionCounts.set(topic, partitions.length);
          return partitions.length;
        },
        () => undefined,
      );
      this.countLookups.set(topic, lookup);
      void lookup.finally(() => {
        this.countLookups.delete(topic);
        this.slowLookups.delete(topic);
      });
    }
    const giveUp = new AbortController();
    try {
      const timedOut = Symbol();
      const count = await Promise.race([lookup, delay(500, timedOut, { signal: giveUp.signal }).catch(() => undefined)]);
      if (count !== timedOut) return count;
      this.slowLookups.add(topic);
      return undefined;
    } finally {
      giveUp.abort();
    }
  }
}
