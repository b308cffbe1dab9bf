// The consumer a projector reads with, by KAFKA_CLIENT: both adapters implement the same port and bound
// their fetches the same way (per partition, and per request by fetchMaxBytes).
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
  return client === "kafkajs" ? new KafkaJsConsumer(o) : new PlatformaticConsumer(o);
}
