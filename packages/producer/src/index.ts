// Producer SDK: validated, idempotent publishing of identity events, keyed by instance id, returning the
// position of every event written (for read-your-writes).
import {
  DEFAULT_TOPIC,
  type AvroField,
  type AvroRecordValue,
  type EventDefinition,
  type Position,
  catalog as defaultCatalog,
  envelopeSchema,
  envelopeToHeaders,
  formatPosition,
  type EventCatalog,
} from "@idp/events";
import { KafkaJsProducer, type ProducedRecord, type ProducerPort, createLogger } from "@idp/runtime";
import { randomUUID } from "node:crypto";

export interface EventToPublish {
  eventType: string;
  instanceId: string;
  aggregateId: string;
  /** Per-aggregate version, 1, 2, 3… (consumers drop an event at or below the last applied one). */
  aggregateSequence: number;
  resourceOwner: string;
  payload: Record<string, unknown>;
  /** Defaults to the event definition's aggregate type. */
  aggregateType?: string;
  creator?: string;
  createdAt?: Date;
  /** Stable id for tracing; generated when absent. */
  eventId?: string;
  /** Defaults to the newest schema version. */
  schemaVersion?: number;
}

type Envelope = Omit<EventToPublish, "eventType" | "payload">;

/** A typed event: the payload is checked against the definition's newest schema at compile time. */
export function event<F extends readonly AvroField[]>(
  definition: EventDefinition<string, F>,
  envelope: Envelope,
  payload: AvroRecordValue<F>,
): EventToPublish {
  return { ...envelope, eventType: definition.type, payload: payload as Record<string, unknown> };
}

/** Validates an event (envelope and payload) and encodes it as a Kafka record: key, Avro value, headers. */
export function encodeEvent(e: EventToPublish, catalog: EventCatalog = defaultCatalog): ProducedRecord {
  const definition = catalog.definition(e.eventType);
  const envelope = envelopeSchema.parse({
    eventId: e.eventId ?? randomUUID(),
    eventType: e.eventType,
    schemaVersion: e.schemaVersion ?? catalog.latestVersion(e.eventType),
    instanceId: e.instanceId,
    aggregateType: e.aggregateType ?? definition.aggregateType,
    aggregateId: e.aggregateId,
    aggregateSequence: e.aggregateSequence,
    resourceOwner: e.resourceOwner,
    creator: e.creator ?? "",
    createdAt: e.createdAt ?? new Date(),
  });
  return {
    key: envelope.instanceId,
    value: catalog.encode(e.eventType, e.payload, envelope.schemaVersion),
    headers: envelopeToHeaders(envelope),
  };
}

export interface PublisherOptions {
  brokers: string[];
  topic?: string;
  clientId?: string;
  catalog?: EventCatalog;
  /** Another Kafka client behind our port (defaults to kafkajs). */
  producer?: ProducerPort;
}

export class EventPublisher {
  private constructor(
    private readonly producer: ProducerPort,
    readonly topic: string,
    private readonly catalog: EventCatalog,
  ) {}

  static async connect(opts: PublisherOptions): Promise<EventPublisher> {
    const producer =
      opts.producer ??
      new KafkaJsProducer({ brokers: opts.brokers, clientId: opts.clientId ?? "idp-producer", logger: createLogger("producer", "warn") });
    await producer.connect();
    return new EventPublisher(producer, opts.topic ?? DEFAULT_TOPIC, opts.catalog ?? defaultCatalog);
  }

  /** Validates and encodes an event into a Kafka record (throws PayloadValidationError / a zod error). */
  encode(e: EventToPublish): ProducedRecord {
    return encodeEvent(e, this.catalog);
  }

  /** Publishes events in order (per instance, they land in one partition in this order). */
  async publish(events: EventToPublish[]): Promise<Position[]> {
    return this.producer.send(this.topic, events.map((e) => this.encode(e)));
  }

  /** Publishes one event; returns its position token (`topic:partition:offset`). */
  async publishOne(e: EventToPublish): Promise<string> {
    const [p] = await this.publish([e]);
    return formatPosition(p as Position);
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}
