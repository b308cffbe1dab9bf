// Read-your-writes: which positions the projection has applied, for this process and its replicas.
// Local commits update it at once; other members' progress is read from the stored offsets on demand.
// A tenant's partitions are the ones its events were seen on (learned by the projector); the default
// partitioner's choice is only the guess for an instance never seen.

import { setTimeout as delay } from "node:timers/promises";
import { formatPosition, type Position, partitionForKey } from "@idp/events";
import type pg from "pg";
import type { AdminPort } from "./kafka/port.ts";
import { learnedPartitions } from "./store/instance-partitions.ts";
import { readOffsets } from "./store/offsets.ts";

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;
/** How long an instance's learned partitions are reused before they are read again. */
const LEARNED_TTL_MS = 2000;
const LEARNED_MAX = 10_000;

export class PositionTracker {
  /** Next offset to apply per topic-partition (everything below it is applied). */
  private readonly next = new Map<string, bigint>();
  private readonly partitionCounts = new Map<string, number>();
  private readonly countLookups = new Map<string, Promise<number | undefined>>();
  /** Topics whose pending lookup already timed out once: later queries do not wait for it again. */
  private readonly slowLookups = new Set<string>();
  private readonly learned = new Map<string, { at: number; partitions: Promise<Map<string, number[]>> }>();
  /** Partitions stopped on a log mismatch: their stored offsets are no position in the log read now. */
  private readonly stopped = new Set<string>();
  /** Waiters woken at once by a local commit (else they poll the stored offsets). */
  private readonly waiters = new Set<() => void>();

  private readonly pool: pg.Pool;
  private readonly projection: string;
  private readonly admin: AdminPort;
  readonly topics: readonly string[];

  constructor(pool: pg.Pool, projection: string, admin: AdminPort, topics: readonly string[]) {
    this.pool = pool;
    this.projection = projection;
    this.admin = admin;
    this.topics = topics;
  }

  /** Called by the local projector after each committed batch. */
  noteApplied(topic: string, partition: number, nextOffset: string): void {
    const k = key(topic, partition);
    const n = BigInt(nextOffset);
    if ((this.next.get(k) ?? -1n) < n) {
      this.next.set(k, n);
      for (const wake of this.waiters) wake();
    }
  }

  /** Forgets what it knew (after a rebuild switch the stored offsets are another schema's). */
  reset(): void {
    this.next.clear();
    this.learned.clear();
    this.stopped.clear();
  }

  async refresh(): Promise<void> {
    for (const r of await readOffsets(this.pool, this.projection)) {
      if (r.logMismatch) this.stopped.add(key(r.topic, r.partition));
      else this.stopped.delete(key(r.topic, r.partition));
      this.noteApplied(r.topic, r.partition, r.next);
    }
  }

  isApplied(p: Position): boolean {
    if (this.stopped.has(key(p.topic, p.partition))) return false;
    return (this.next.get(key(p.topic, p.partition)) ?? 0n) > BigInt(p.offset);
  }

  /** Waits until every position is applied; false when the deadline passes first. */
  async waitFor(positions: Position[], timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (positions.every((p) => this.isApplied(p))) return true;
      if (Date.now() >= deadline) return false;
      // Woken by this process's own commit, or after 20 ms to read what other members committed.
      const woken = await this.nextChange(Math.min(20, Math.max(1, deadline - Date.now())));
      if (!woken || !positions.every((p) => this.isApplied(p))) await this.refresh();
    }
  }

  /** Resolves true when a local commit advances a position, false after `ms`. */
  private nextChange(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (woken: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(woken);
      };
      const wake = () => done(true);
      const timer = setTimeout(() => done(false), ms);
      this.waiters.add(wake);
    });
  }

  /** The position this read model reflects for an instance: the last applied offset of its partition per topic. */
  async tenantPositions(instanceId: string): Promise<string[]> {
    const out: string[] = [];
    const learned = await this.learnedPartitions(instanceId);
    for (const topic of this.topics) {
      let partitions = learned.get(topic);
      if (!partitions?.length) {
        const count = await this.partitionCount(topic);
        if (!count) continue;
        partitions = [partitionForKey(instanceId, count)];
      }
      for (const partition of partitions) {
        if (this.stopped.has(key(topic, partition))) continue;
        const next = this.next.get(key(topic, partition));
        if (next !== undefined && next > 0n) out.push(formatPosition({ topic, partition, offset: (next - 1n).toString() }));
      }
    }
    return out;
  }

  /** The instance's partitions as learned from the log (cached briefly; empty when unknown or unreadable). */
  private learnedPartitions(instanceId: string): Promise<Map<string, number[]>> {
    const now = Date.now();
    const hit = this.learned.get(instanceId);
    if (hit && now - hit.at < LEARNED_TTL_MS) return hit.partitions;
    if (this.learned.size >= LEARNED_MAX) this.learned.clear();
    const partitions = learnedPartitions(this.pool, this.projection, instanceId).catch(() => new Map<string, number[]>());
    this.learned.set(instanceId, { at: now, partitions });
    return partitions;
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
