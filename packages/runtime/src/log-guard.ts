// Refuses to apply a partition whose stored position belongs to another log: another Kafka cluster, a
// stored offset past the partition's end (broker data reset, topic re-created), or an anchor (the first
// record applied on the partition) that is not the one applied there. The anchor is read again on every
// assignment, on client errors that hint at a replaced log, and every LOG_CHECK_EVERY_MS. Such a partition is stopped (paused, nothing applied,
// nothing skipped as "already applied"), its reason stored beside the offset for readiness and status,
// and logged at error level at most once a minute. The way out is a rebuild (or a replay to an offset,
// which tells the guard the operator placed the position on the log read now).
import type pg from "pg";
import type { Logger } from "pino";
import type { AdminPort, BatchOutcome, ConsumedRecord, RecordBatch, TopicPartition } from "./kafka/port.ts";
import type { ProjectorMetrics } from "./metrics.ts";
import { recordHash } from "./store/instance-partitions.ts";
import { adoptCluster, forgetLogIdentity, logIdentity, setLogMismatch } from "./store/offsets.ts";

export interface LogGuardOptions {
  pool: pg.Pool;
  projection: string;
  admin: AdminPort;
  logger: Logger;
  metrics: ProjectorMetrics;
  pause(tp: TopicPartition): void;
  resume(tp: TopicPartition): void;
  /** Moves the consumer's fetch position (to read a fingerprinted record again). */
  seek(tp: TopicPartition, offset: string): void;
}

interface PartitionState {
  /** The load this state came from; a state replaced by a newer load (reassignment, rebuild) no longer acts. */
  gen: number;
  key: string;
  next: bigint;
  /** The fingerprinted record below `next`, and whether this log has shown it since the partition was loaded. */
  check: { offset: bigint; hash: string } | null;
  verified: boolean;
  /** A reason stored by an earlier run: cleared once this log is verified. */
  storedReason: string | null;
  mismatch?: string;
}

export interface LogMismatch extends TopicPartition {
  reason: string;
}

const LOG_EVERY_MS = 60_000;
/** How often each partition reads its anchor again (one extra fetch per partition). */
export const LOG_CHECK_EVERY_MS = 30_000;
const STOPPED = "partition stopped: its stored position belongs to another log; nothing is applied until an operator rebuilds (idp-admin rebuild)";
const key = (tp: TopicPartition) => `${tp.topic}/${tp.partition}`;

export class LogGuard {
  private readonly parts = new Map<string, Promise<PartitionState>>();
  /** The loaded states (read without waiting: readiness must not hang on a broker that does not answer). */
  private readonly known = new Map<string, PartitionState>();
  private readonly lastLogged = new Map<string, number>();
  private readonly gens = new Map<string, number>();
  private readonly held = new Set<string>();
  private lastSuspect = 0;

  private readonly o: LogGuardOptions;

  constructor(o: LogGuardOptions) {
    this.o = o;
  }

  /** Where assigned partitions start: the fingerprinted record when this log must show it first. */
  async onAssigned(starts: (TopicPartition & { offset: string })[]): Promise<(TopicPartition & { offset: string })[]> {
    for (const s of starts) this.forget(s); // a new assignment re-reads what is stored
    const out: (TopicPartition & { offset: string })[] = [];
    for (const s of starts) {
      const st = await this.state(s);
      if (st.mismatch) continue; // paused: no seek
      this.release(s); // a pause left by a replaced state must not outlive it
      out.push({ ...s, offset: (!st.verified && st.check ? st.check.offset : BigInt(s.offset)).toString() });
    }
    return out;
  }

  /** Before a batch is applied: undefined to apply it, else the outcome to return instead. */
  async beforeBatch(batch: RecordBatch): Promise<BatchOutcome | undefined> {
    // A batch fetched before an assignment finished loading is judged by the state loaded last.
    let st = await this.state(batch);
    while (!this.current(st)) st = await this.state(batch);
    if (!st.mismatch && BigInt(batch.highWatermark) < st.next) {
      await this.mismatch(
        batch,
        st,
        `stored offset ${st.next} is past the partition's end ${batch.highWatermark}: the topic was re-created or the broker's data reset`,
      );
    }
    if (st.mismatch) {
      if (this.current(st)) this.hold(batch);
      return { kind: "abandon" };
    }
    const c = st.check;
    const first = batch.records[0];
    const last = batch.records.at(-1);
    if (!c || !first || !last) return undefined;
    if (BigInt(first.offset) > c.offset) return st.verified ? undefined : { kind: "seek", offset: c.offset.toString() };
    if (BigInt(last.offset) < c.offset) return { kind: "seek", offset: c.offset.toString() }; // read the fingerprint first
    const r = batch.records.find((x) => BigInt(x.offset) === c.offset);
    if (!r) {
      await this.mismatch(batch, st, `no record at stored offset ${c.offset} any more: the topic was re-created or the broker's data reset`);
    } else if (recordHash(r) !== c.hash) {
      await this.mismatch(
        batch,
        st,
        `the record at stored offset ${c.offset} is not the one applied there: the topic was re-created or the broker's data reset`,
      );
    }
    if (st.mismatch) {
      if (this.current(st)) this.hold(batch);
      return { kind: "abandon" };
    }
    if (!this.current(st)) return { kind: "abandon" }; // replaced while reading: judged again on the next fetch
    if (!st.verified) {
      st.verified = true;
      if (st.storedReason !== null) await this.clearStored(batch, st);
    }
    return undefined;
  }

  /** After a committed batch: the new next offset, and the anchor if the partition had none (as the applier stored it). */
  afterBatch(batch: RecordBatch, nextOffset: string): void {
    const st = this.known.get(key(batch));
    if (!st || BigInt(nextOffset) <= st.next) return;
    const first: ConsumedRecord | undefined = batch.records.find((r) => BigInt(r.offset) >= st.next);
    if (!st.check && first) st.check = { offset: BigInt(first.offset), hash: recordHash(first) };
    st.next = BigInt(nextOffset);
  }

  /**
   * The client saw signs that the log may have been replaced (a deleted topic, a lost broker), or it is
   * time for the periodic look (a topic re-created between two fetches shows no error at all): each
   * partition must show its anchor again before more is applied.
   */
  suspect(now = Date.now()): void {
    if (now - this.lastSuspect < 1000) return; // one client error comes with many log lines
    this.lastSuspect = now;
    for (const [k, st] of this.known) {
      if (st.mismatch || !st.check || st.check.offset >= st.next) continue;
      st.verified = false;
      // Read it now: a partition whose new log ends where the old offset was would never deliver a batch.
      try {
        this.o.seek(this.partitionOf(k), st.check.offset.toString());
      } catch {
        // The consumer is not running (starting or stopping): its next assignment reads the anchor anyway.
      }
    }
  }

  /** Stops the partition if its stored offset lies past the log's end (stored offset read first, then the end). */
  async checkEnd(tp: TopicPartition): Promise<void> {
    // Loaded now if unknown: an assignment that could not load it (the topic was gone for a moment) left
    // no state, and a re-created, empty partition delivers no batch that would load it.
    const st = this.known.get(key(tp)) ?? (await this.state(tp));
    const id = await logIdentity(this.o.pool, this.o.projection, tp);
    if (!id || st.mismatch || !this.current(st)) return;
    const end = (await this.o.admin.partitionOffsets(tp.topic)).find((p) => p.partition === tp.partition);
    if (end && BigInt(end.high) < id.next) {
      await this.mismatch(tp, st, `stored offset ${id.next} is past the partition's end ${end.high}: the topic was re-created or the broker's data reset`);
    }
  }

  /** The operator placed the position by hand (replay): the old log's identity no longer applies. */
  async accept(tp: TopicPartition): Promise<void> {
    this.forget(tp);
    await forgetLogIdentity(this.o.pool, this.o.projection, tp);
    this.cleared(tp);
    this.release(tp);
  }

  /** Forgets every partition's state and resumes stopped ones (the stored offsets changed under it: a rebuild switch). */
  async recheck(): Promise<void> {
    const stopped = await this.mismatches();
    for (const k of new Set([...this.parts.keys(), ...this.known.keys()])) this.forget(this.partitionOf(k));
    for (const m of stopped) {
      const tp = { topic: m.topic, partition: m.partition };
      this.cleared(tp);
      this.release(tp);
    }
  }

  /** Partitions stopped because their stored position belongs to another log. */
  async mismatches(): Promise<LogMismatch[]> {
    const out: LogMismatch[] = [];
    for (const [k, st] of this.known) {
      if (st.mismatch) out.push({ ...this.partitionOf(k), reason: st.mismatch });
    }
    return out;
  }

  /** Says again, at error level and at most once a minute per partition, which partitions are stopped. */
  async logMismatches(now = Date.now()): Promise<void> {
    for (const m of await this.mismatches()) {
      if (now - (this.lastLogged.get(key(m)) ?? 0) < LOG_EVERY_MS) continue;
      this.lastLogged.set(key(m), now);
      this.o.logger.error({ topic: m.topic, partition: m.partition, reason: m.reason }, STOPPED);
    }
  }

  private state(tp: TopicPartition): Promise<PartitionState> {
    let p = this.parts.get(key(tp));
    if (!p) {
      const k = key(tp);
      const loading = this.load(tp);
      p = loading;
      this.parts.set(k, loading);
      loading.then(
        (st) => this.parts.get(k) === loading && this.known.set(k, st),
        () => this.parts.get(k) === loading && this.parts.delete(k),
      );
    }
    return p;
  }

  /** Pauses a stopped partition; only this guard's own pauses are lifted by it (an operator's pause stays). */
  private hold(tp: TopicPartition): void {
    this.held.add(key(tp));
    this.o.pause(tp);
  }

  private release(tp: TopicPartition): void {
    if (this.held.delete(key(tp))) this.o.resume(tp);
  }

  private partitionOf(k: string): TopicPartition {
    const cut = k.lastIndexOf("/");
    return { topic: k.slice(0, cut), partition: Number(k.slice(cut + 1)) };
  }

  private current(st: PartitionState): boolean {
    return st.gen === (this.gens.get(st.key) ?? 0);
  }

  private forget(tp: TopicPartition): void {
    this.gens.set(key(tp), (this.gens.get(key(tp)) ?? 0) + 1);
    this.parts.delete(key(tp));
    this.known.delete(key(tp));
  }

  private async load(tp: TopicPartition): Promise<PartitionState> {
    const { pool, projection, admin } = this.o;
    const gen = this.gens.get(key(tp)) ?? 0;
    const id = await logIdentity(pool, projection, tp);
    const st: PartitionState = { gen, key: key(tp), next: id?.next ?? 0n, check: id?.check ?? null, verified: true, storedReason: id?.logMismatch ?? null };
    if (!id) return st;
    const cluster = await admin.clusterId?.();
    const end = (await admin.partitionOffsets(tp.topic)).find((p) => p.partition === tp.partition);
    if (cluster && id.clusterId && id.clusterId !== cluster) {
      await this.mismatch(tp, st, `stored offsets were read from Kafka cluster ${id.clusterId}; the brokers belong to cluster ${cluster}`);
    } else if (!end || BigInt(end.high) < id.next) {
      await this.mismatch(
        tp,
        st,
        `stored offset ${id.next} is past the partition's end ${end?.high ?? "(no such partition)"}: the topic was re-created or the broker's data reset`,
      );
    } else {
      if (cluster && !id.clusterId) await adoptCluster(pool, projection, tp, cluster);
      // A fingerprint still retained must be seen again before anything is applied from this log.
      st.verified = !(st.check && st.check.offset >= BigInt(end.low) && st.check.offset < id.next);
      if (!st.check && st.storedReason !== null) await this.clearStored(tp, st);
    }
    return st;
  }

  private async mismatch(tp: TopicPartition, st: PartitionState, reason: string): Promise<void> {
    if (st.mismatch) return; // two batches of the partition in flight found it
    st.mismatch = reason;
    if (!this.current(st)) return; // a newer load of the partition decides for itself
    this.o.metrics.logMismatch.set({ projection: this.o.projection, topic: tp.topic, partition: String(tp.partition) }, 1);
    this.hold(tp);
    await setLogMismatch(this.o.pool, this.o.projection, tp, reason).catch((err) => this.o.logger.warn({ err }, "could not store the log mismatch"));
    this.lastLogged.set(key(tp), Date.now());
    this.o.logger.error({ topic: tp.topic, partition: tp.partition, reason }, STOPPED);
  }

  private async clearStored(tp: TopicPartition, st: PartitionState): Promise<void> {
    await setLogMismatch(this.o.pool, this.o.projection, tp, null);
    st.storedReason = null;
    this.cleared(tp);
  }

  private cleared(tp: TopicPartition): void {
    this.lastLogged.delete(key(tp));
    this.o.metrics.logMismatch.set({ projection: this.o.projection, topic: tp.topic, partition: String(tp.partition) }, 0);
  }
}

/**
 * True when the live offsets still ahead of a rebuild's shadow all lie past their partition's current
 * end: they were read from another log and can never be reached, so waiting for them would never end.
 */
export async function liveBeyondLog(
  admin: AdminPort,
  parts: readonly TopicPartition[],
  shadowAt: ReadonlyMap<string, bigint>,
  live: ReadonlyMap<string, bigint>,
): Promise<boolean> {
  const behind = parts.filter((p) => (shadowAt.get(key(p)) ?? 0n) < (live.get(key(p)) ?? 0n));
  if (behind.length === 0) return false;
  const ends = new Map<string, bigint>();
  for (const topic of new Set(behind.map((p) => p.topic))) {
    for (const o of await admin.partitionOffsets(topic)) ends.set(key({ topic, partition: o.partition }), BigInt(o.high));
  }
  return behind.every((p) => {
    const end = ends.get(key(p));
    return end !== undefined && (shadowAt.get(key(p)) ?? 0n) >= end && (live.get(key(p)) ?? 0n) > end;
  });
}
