// The wire contract as files for producers in other languages: one .avsc per event type and version,
// an index of them, and an AsyncAPI 3.0 document of the topic. Pure functions of the catalogue, so the
// checked-in files can be regenerated (scripts/generate-contract.ts) and compared in a test.
import type { AvroRecord } from "./avro.ts";
import type { EventDefinition } from "./define.ts";
import { AVRO_CONTENT_TYPE, DEFAULT_TOPIC, HEADER, TRACE_CONTEXT_HEADER } from "./envelope.ts";

export const CONTRACT_REGENERATE_COMMAND = "npm run contract:generate -w @idp/events";
export const AVRO_DIR = "avro";
export const ASYNCAPI_FILE = "asyncapi.json";
export const AVRO_SCHEMA_FORMAT = "application/vnd.apache.avro;version=1.9.0";

/** `user.human.added.v2.avsc`: the header values a producer sends, so the file is found from them. */
export const avscFileName = (eventType: string, version: number) => `${eventType}.v${version}.avsc`;
const messageId = (eventType: string, version: number) => `${eventType}.v${version}`;

// Two-space JSON with a final newline: stable bytes, readable diffs.
const render = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

const sorted = (definitions: readonly EventDefinition[]) => [...definitions].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));

/** Every contract file, path relative to the package directory → exact content. */
export function contractFiles(definitions: readonly EventDefinition[]): Map<string, string> {
  const files = new Map<string, string>();
  const defs = sorted(definitions);
  for (const d of defs) {
    d.versions.forEach((schema, i) => {
      files.set(`${AVRO_DIR}/${avscFileName(d.type, i + 1)}`, render(schema));
    });
  }
  files.set(`${AVRO_DIR}/index.json`, render(avroIndex(defs)));
  files.set(ASYNCAPI_FILE, render(asyncApiDocument(defs)));
  return files;
}

/** Event type → aliases, aggregate type and schema files: what a generic producer needs to pick a schema. */
function avroIndex(defs: readonly EventDefinition[]) {
  return {
    description:
      "Avro schemas of the identity.events topic, one file per event type and schema version. Send the file's " +
      "event type in the event-type header and its version in schema-version. Aliases are older names " +
      "consumers also accept for the same schemas; producers send the canonical type.",
    events: defs.map((d) => ({
      eventType: d.type,
      aliases: d.aliases,
      aggregateType: d.aggregateType,
      latestVersion: d.versions.length,
      files: d.versions.map((_, i) => avscFileName(d.type, i + 1)),
    })),
  };
}

const ID_PATTERN = "^[A-Za-z0-9._@:-]+$";
const idHeader = (description: string) => ({ type: "string", minLength: 1, maxLength: 200, pattern: ID_PATTERN, description });
const decimal = (description: string) => ({ type: "string", pattern: "^[0-9]{1,16}$", description });

/** The record key. */
export const recordKeySchema = {
  type: "string",
  minLength: 1,
  maxLength: 200,
  pattern: ID_PATTERN,
  description: "The instance id (UTF-8), equal to the instance-id header.",
} as const;

/** Headers every record carries; the rules are those of `headersToEnvelope`. */
export const recordHeadersSchema = {
  type: "object",
  required: [
    HEADER.eventId,
    HEADER.eventType,
    HEADER.schemaVersion,
    HEADER.instanceId,
    HEADER.aggregateType,
    HEADER.aggregateId,
    HEADER.aggregateSequence,
    HEADER.resourceOwner,
    HEADER.createdAt,
  ],
  properties: {
    [HEADER.eventId]: {
      type: "string",
      minLength: 1,
      maxLength: 200,
      description: "Unique id of the event (the SDK sends a UUID): tells a retry of an event from a second event at the same sequence, and serves tracing.",
    },
    [HEADER.eventType]: {
      type: "string",
      minLength: 1,
      maxLength: 200,
      description: "The event type, e.g. user.human.added. Consumers skip types they do not read without decoding the value.",
    },
    [HEADER.schemaVersion]: decimal("Version (≥ 1, decimal) of the event type's Avro schema the value was written with."),
    [HEADER.instanceId]: idHeader("The instance (tenant) id; the same value as the record key."),
    [HEADER.aggregateType]: {
      type: "string",
      minLength: 1,
      maxLength: 100,
      description: "Aggregate type (user, org, instance, session, usergrant, project); with instance-id and aggregate-id it names the aggregate.",
    },
    [HEADER.aggregateId]: idHeader("Id of the aggregate (user, org, session, …) the event belongs to."),
    [HEADER.aggregateSequence]: decimal(
      "Per-aggregate version 1, 2, 3… (≥ 1, at most 2^53 − 1). Increasing in publish order within the aggregate. A consumer drops a retry of an event it applied (same event id, or a position it read before); a new event at or below the last applied sequence is a contract violation and is parked, not applied.",
    ),
    [HEADER.resourceOwner]: idHeader("Id of the organisation owning the aggregate."),
    [HEADER.creator]: { type: "string", maxLength: 200, description: "Who caused the event (a user id); empty when absent." },
    [HEADER.createdAt]: { type: "string", format: "date-time", description: "When the event happened, ISO 8601 (e.g. 2026-01-31T12:00:00.000Z)." },
    [HEADER.contentType]: { type: "string", const: AVRO_CONTENT_TYPE, description: "Encoding of the value. Sent by the SDK; consumers do not require it." },
    [TRACE_CONTEXT_HEADER.parent]: {
      type: "string",
      description:
        "Optional W3C Trace Context of the span that published the record (00-<trace id>-<span id>-<flags>); the projector's apply span joins that trace. Any other header not named here is ignored.",
    },
    [TRACE_CONTEXT_HEADER.state]: { type: "string", description: "Optional W3C Trace Context vendor state, sent with traceparent." },
  },
} as const;

const KAFKA_BINDING_VERSION = "0.5.0";

const PARTITIONER =
  "Partitioner: Kafka's default, murmur2 of the UTF-8 key bytes, made positive (& 0x7fffffff), modulo the " +
  "partition count, as the Java client does by default. librdkafka clients (confluent-kafka-python, " +
  "confluent-kafka-go, …) must set partitioner=murmur2_random (their default, consistent_random, hashes with " +
  "CRC32); franz-go's default partitioner and segmentio/kafka-go's Murmur2Balancer match; Sarama's default " +
  "(FNV-1a) does not. Any partitioner keeps an instance's events in order, but the query APIs locate an " +
  "instance's partition with murmur2 (read-your-writes, X-Projection-Position).";

export function asyncApiDocument(definitions: readonly EventDefinition[]) {
  const defs = sorted(definitions);
  const messages: Record<string, unknown> = {};
  for (const d of defs) {
    d.versions.forEach((schema, i) => {
      messages[messageId(d.type, i + 1)] = message(d, schema, i + 1);
    });
  }
  const channelMessages = Object.fromEntries(Object.keys(messages).map((id) => [id, { $ref: `#/components/messages/${id}` }]));
  const operationMessages = Object.keys(messages).map((id) => ({ $ref: `#/channels/identityEvents/messages/${id}` }));
  return {
    asyncapi: "3.0.0",
    info: {
      title: "Identity events",
      version: "1.0.0",
      description:
        "The events the identity read-model projectors consume. Every record: key = instance id, value = the " +
        "payload in Avro binary (no schema-registry framing), headers = the envelope (UTF-8 strings). Each " +
        "event type has one Avro schema per version; a new version only appends optional fields " +
        '(["null", T], default null), so every version reads as any other under Avro schema resolution.',
    },
    defaultContentType: AVRO_CONTENT_TYPE,
    servers: {
      local: { host: "127.0.0.1:19092", protocol: "kafka", description: "The development broker (infra/kafka.sh)." },
    },
    channels: {
      identityEvents: {
        address: DEFAULT_TOPIC,
        title: DEFAULT_TOPIC,
        description:
          "All identity events in one topic (other names via the TOPICS setting). The key is the instance id, " +
          `so one instance's events stay in one partition, in order. ${PARTITIONER}`,
        messages: channelMessages,
        bindings: {
          kafka: { topic: DEFAULT_TOPIC, topicConfiguration: { "retention.ms": -1 }, bindingVersion: KAFKA_BINDING_VERSION },
        },
      },
    },
    operations: {
      publishIdentityEvents: {
        action: "send",
        title: "Publish identity events",
        description: "What a producer (the TypeScript SDK or any Kafka client) writes.",
        channel: { $ref: "#/channels/identityEvents" },
        messages: operationMessages,
      },
      projectIdentityEvents: {
        action: "receive",
        title: "Project identity events",
        description: "What the projector services read, each in its own consumer group (idp-<service>).",
        channel: { $ref: "#/channels/identityEvents" },
        messages: operationMessages,
      },
    },
    components: {
      schemas: {
        RecordHeaders: recordHeadersSchema,
      },
      messages,
    },
  };
}

function message(d: EventDefinition, schema: AvroRecord, version: number) {
  const names = [d.type, ...d.aliases];
  const aliasNote = d.aliases.length ? ` Consumers also accept the older name${d.aliases.length > 1 ? "s" : ""} ${d.aliases.join(", ")}.` : "";
  return {
    name: d.type,
    title: `${d.type} v${version}`,
    summary: `${schema.doc ? `${schema.doc} ` : ""}Aggregate type ${d.aggregateType}; schema ${avscFileName(d.type, version)}${version < d.versions.length ? ` (newest: v${d.versions.length})` : ""}.${aliasNote}`,
    contentType: AVRO_CONTENT_TYPE,
    headers: {
      type: "object",
      allOf: [
        { $ref: "#/components/schemas/RecordHeaders" },
        {
          type: "object",
          properties: {
            [HEADER.eventType]: d.aliases.length ? { type: "string", enum: names } : { type: "string", const: d.type },
            [HEADER.schemaVersion]: { type: "string", const: String(version) },
            [HEADER.aggregateType]: { type: "string", examples: [d.aggregateType] },
          },
        },
      ],
    },
    payload: { schemaFormat: AVRO_SCHEMA_FORMAT, schema: { $ref: `./${AVRO_DIR}/${avscFileName(d.type, version)}` } },
    // Inline, not a $ref: the binding's key is "schema or reference", and a bare $ref would match both.
    bindings: { kafka: { key: recordKeySchema, bindingVersion: KAFKA_BINDING_VERSION } },
  };
}
