import { partitionForKey } from "@idp/events";
import { type Consumer, Partitioners, type Producer } from "kafkajs";
import type { Position } from "../projection.ts";
import { KafkaJsAdmin } from "./admin.ts";
import { client, type KafkaJsOptions, whileTopicUnknown } from "./client.ts";
import { logMayHaveChanged } from "./log.ts";
import {
  type ConsumedRecord,
  type ConsumerHandlers,
  type ConsumerPort,
  fetchMaxBytes,
  type ProducedRecord,
  type ProducerPort,
  type TopicPartition,
} from "./port.ts";

export { KafkaJsAdmin } from "./admin.ts";
export type { KafkaJsOptions } from "./client.ts";

type KafkaJsHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined;

/**
 * The headers as text (a repeated name: its last value) and as the wire bytes (every value, in order: what
 * a parked record keeps), in one pass over kafkajs' header object.
 */
function convertHeaders(headers: KafkaJsHeaders): Pick<ConsumedRecord, "headers" | "rawHeaders"> {
  const text: Record<string, string> = {};
  const raw: [string, Uint8Array][] = [];
  if (headers) {
    for (const name in headers) {
      const v = headers[name];
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) {
        for (const x of v) if (x !== undefined && x !== null) raw.push([name, Buffer.isBuffer(x) ? x : Buffer.from(x)]);
        const last = v[v.length - 1];
        if (last !== undefined && last !== null) text[name] = last.toString();
      } else {
        raw.push([name, Buffer.isBuffer(v) ? v : Buffer.from(v)]);
        text[name] = v.toString();
      }
    }
  }
  return { headers: text, rawHeaders: raw };
}

/**
 * Sends `messages` (each with its partition) and returns each partition's base offset. kafkajs retries
 * a failed send only to brokers that have not answered yet, so a partition whose leader moved to a
 * broker that already answered is left unwritten and missing from the answer: those are sent again.
 */
export async function sendEveryPartition<M extends { partition: number }>(
  send: (messages: M[]) => Promise<{ partition: number; baseOffset?: string }[]>,
  messages: M[],
  attempts = 10,
): Promise<Map<number, bigint>> {
  const base = new Map<number, bigint>();
  let pending = messages;
  for (let attempt = 1; pending.length > 0 && attempt <= attempts; attempt++) {
    for (const m of await send(pending)) base.set(m.partition, BigInt(m.baseOffset ?? "0"));
    pending = pending.filter((m) => !base.has(m.partition));
  }
  return base;
}

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
  /** Partitions whose group-offset commit hint is in flight. */
  private readonly committing = new Set<string>();

  private handlers?: ConsumerHandlers;

  private readonly opts: KafkaJsConsumerOptions;

  constructor(opts: KafkaJsConsumerOptions) {
    this.opts = opts;
    const onLogEntry = (entry: { message?: unknown; error?: unknown }) => {
      if (logMayHaveChanged(entry)) this.handlers?.onLogMayHaveChanged?.();
    };
    this.consumer = client({ ...opts, onLogEntry }).consumer({
      groupId: opts.groupId,
      sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: Math.max(500, Math.floor((opts.sessionTimeoutMs ?? 30_000) / 10)),
      maxBytesPerPartition: opts.maxBytesPerPartition ?? 2 * 1024 * 1024,
      // Bounds memory held by one fetch, and lets each partition processed in parallel fill its batch.
      maxBytes: fetchMaxBytes(opts.maxBytesPerPartition, opts.partitionsConsumedConcurrently),
      retry: { initialRetryTime: 200, maxRetryTime: 5000, retries: 1_000_000 },
    });
  }

  async start(topics: string[], handlers: ConsumerHandlers): Promise<void> {
    this.handlers = handlers;
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
    await whileTopicUnknown(() => c.subscribe({ topics, fromBeginning: true }), `subscribe to ${topics.join(", ")}`, {
      onRetry: (err) => this.opts.logger?.warn({ err }, "a broker does not know the topic yet; subscribing again"),
    });
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
          ...convertHeaders(m.headers),
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
          // Lag hint for tools that read group offsets; PostgreSQL holds the truth. Not awaited, so a slow or
          // lost group coordinator never holds up the next fetch; one commit in flight per partition (a
          // skipped hint is overtaken by the next batch's).
          const tp = `${batch.topic}/${batch.partition}`;
          if (!this.committing.has(tp)) {
            this.committing.add(tp);
            void c
              .commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: outcome.nextOffset }])
              .catch((err) => this.opts.logger?.debug({ err }, "group offset commit failed (hint only)"))
              .finally(() => this.committing.delete(tp));
          }
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

  pausePartitions(tps: TopicPartition[]): void {
    for (const tp of tps) this.consumer.pause([{ topic: tp.topic, partitions: [tp.partition] }]);
  }

  resumePartitions(tps: TopicPartition[]): void {
    for (const tp of tps) this.consumer.resume([{ topic: tp.topic, partitions: [tp.partition] }]);
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
      const base = await sendEveryPartition((messages) => this.producer.send({ topic, acks: -1, messages }), slice);
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
