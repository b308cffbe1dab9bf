// The admin side of the kafkajs adapter: topics, end offsets, offsets by time, the cluster id.
import type { Admin, ITopicConfig } from "kafkajs";
import { client, type KafkaJsOptions, TOPIC_NOT_YET_KNOWN } from "./client.ts";
import type { AdminPort, PartitionOffsets } from "./port.ts";

const CREATION_RACES = new Set(["TOPIC_ALREADY_EXISTS", ...TOPIC_NOT_YET_KNOWN]);

export class KafkaJsAdmin implements AdminPort {
  private readonly admin: Admin;
  private connected?: Promise<void>;

  constructor(opts: KafkaJsOptions, kafka = client(opts)) {
    this.admin = kafka.admin();
  }

  private connect() {
    // A failed connect is tried again on the next call (the broker may be up by then).
    this.connected ??= this.admin.connect().catch((err) => {
      this.connected = undefined;
      throw err;
    });
    return this.connected;
  }

  /** The id of the Kafka cluster the brokers belong to. */
  async clusterId(): Promise<string> {
    await this.connect();
    return (await this.admin.describeCluster()).clusterId;
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
    try {
      await this.admin.createTopics({ topics: [config], waitForLeaders: true });
    } catch (err) {
      // Created concurrently by another process, or created but not yet in the metadata (KRaft answers
      // "unknown topic" for a moment, which kafkajs' wait for leaders does not retry): wait for the leaders.
      if (!CREATION_RACES.has((err as { type?: string }).type ?? "")) throw err;
      await this.waitForLeaders(topic);
    }
  }

  private async waitForLeaders(topic: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const meta = await this.admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
      const parts = meta?.topics[0]?.partitions ?? [];
      if (parts.length > 0 && parts.every((p) => p.leader >= 0)) return;
      if (Date.now() > deadline) throw new Error(`topic ${topic}: no leader for every partition within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async partitionOffsets(topic: string): Promise<PartitionOffsets[]> {
    await this.connect();
    const offsets = await this.admin.fetchTopicOffsets(topic);
    return offsets.map((o) => ({ partition: o.partition, low: o.low, high: o.high })).sort((a, b) => a.partition - b.partition);
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
