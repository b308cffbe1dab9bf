// Record headers: the routing metadata of every event, readable without decoding the Avro payload.
import { z } from "zod";

export const DEFAULT_TOPIC = "identity.events";

/** Header names of the wire contract (all values UTF-8 strings). */
export const HEADER = {
  eventId: "event-id",
  eventType: "event-type",
  schemaVersion: "schema-version",
  instanceId: "instance-id",
  aggregateType: "aggregate-type",
  aggregateId: "aggregate-id",
  aggregateSequence: "aggregate-sequence",
  resourceOwner: "resource-owner",
  creator: "creator",
  createdAt: "created-at",
  contentType: "content-type",
} as const;

export const AVRO_CONTENT_TYPE = "application/avro";

// Ids are opaque, but bounded and printable: they end up in SQL parameters, logs and URLs.
export const idSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9._@:-]+$/, "only letters, digits and . _ @ : - are allowed");

export const envelopeSchema = z.object({
  eventId: z.string().min(1).max(200),
  eventType: z.string().min(1).max(200),
  schemaVersion: z.number().int().min(1),
  instanceId: idSchema,
  aggregateType: z.string().min(1).max(100),
  aggregateId: idSchema,
  aggregateSequence: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  resourceOwner: idSchema,
  creator: z.string().max(200),
  createdAt: z.date(),
});

/** Everything about an event except its payload. */
export type EventEnvelope = z.infer<typeof envelopeSchema>;

export type RecordHeaders = Record<string, string>;

export function envelopeToHeaders(e: EventEnvelope): RecordHeaders {
  return {
    [HEADER.eventId]: e.eventId,
    [HEADER.eventType]: e.eventType,
    [HEADER.schemaVersion]: String(e.schemaVersion),
    [HEADER.instanceId]: e.instanceId,
    [HEADER.aggregateType]: e.aggregateType,
    [HEADER.aggregateId]: e.aggregateId,
    [HEADER.aggregateSequence]: String(e.aggregateSequence),
    [HEADER.resourceOwner]: e.resourceOwner,
    [HEADER.creator]: e.creator,
    [HEADER.createdAt]: e.createdAt.toISOString(),
    [HEADER.contentType]: AVRO_CONTENT_TYPE,
  };
}

export class InvalidEnvelopeError extends Error {
  override readonly name = "InvalidEnvelopeError";
}

/** Parses record headers; throws InvalidEnvelopeError naming the faulty header. */
export function headersToEnvelope(h: Readonly<Record<string, string | undefined>>): EventEnvelope {
  const need = (name: string) => {
    const v = h[name];
    if (v === undefined) throw new InvalidEnvelopeError(`missing header ${name}`);
    return v;
  };
  const int = (name: string) => {
    const raw = need(name);
    if (!/^\d{1,16}$/.test(raw)) throw new InvalidEnvelopeError(`header ${name} is not an integer: ${raw.slice(0, 40)}`);
    return Number(raw);
  };
  const createdAt = new Date(need(HEADER.createdAt));
  const parsed = envelopeSchema.safeParse({
    eventId: need(HEADER.eventId),
    eventType: need(HEADER.eventType),
    schemaVersion: int(HEADER.schemaVersion),
    instanceId: need(HEADER.instanceId),
    aggregateType: need(HEADER.aggregateType),
    aggregateId: need(HEADER.aggregateId),
    aggregateSequence: int(HEADER.aggregateSequence),
    resourceOwner: need(HEADER.resourceOwner),
    creator: h[HEADER.creator] ?? "",
    createdAt,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidEnvelopeError(`invalid header ${issue?.path.join(".")}: ${issue?.message}`);
  }
  return parsed.data;
}
