// The consumer a projector reads with, by KAFKA_CLIENT: both adapters implement the same port and get the
// same fetch bounds (per partition, and per fetch at least 16 MiB or one full batch of every partition applied at once).
import type { Logger } from "pino";
import { KafkaJsConsumer } from "./kafkajs.ts";
import { PlatformaticConsumer } from "./platformatic.ts";
import type { ConsumerPort } from "./port.ts";

export const KAFKA_CLIENTS = ["kafkajs", "platformatic"] as const;
export type KafkaClient = (typeof KAFKA_CLIENTS)[number];

export interface ConsumerOptions {
  brokers: string[];
  clientId: string;
  groupId: string;
  partitionsConsumedConcurrently: number;
  maxBytesPerPartition: number;
  sessionTimeoutMs: number;
  logger: Logger;
}

export function createConsumer(client: KafkaClient, o: ConsumerOptions): ConsumerPort {
  if (client === "kafkajs") return new KafkaJsConsumer(o);
  return new PlatformaticConsumer({ ...o, maxBytes: Math.max(16 * 1024 * 1024, o.maxBytesPerPartition * o.partitionsConsumedConcurrently) });
}
