// Second Kafka client behind the runtime's ConsumerPort: @platformatic/kafka (pure TypeScript, maintained),
// chosen with KAFKA_CLIENT=platformatic (kafkajs is the default; README, "Kafka clients").
//
// @platformatic/kafka's MessagesStream delivers single messages and keeps its own fetch positions, so a
// seek cannot tell stale, already-buffered messages from the new position, and there is no per-batch
// hand-off. This adapter therefore uses the client only for what it does well (group membership with
// background heartbeats, metadata, the Fetch API, offset listing and commits) and runs its own fetch loop:
//   - one Fetch request in flight per leader broker, for every assigned partition that has room;
//   - at most one prefetched batch per partition plus the one being applied (memory is bounded by
//     maxBytesPerPartition × 2 per partition, and fetching stops while the database is slow);
//   - positions are ours: onAssigned's offsets on every (re)join, BatchOutcome seek/abandon, seek();
//     a per-partition epoch discards fetch responses that were in flight across a seek or rejoin;
//   - after "done" the group offset is committed as a lag hint (coalesced, never awaited by the batch).
// Fetches share the client's connection with heartbeats and commits, so at the end of the log a
// heartbeat can wait behind one long-poll Fetch (maxWaitTimeMs, 500 ms) — far below the session timeout.

import {
  type ClusterMetadata,
  Consumer,
  FetchIsolationLevels,
  type FetchOptions,
  type GroupAssignment,
  IS_CONTROL,
  ListOffsetTimestamps,
} from "@platformatic/kafka";
import type { Logger } from "pino";
import {
  type BatchOutcome,
  type ConsumedRecord,
  type ConsumerHandlers,
  type ConsumerPort,
  fetchMaxBytes,
  type RecordBatch,
  type TopicPartition,
} from "./port.ts";

export interface PlatformaticConsumerOptions {
  brokers: string[];
  clientId: string;
  groupId: string;
  /** Partitions applied in parallel by this member (each batch is its own transaction). */
  partitionsConsumedConcurrently?: number;
  maxBytesPerPartition?: number;
  /** Longest a Fetch waits on the broker for new records at the end of the log. */
  maxWaitTimeMs?: number;
  sessionTimeoutMs?: number;
  logger?: Logger;
}

type FetchRequestTopic = FetchOptions<Buffer, Buffer, Buffer, Buffer>["topics"][number];
type FetchResponse = Awaited<ReturnType<Consumer["fetch"]>>;

interface PartitionState extends TopicPartition {
  key: string;
  /** Next offset to fetch; undefined until onAssigned answered. */
  position: bigint | undefined;
  /** Bumped by every seek: fetch responses requested under an older epoch are dropped. */
  epoch: number;
  /** Prefetched, not yet handed to onBatch. */
  ready: { batch: RecordBatch; epoch: number } | undefined;
}

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** The headers as text (a repeated name: its last value) and as the wire bytes (every value, in order: what a parked record keeps). */
function convertHeaders(headers: readonly (readonly [Buffer | null | undefined, Buffer | null | undefined])[]): Pick<ConsumedRecord, "headers" | "rawHeaders"> {
  const text: Record<string, string> = {};
  const raw: [string, Uint8Array][] = [];
  for (const [k, v] of headers) {
    if (!k || !v) continue; // a header without a value carries nothing to read (kafkajs drops it too)
    const name = k.toString();
    raw.push([name, v]);
    text[name] = v.toString();
  }
  return { headers: text, rawHeaders: raw };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class PlatformaticConsumer implements ConsumerPort {
  private readonly consumer: Consumer;
  private readonly log: Logger | undefined;
  private handlers: ConsumerHandlers | undefined;
  private topics: string[] = [];
  private stopped = false;
  /** Current assignment; replaced as a whole on every group join. */
  private partitions = new Map<string, PartitionState>();
  /** Paused topics (pauseTopics) and partitions (pausePartitions, by key). */
  private readonly paused = new Set<string>();
  private readonly pausedPartitions = new Set<string>();
  /** Partitions whose batch is being applied (kept across rejoins: never two batches of one partition). */
  private readonly busy = new Map<string, Promise<void>>();
  private readonly fetching = new Set<number>();
  private readonly pendingCommits = new Map<string, { topic: string; partition: number; offset: bigint }>();
  private committing: Promise<void> | undefined;
  private pumpScheduled = false;
  private generation = 0;
  private readonly concurrency: number;

  private readonly opts: PlatformaticConsumerOptions;

  constructor(opts: PlatformaticConsumerOptions) {
    this.opts = opts;
    this.log = opts.logger;
    this.concurrency = opts.partitionsConsumedConcurrently ?? 1;
    const sessionTimeout = opts.sessionTimeoutMs ?? 30_000;
    this.consumer = new Consumer({
      clientId: opts.clientId,
      groupId: opts.groupId,
      bootstrapBrokers: opts.brokers,
      sessionTimeout,
      heartbeatInterval: Math.max(500, Math.floor(sessionTimeout / 10)),
      rebalanceTimeout: Math.max(sessionTimeout, 60_000),
      autocommit: false,
      minBytes: 1,
      maxBytes: fetchMaxBytes(opts.maxBytesPerPartition, opts.partitionsConsumedConcurrently),
      maxBytesPerPartition: opts.maxBytesPerPartition ?? 2 * 1024 * 1024,
      maxWaitTime: opts.maxWaitTimeMs ?? 500,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      retries: 5,
      retryDelay: 500,
      // kafkajs' round-robin assignor under its name and protocol version: members of both clients can share
      // one group (a rolling switch of KAFKA_CLIENT), whichever of them leads it.
      protocols: [{ name: "RoundRobinAssigner", version: 0 }],
    });
    // A failed rejoin is emitted as 'error'; without a listener it would crash the process.
    this.consumer.on("error", (err: Error) => {
      this.log?.warn({ err: { message: err.message } }, "kafka consumer error; rejoining the group");
      this.handlers?.onLogMayHaveChanged?.();
      void this.rejoin();
    });
    this.consumer.on("consumer:group:join", (payload) => this.onJoin(payload.assignments ?? []));
  }

  async start(topics: string[], handlers: ConsumerHandlers): Promise<void> {
    this.handlers = handlers;
    this.topics = [...topics];
    this.consumer.topics.trackAll(...topics);
    await this.consumer.joinGroup({});
  }

  seek(tp: TopicPartition, offset: string): void {
    const s = this.partitions.get(tpKey(tp.topic, tp.partition));
    if (s) this.moveTo(s, BigInt(offset));
  }

  pauseTopics(topics: string[]): void {
    for (const t of topics) this.paused.add(t);
  }

  resumeTopics(topics: string[]): void {
    for (const t of topics) this.paused.delete(t);
    this.schedule();
  }

  pausePartitions(tps: TopicPartition[]): void {
    for (const tp of tps) this.pausedPartitions.add(tpKey(tp.topic, tp.partition));
  }

  resumePartitions(tps: TopicPartition[]): void {
    for (const tp of tps) this.pausedPartitions.delete(tpKey(tp.topic, tp.partition));
    this.schedule();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.allSettled([...this.busy.values()]);
    await this.flushCommits();
    await this.consumer.close().catch((err: Error) => this.log?.warn({ err: { message: err.message } }, "kafka consumer close failed"));
  }

  // --- group membership ------------------------------------------------------------------------------

  private async rejoin(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.consumer.joinGroup({});
        return;
      } catch (err) {
        this.log?.warn({ err: { message: (err as Error).message }, attempt }, "kafka group join failed, retrying");
        await sleep(Math.min(5000, 200 * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  /** Every join (first one and every rebalance): all assigned partitions restart at the stored offsets. */
  private onJoin(assignments: GroupAssignment[]): void {
    const generation = ++this.generation;
    const next = new Map<string, PartitionState>();
    for (const a of assignments) {
      for (const partition of a.partitions) {
        const key = tpKey(a.topic, partition);
        next.set(key, { key, topic: a.topic, partition, position: undefined, epoch: (this.partitions.get(key)?.epoch ?? 0) + 1, ready: undefined });
      }
    }
    this.partitions = next;
    const assigned = [...next.values()].map(({ topic, partition }) => ({ topic, partition }));
    void this.assign(generation, assigned);
  }

  private async assign(generation: number, assigned: TopicPartition[]): Promise<void> {
    const handlers = this.handlers;
    if (!handlers || assigned.length === 0) return;
    for (let attempt = 0; !this.stopped && generation === this.generation; attempt++) {
      try {
        const offsets = await handlers.onAssigned(assigned);
        if (generation !== this.generation) return; // a newer join superseded this one
        for (const o of offsets) {
          const s = this.partitions.get(tpKey(o.topic, o.partition));
          if (s) this.moveTo(s, BigInt(o.offset));
        }
        return;
      } catch (err) {
        this.log?.error({ err: { message: (err as Error).message }, attempt }, "could not read stored offsets on assignment; retrying");
        await sleep(Math.min(5000, 200 * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  private moveTo(s: PartitionState, offset: bigint): void {
    s.position = offset;
    s.epoch++;
    s.ready = undefined;
    this.schedule();
  }

  private isCurrent(s: PartitionState): boolean {
    return !this.stopped && this.partitions.get(s.key) === s;
  }

  // --- fetch and dispatch ----------------------------------------------------------------------------

  private schedule(): void {
    if (this.pumpScheduled || this.stopped) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.stopped) return;
    // 1. Hand prefetched batches to onBatch, up to the concurrency limit.
    for (const s of this.partitions.values()) {
      if (this.busy.size >= this.concurrency) break;
      if (!s.ready || this.busy.has(s.key) || this.isPaused(s)) continue;
      const { batch, epoch } = s.ready;
      s.ready = undefined;
      const run = this.process(s, batch, epoch).finally(() => {
        this.busy.delete(s.key);
        this.schedule();
      });
      this.busy.set(s.key, run);
    }
    // 2. Fetch for every partition with room (nothing prefetched), one request per leader.
    const wanted = [...this.partitions.values()].filter((s) => s.position !== undefined && !s.ready && !this.isPaused(s));
    if (wanted.length) void this.fetchRound(wanted);
  }

  private isPaused(s: PartitionState): boolean {
    return this.paused.has(s.topic) || this.pausedPartitions.has(s.key);
  }

  private async fetchRound(wanted: PartitionState[]): Promise<void> {
    let metadata: ClusterMetadata;
    try {
      metadata = await this.consumer.metadata({ topics: this.topics });
    } catch (err) {
      this.log?.warn({ err: { message: (err as Error).message } }, "kafka metadata failed, retrying");
      await sleep(1000);
      this.schedule();
      return;
    }
    const byLeader = new Map<number, PartitionState[]>();
    for (const s of wanted) {
      const leader = metadata.topics.get(s.topic)?.partitions[s.partition]?.leader;
      if (leader === undefined || leader < 0 || this.fetching.has(leader)) continue;
      const list = byLeader.get(leader) ?? [];
      list.push(s);
      byLeader.set(leader, list);
    }
    for (const [leader, states] of byLeader) {
      this.fetching.add(leader);
      void this.fetchFrom(leader, states, metadata).finally(() => {
        this.fetching.delete(leader);
        this.schedule();
      });
    }
  }

  private async fetchFrom(leader: number, states: PartitionState[], metadata: ClusterMetadata): Promise<void> {
    const requested = new Map<string, { state: PartitionState; offset: bigint; epoch: number }>();
    const topics = new Map<string, FetchRequestTopic>();
    for (const s of states) {
      if (s.position === undefined || s.ready) continue;
      const topicId = metadata.topics.get(s.topic)?.id;
      if (!topicId) continue;
      requested.set(s.key, { state: s, offset: s.position, epoch: s.epoch });
      const t = topics.get(topicId) ?? { topicId, partitions: [] };
      t.partitions.push({
        partition: s.partition,
        fetchOffset: s.position,
        partitionMaxBytes: this.opts.maxBytesPerPartition ?? 2 * 1024 * 1024,
        currentLeaderEpoch: -1,
        lastFetchedEpoch: -1,
      });
      topics.set(topicId, t);
    }
    if (topics.size === 0) return;
    let response: FetchResponse;
    try {
      response = await this.consumer.fetch({ node: leader, topics: [...topics.values()] });
    } catch (err) {
      if (this.stopped) return;
      this.log?.warn({ err: { message: (err as Error).message }, leader }, "kafka fetch failed; checking positions and retrying");
      this.handlers?.onLogMayHaveChanged?.(); // a lost broker, a deleted topic, an offset out of range
      this.consumer.clearMetadata();
      await this.clampPositions([...requested.values()].map((r) => r.state));
      await sleep(500);
      return;
    }
    const topicNames = new Map([...metadata.topics].map(([name, t]) => [t.id, name]));
    for (const t of response.responses) {
      const topic = topicNames.get(t.topicId);
      if (topic === undefined) continue;
      for (const p of t.partitions) {
        const req = requested.get(tpKey(topic, p.partitionIndex));
        if (!req || !this.isCurrent(req.state) || req.state.epoch !== req.epoch || !p.records?.length) continue;
        const records: ConsumedRecord[] = [];
        let next = req.offset;
        for (const b of p.records) {
          const end = b.firstOffset + BigInt(b.lastOffsetDelta) + 1n;
          if (end > next) next = end;
          if (b.attributes & IS_CONTROL) continue; // transaction marker, not a record
          for (const r of b.records) {
            const offset = b.firstOffset + BigInt(r.offsetDelta);
            if (offset < req.offset) continue; // a batch may start before the requested offset
            records.push({ topic, partition: p.partitionIndex, offset: offset.toString(), key: r.key, value: r.value, ...convertHeaders(r.headers) });
          }
        }
        req.state.position = next;
        if (records.length) {
          req.state.ready = {
            batch: { topic, partition: p.partitionIndex, records, fetchedOffset: req.offset.toString(), highWatermark: p.highWatermark.toString() },
            epoch: req.epoch,
          };
        }
      }
    }
  }

  /** After a failed fetch: a position outside the log (retention, topic recreated) moves to its nearest end. */
  private async clampPositions(states: PartitionState[]): Promise<void> {
    try {
      const [earliest, latest] = await Promise.all([
        this.consumer.listOffsets({ topics: this.topics, timestamp: ListOffsetTimestamps.EARLIEST }),
        this.consumer.listOffsets({ topics: this.topics, timestamp: ListOffsetTimestamps.LATEST }),
      ]);
      for (const s of states) {
        if (!this.isCurrent(s) || s.position === undefined) continue;
        const low = earliest.get(s.topic)?.[s.partition];
        const high = latest.get(s.topic)?.[s.partition];
        if (low !== undefined && s.position < low) {
          this.log?.warn(
            { topic: s.topic, partition: s.partition, from: s.position.toString(), to: low.toString() },
            "fetch position before the log start; moving to it",
          );
          this.moveTo(s, low);
        } else if (high !== undefined && s.position > high) {
          this.log?.warn(
            { topic: s.topic, partition: s.partition, from: s.position.toString(), to: high.toString() },
            "fetch position past the log end; moving to it",
          );
          this.moveTo(s, high);
        }
      }
    } catch {
      // the broker is unreachable: the next round retries
    }
  }

  private async process(s: PartitionState, batch: RecordBatch, epoch: number): Promise<void> {
    const handlers = this.handlers;
    if (!handlers) return;
    const active = () => this.isCurrent(s) && s.epoch >= epoch;
    let outcome: BatchOutcome;
    try {
      outcome = await handlers.onBatch(batch, { heartbeat: async () => {}, isActive: active });
    } catch (err) {
      // onBatch retries internally; an escaping error means "not applied": fetch the batch again.
      this.log?.error({ err: { message: (err as Error).message }, topic: s.topic, partition: s.partition }, "batch handler failed");
      outcome = { kind: "abandon" };
    }
    if (outcome.kind === "done") {
      this.commitHint(s.topic, s.partition, BigInt(outcome.nextOffset));
      return;
    }
    if (!this.isCurrent(s)) return; // revoked or stopping: the next owner starts from PostgreSQL
    const first = batch.records[0]?.offset;
    if (outcome.kind === "seek") this.moveTo(s, BigInt(outcome.offset));
    else if (first !== undefined) this.moveTo(s, BigInt(first)); // abandoned while still ours: deliver again
  }

  // --- group offsets (lag hint only; PostgreSQL holds the truth) -----------------------------------

  private commitHint(topic: string, partition: number, offset: bigint): void {
    this.pendingCommits.set(tpKey(topic, partition), { topic, partition, offset });
    if (!this.committing) this.committing = this.flushCommits().finally(() => (this.committing = undefined));
  }

  private async flushCommits(): Promise<void> {
    await this.committing;
    while (this.pendingCommits.size) {
      const offsets = [...this.pendingCommits.values()].map((o) => ({ ...o, leaderEpoch: -1 }));
      this.pendingCommits.clear();
      await this.consumer
        .commit({ offsets })
        .catch((err: Error) => this.log?.debug({ err: { message: err.message } }, "group offset commit failed (hint only)"));
    }
  }
}
