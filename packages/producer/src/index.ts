// Producer SDK: validated, idempotent publishing of identity events, keyed by instance id, returning the
// position of every event written (for read-your-writes).

import { randomUUID } from "node:crypto";
import {
  type AvroField,
  type AvroRecordValue,
  DEFAULT_TOPIC,
  catalog as defaultCatalog,
  type EventCatalog,
  type EventDefinition,
  envelopeSchema,
  envelopeToHeaders,
  formatPosition,
  type Position,
} from "@idp/events";
import { createLogger, inSpan, KafkaJsProducer, type ProducedRecord, type ProducerPort, SpanKind, traceHeaders } from "@idp/runtime";

export interface EventToPublish {
  eventType: string;
  instanceId: string;
  aggregateId: string;
  /** Per-aggregate version 1, 2, 3…, increasing in publish order (see the README's sequence rule). */
  aggregateSequence: number;
  resourceOwner: string;
  payload: Record<string, unknown>;
  /** Defaults to the event definition's aggregate type. */
  aggregateType?: string;
  creator?: string;
  createdAt?: Date;
  /** The event's identity (tells a retry from a second event at the same sequence); `event()` sets it. */
  eventId?: string;
  /** Defaults to the newest schema version. */
  schemaVersion?: number;
}

type Envelope = Omit<EventToPublish, "eventType" | "payload">;

/** A typed event: the payload is checked against the definition's newest schema at compile time. */
export function event<F extends readonly AvroField[]>(definition: EventDefinition<string, F>, envelope: Envelope, payload: AvroRecordValue<F>): EventToPublish {
  // The event's identity is fixed here: publishing the same event object again is a retry of one event
  // (consumers drop it), not a second event with the same sequence (a contract violation).
  return { ...envelope, eventId: envelope.eventId ?? randomUUID(), eventType: definition.type, payload: payload as Record<string, unknown> };
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
  private readonly producer: ProducerPort;
  readonly topic: string;
  private readonly catalog: EventCatalog;

  private constructor(producer: ProducerPort, topic: string, catalog: EventCatalog) {
    this.producer = producer;
    this.topic = topic;
    this.catalog = catalog;
  }

  static async connect(opts: PublisherOptions): Promise<EventPublisher> {
    const producer =
      opts.producer ?? new KafkaJsProducer({ brokers: opts.brokers, clientId: opts.clientId ?? "idp-producer", logger: createLogger("producer", "warn") });
    await producer.connect();
    return new EventPublisher(producer, opts.topic ?? DEFAULT_TOPIC, opts.catalog ?? defaultCatalog);
  }

  /** Validates and encodes an event into a Kafka record (throws PayloadValidationError / a zod error). */
  encode(e: EventToPublish): ProducedRecord {
    return encodeEvent(e, this.catalog);
  }

  /** Publishes events in order (per instance, they land in one partition in this order). */
  async publish(events: EventToPublish[]): Promise<Position[]> {
    const records = events.map((e) => this.encode(e));
    // A producer span around the send; its context rides in each record's `traceparent` header so the
    // projector's apply span joins the caller's trace (no header while tracing is off).
    const attributes = {
      "messaging.system": "kafka",
      "messaging.operation.type": "send",
      "messaging.destination.name": this.topic,
      "messaging.batch.message_count": records.length,
    };
    return inSpan(`publish ${this.topic}`, { kind: SpanKind.PRODUCER, attributes }, () => {
      const trace = traceHeaders();
      const traced = Object.keys(trace).length === 0 ? records : records.map((r) => ({ ...r, headers: { ...r.headers, ...trace } }));
      return this.producer.send(this.topic, traced);
    });
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
