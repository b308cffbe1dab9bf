// The runtime's own small Kafka port: what the projector needs from a client, nothing more. Two adapters
// implement it (kafkajs.ts, platformatic.ts; KAFKA_CLIENT picks one), compared side by side in the benchmark.
import type { Position } from "../projection.ts";

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface ConsumedRecord extends TopicPartition {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  /** The headers as on the wire (bytes, repeated names kept), when the adapter has them. */
  rawHeaders?: readonly (readonly [name: string, value: Uint8Array])[];
}

export interface RecordBatch extends TopicPartition {
  records: ConsumedRecord[];
  /** The offset this batch was fetched from (records start at or after it). */
  fetchedOffset: string;
  /** Offset of the next record the broker will write (end of the partition log). */
  highWatermark: string;
}

export interface BatchContext {
  heartbeat(): Promise<void>;
  /** False once the consumer stops or the partition was revoked: abandon the batch without committing. */
  isActive(): boolean;
}

export type BatchOutcome = { kind: "done"; nextOffset: string } | { kind: "seek"; offset: string } | { kind: "abandon" };

export interface ConsumerHandlers {
  /** Partitions newly assigned to this member: return where each must start (from PostgreSQL). */
  onAssigned(assigned: TopicPartition[]): Promise<(TopicPartition & { offset: string })[]>;
  onBatch(batch: RecordBatch, ctx: BatchContext): Promise<BatchOutcome>;
  /** The client saw signs that the log may have been replaced (topic unknown, offset out of range, broker lost). */
  onLogMayHaveChanged?(): void;
}

/** Largest fetch of one request, for either client: 16 MiB, or a full batch of every partition applied at once. */
export const fetchMaxBytes = (maxBytesPerPartition: number | undefined, partitionsConsumedConcurrently: number | undefined): number =>
  Math.max(16 * 1024 * 1024, (maxBytesPerPartition ?? 0) * (partitionsConsumedConcurrently ?? 1));

export interface ConsumerPort {
  start(topics: string[], handlers: ConsumerHandlers): Promise<void>;
  seek(tp: TopicPartition, offset: string): void;
  /** Stops fetching these topics (the running batch completes); resume continues where it stopped. */
  pauseTopics(topics: string[]): void;
  resumeTopics(topics: string[]): void;
  /** Stops / resumes single partitions (a partition whose stored position belongs to another log). */
  pausePartitions?(tps: TopicPartition[]): void;
  resumePartitions?(tps: TopicPartition[]): void;
  /** Drains the running batch, commits, leaves the group. */
  stop(): Promise<void>;
}

export interface ProducedRecord {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

export interface ProducerPort {
  connect(): Promise<void>;
  /** Appends records in order; returns each record's position, in input order. */
  send(topic: string, records: ProducedRecord[]): Promise<Position[]>;
  disconnect(): Promise<void>;
}

export interface PartitionOffsets {
  partition: number;
  /** Earliest offset still retained. */
  low: string;
  /** Next offset to be written. */
  high: string;
}

export interface AdminPort {
  ensureTopic(topic: string, partitions: number): Promise<void>;
  partitionOffsets(topic: string): Promise<PartitionOffsets[]>;
  /** Per partition, the first offset whose record timestamp is at or after `at` (the end when none). */
  offsetsAt(topic: string, at: Date): Promise<{ partition: number; offset: string }[]>;
  /** The Kafka cluster's id (stored beside the offsets: positions of another cluster are refused). */
  clusterId?(): Promise<string>;
  close(): Promise<void>;
}
