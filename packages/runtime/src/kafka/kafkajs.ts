import {
  type Admin,
  type Consumer,
  type ITopicConfig,
  Kafka,
  logLevel,
  type Producer,
  Partitioners,
} from "kafkajs";
import type { Logger } from "pino";
import type { Position } from "../projection.ts";
import type {
  AdminPort,
  ConsumedRecord,
  ConsumerHandlers,
  ConsumerPort,
  PartitionOffsets,
  ProducedRecord,
  ProducerPort,
  TopicPartition,
} from "./port.ts";

const javaCompatiblePartitioner = Partitioners.DefaultPartitioner();

/** The partition Kafka's default partitioner (murmur2 of the key, as in the Java client) picks for a key. */
export function partitionForKey(key: string, partitions: number): number {
  const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 0, replicas: [], isr: [], partitionErrorCode: 0 }));
  return javaCompatiblePartitioner({ topic: "", partitionMetadata, message: { key, value: null } });
}

export interface KafkaJsOptions {
  brokers: string[];
  clientId: string;
  logger?: Logger;
}

function client(opts: KafkaJsOptions): Kafka {
  const log = opts.logger;
  return new Kafka({
    clientId: opts.clientId,
    brokers: opts.brokers,
    connectionTimeout: 3000,
    // Broker restarts must not kill the process: keep retrying with backoff (capped at 5 s).
    retry: { initialRetryTime: 200, maxRetryTime: 5000, retries: 1_000_000 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => {
      if (!log) return;
      const { message, ...rest } = entry.log;
      const fn = entry.level <= logLevel.ERROR ? log.error.bind(log) : log.warn.bind(log);
      fn({ kafka: entry.namespace, ...rest }, message);
    },
  });
}

const headerText = (headers: Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined) => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v === undefined) continue;
    const one = Array.isArray(v) ? v[v.length - 1] : v;
    if (one !== undefined) out[k] = one.toString();
  }
  return out;
};

export interface KafkaJsConsumerOptions extends KafkaJsOptions {
  groupId: string;
  /** Partitions processed in parallel by this member (each batch is its own transaction). */
  partitionsConsumedConcurrently?: number;
  maxBytesPerPartition?: number;
  sessionTimeoutMs?: number;
}

export class KafkaJsConsumer implements ConsumerPort {
  private readonly consumer: Consumer;
  private stopped = false;

  constructor(private readonly opts: KafkaJsConsumerOptions) {
    this.consumer = client(opts).consumer({
      groupId: opts.groupId,
      sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: Math.max(500, Math.floor((opts.sessionTimeoutMs ?? 30_000) / 10)),
      maxBytesPerPartition: opts.maxBytesPerPartition ?? 2 * 1024 * 1024,
      // Bounds memory held by one fetch, and lets each partition processed in parallel fill its batch.
      maxBytes: Math.max(16 * 1024 * 1024, (opts.maxBytesPerPartition ?? 0) * (opts.partitionsConsumedConcurrently ?? 1)),
      retry: { initialRetryTime: 200, maxRetryTime: 5000, retries: 1_000_000 },
    });
  }

  async start(topics: string[], handlers: ConsumerHandlers): Promise<void> {
    const c = this.consumer;
    // On every (re)assignment, position each partition at the offset stored in PostgreSQL. Batches
    // fetched before the seek lands are filtered by the applier against the same stored offsets.
    c.on(c.events.GROUP_JOIN, async (event) => {
      const assigned: TopicPartition[] = Object.entries(event.payload.memberAssignment).flatMap(([topic, parts]) =>
        (parts as number[]).map((partition) => ({ topic, partition })),
      );
      try {
        for (const p of await handlers.onAssigned(assigned)) c.seek({ topic: p.topic, partition: p.partition, offset: p.offset });
      } catch (err) {
        this.opts.logger?.error({ err }, "could not read stored offsets on assignment; batches are still filtered by them");
      }
    });
    await c.connect();
    await c.subscribe({ topics, fromBeginning: true });
    await c.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.opts.partitionsConsumedConcurrently ?? 1,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
        if (batch.messages.length === 0) return;
        const records: ConsumedRecord[] = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key,
          value: m.value,
          headers: headerText(m.headers),
        }));
        const outcome = await handlers.onBatch(
          {
            topic: batch.topic,
            partition: batch.partition,
            records,
            highWatermark: batch.highWatermark,
            // kafkajs keeps the fetch position on the batch (untyped): it tells a stale batch from a real gap.
            fetchedOffset: String((batch as unknown as { fetchedOffset?: string }).fetchedOffset ?? batch.firstOffset() ?? "0"),
          },
          { heartbeat, isActive: () => isRunning() && !isStale() && !this.stopped },
        );
        if (outcome.kind === "done") {
          const last = BigInt(outcome.nextOffset) - 1n;
          if (last >= BigInt(batch.firstOffset() ?? "0")) resolveOffset(last.toString());
          // Lag hint for tools that read group offsets; PostgreSQL holds the truth.
          await c
            .commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: outcome.nextOffset }])
            .catch((err) => this.opts.logger?.debug({ err }, "group offset commit failed (hint only)"));
        } else if (outcome.kind === "seek") {
          c.seek({ topic: batch.topic, partition: batch.partition, offset: outcome.offset });
        }
      },
    });
  }

  seek(tp: TopicPartition, offset: string): void {
    this.consumer.seek({ topic: tp.topic, partition: tp.partition, offset });
  }

  pauseTopics(topics: string[]): void {
    this.consumer.pause(topics.map((topic) => ({ topic })));
  }

  resumeTopics(topics: string[]): void {
    this.consumer.resume(topics.map((topic) => ({ topic })));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.consumer.disconnect();
  }
}

export class KafkaJsProducer implements ProducerPort {
  private readonly producer: Producer;
  private readonly admin: KafkaJsAdmin;
  private readonly partitionCounts = new Map<string, number>();

  constructor(opts: KafkaJsOptions) {
    const kafka = client(opts);
    // Idempotent: broker-side dedup of retried sends, so a retry never writes a record twice.
    this.producer = kafka.producer({
      idempotent: true,
      retry: { initialRetryTime: 200, maxRetryTime: 5000, retries: Number.MAX_SAFE_INTEGER },
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    this.admin = new KafkaJsAdmin(opts, kafka);
  }

  async connect(): Promise<void> {
    await this.producer.connect();
  }

  async send(topic: string, records: ProducedRecord[]): Promise<Position[]> {
    if (records.length === 0) return [];
    const partitions = await this.partitionCount(topic);
    // We pick the partition ourselves (Kafka's murmur2 of the key, as Java clients do) to know each
    // record's position: within a partition, records of one send get consecutive offsets in order.
    const messages = records.map((r) => ({ key: r.key, value: r.value, headers: r.headers, partition: partitionForKey(r.key, partitions) }));
    // Sends in slices well under the broker's message.max.bytes (1 MiB by default), in order.
    const positions: Position[] = [];
    let slice: typeof messages = [];
    let bytes = 0;
    const flush = async () => {
      if (slice.length === 0) return;
      const meta = await this.producer.send({ topic, acks: -1, messages: slice });
      const base = new Map(meta.map((m) => [m.partition, BigInt(m.baseOffset ?? "0")]));
      const seen = new Map<number, bigint>();
      for (const m of slice) {
        const i = seen.get(m.partition) ?? 0n;
        seen.set(m.partition, i + 1n);
        const b = base.get(m.partition);
        if (b === undefined) throw new Error(`no offset returned for ${topic}/${m.partition}`);
        positions.push({ topic, partition: m.partition, offset: (b + i).toString() });
      }
      slice = [];
      bytes = 0;
    };
    for (const m of messages) {
      const size = m.value.length + m.key.length + Object.entries(m.headers).reduce((s, [k, v]) => s + k.length + v.length + 8, 64);
      if (bytes + size > 512 * 1024) await flush();
      slice.push(m);
      bytes += size;
    }
    await flush();
    return positions;
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
    await this.admin.close();
  }

  private async partitionCount(topic: string): Promise<number> {
    let n = this.partitionCounts.get(topic);
    if (n === undefined) {
      n = (await this.admin.partitionOffsets(topic)).length;
      if (n === 0) throw new Error(`topic ${topic} does not exist`);
      this.partitionCounts.set(topic, n);
    }
    return n;
  }
}

export class KafkaJsAdmin implements AdminPort {
  private readonly admin: Admin;
  private connected?: Promise<void>;

  constructor(opts: KafkaJsOptions, kafka = client(opts)) {
    this.admin = kafka.admin();
  }

  private connect() {
    this.connected ??= this.admin.connect();
    return this.connected;
  }

  async ensureTopic(topic: string, partitions: number): Promise<void> {
    await this.connect();
    const existing = await this.admin.listTopics();
    if (existing.includes(topic)) return;
    const config: ITopicConfig = {
      topic,
      numPartitions: partitions,
      replicationFactor: -1,
      // Replay rebuilds read models from history, so the event topic keeps everything.
      configEntries: [
        { name: "retention.ms", value: "-1" },
        { name: "retention.bytes", value: "-1" },
      ],
    };
    await this.admin.createTopics({ topics: [config], waitForLeaders: true });
  }

  async partitionOffsets(topic: string): Promise<PartitionOffsets[]> {
    await this.connect();
    const offsets = await this.admin.fetchTopicOffsets(topic);
    return offsets
      .map((o) => ({ partition: o.partition, low: o.low, high: o.high }))
      .sort((a, b) => a.partition - b.partition);
  }

  async offsetsAt(topic: string, at: Date): Promise<{ partition: number; offset: string }[]> {
    await this.connect();
    const offsets = await this.admin.fetchTopicOffsetsByTimestamp(topic, at.getTime());
    const ends = new Map((await this.partitionOffsets(topic)).map((p) => [p.partition, p.high]));
    // Kafka answers -1 when no record is that recent: start at the end then.
    return offsets.map((o) => ({ partition: o.partition, offset: o.offset === "-1" ? (ends.get(o.partition) ?? "0") : o.offset }));
  }

  async close(): Promise<void> {
    if (this.connected) await this.admin.disconnect();
  }
}
