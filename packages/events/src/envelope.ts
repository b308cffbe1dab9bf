// Record headers: the routing metadata of every event, readable without decoding the Avro payload.
import { isUtf8 } from "node:buffer";
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

/** Optional W3C Trace Context headers: they join a consumer's spans to the producer's trace, never the envelope. */
export const TRACE_CONTEXT_HEADER = { parent: "traceparent", state: "tracestate" } as const;

export const AVRO_CONTENT_TYPE = "application/avro";

// Ids are opaque, but bounded and printable: they end up in SQL parameters, logs and URLs.
const ID_PATTERN = /^[A-Za-z0-9._@:-]+$/;
export const idSchema = z.string().min(1).max(200).regex(ID_PATTERN, "only letters, digits and . _ @ : - are allowed");

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

const isText = (v: string, max: number) => v.length >= 1 && v.length <= max;
const isId = (v: string) => isText(v, 200) && ID_PATTERN.test(v);

/**
 * envelopeSchema's rules written out, for the path every record takes (zod's parse costs several times
 * more); zod still words the error of an envelope that fails. The two agree (property-tested).
 */
export function meetsEnvelopeRules(e: EventEnvelope): boolean {
  return (
    isText(e.eventId, 200) &&
    isText(e.eventType, 200) &&
    Number.isSafeInteger(e.schemaVersion) &&
    e.schemaVersion >= 1 &&
    isId(e.instanceId) &&
    isText(e.aggregateType, 100) &&
    isId(e.aggregateId) &&
    Number.isSafeInteger(e.aggregateSequence) &&
    e.aggregateSequence >= 1 &&
    isId(e.resourceOwner) &&
    e.creator.length <= 200 &&
    !Number.isNaN(e.createdAt.getTime())
  );
}

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
  override readonly name: string = "InvalidEnvelopeError";
}

/** Parses record headers; throws InvalidEnvelopeError naming the faulty header. */
type TextHeaders = Readonly<Record<string, string | undefined>>;

function need(h: TextHeaders, name: string): string {
  const v = h[name];
  if (v === undefined) throw new InvalidEnvelopeError(`missing header ${name}`);
  return v;
}

/** 1 to 16 decimal digits (checked by char code: a regex per header costs more on every record). */
function int(h: TextHeaders, name: string): number {
  const raw = need(h, name);
  let digits = raw.length >= 1 && raw.length <= 16;
  for (let i = 0; digits && i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    digits = c >= 48 && c <= 57;
  }
  if (!digits) throw new InvalidEnvelopeError(`header ${name} is not an integer: ${raw.slice(0, 40)}`);
  return Number(raw);
}

export function headersToEnvelope(h: TextHeaders): EventEnvelope {
  const envelope: EventEnvelope = {
    eventId: need(h, HEADER.eventId),
    eventType: need(h, HEADER.eventType),
    schemaVersion: int(h, HEADER.schemaVersion),
    instanceId: need(h, HEADER.instanceId),
    aggregateType: need(h, HEADER.aggregateType),
    aggregateId: need(h, HEADER.aggregateId),
    aggregateSequence: int(h, HEADER.aggregateSequence),
    resourceOwner: need(h, HEADER.resourceOwner),
    creator: h[HEADER.creator] ?? "",
    createdAt: new Date(need(h, HEADER.createdAt)),
  };
  if (meetsEnvelopeRules(envelope)) return envelope;
  const parsed = envelopeSchema.safeParse(envelope);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidEnvelopeError(`invalid header ${issue?.path.join(".")}: ${issue?.message}`);
  }
  return parsed.data;
}

/** A record's headers as on the wire: values are bytes and a name may appear more than once. */
export type HeaderBytes = readonly (readonly [name: string, value: Uint8Array])[];

/** A record breaks the wire contract in a way no retry can change (its bytes are what they are). */
export class ContractViolationError extends InvalidEnvelopeError {
  override readonly name = "ContractViolationError";
  constructor(detail: string) {
    super(`contract violation: ${detail}`);
  }
}

const CONTRACT_HEADERS: ReadonlySet<string> = new Set(Object.values(HEADER));

/**
 * Bytes as readable text for logs and operators: valid UTF-8 stays as it is; NUL and other control
 * characters, invalid bytes and the backslash are escaped (\xNN, \\). Not reversible in general: store
 * the bytes beside it.
 */
export function renderBytes(b: Uint8Array, max = 400): string {
  let out = "";
  let i = 0;
  while (i < b.length && out.length < max) {
    const c = b[i] as number;
    const n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n === 1) {
      out += c === 0x5c ? "\\\\" : c < 0x20 || c === 0x7f ? `\\x${c.toString(16).padStart(2, "0")}` : String.fromCharCode(c);
      i++;
    } else if (n > 1 && i + n <= b.length && isUtf8(b.subarray(i, i + n))) {
      out += Buffer.from(b.subarray(i, i + n)).toString("utf8");
      i += n;
    } else {
      out += `\\x${c.toString(16).padStart(2, "0")}`;
      i++;
    }
  }
  return i < b.length || out.length > max ? `${out.slice(0, max)}…` : out;
}

/** What a UTF-8 contract value must not be: why, or undefined when it is fine. */
function textFault(b: Uint8Array): string | undefined {
  // One pass in JavaScript: contract values are short and mostly ASCII, and two native calls per
  // header cost more than reading the bytes (UTF-8 is checked only when a byte is not ASCII).
  let ascii = true;
  for (let i = 0; i < b.length; i++) {
    const c = b[i] as number;
    if (c === 0) return "contains a NUL byte";
    if (c >= 0x80) ascii = false;
  }
  if (!ascii && !isUtf8(b)) return "is not valid UTF-8";
  return undefined;
}

const AVRO_CONTENT_TYPE_BYTES = Buffer.from(AVRO_CONTENT_TYPE);

/**
 * The contract's rules on a record's raw bytes, which headersToEnvelope cannot see on decoded strings:
 * each contract header at most once, as UTF-8 without NUL; the key present, UTF-8, and equal to the
 * instance-id header (it routes the instance's events to one partition, in order). Other headers are
 * the producer's own (tracing, …): opaque bytes, never interpreted. Throws ContractViolationError.
 */
export function checkRecordBytes(key: Uint8Array | null, headers: HeaderBytes): void {
  let instance: Uint8Array | undefined;
  let contentType: Uint8Array | undefined;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i] as HeaderBytes[number];
    if (!CONTRACT_HEADERS.has(name)) continue;
    // A repeat is looked for among the headers before this one (a record has about a dozen).
    for (let j = 0; j < i; j++) if ((headers[j] as HeaderBytes[number])[0] === name) throw new ContractViolationError(`header ${name} appears more than once`);
    if (name === HEADER.instanceId) instance = value;
    else if (name === HEADER.contentType) contentType = value;
    const fault = textFault(value);
    if (fault) throw new ContractViolationError(`header ${name} ${fault}: "${renderBytes(value, 80)}"`);
  }
  if (key === null) throw new ContractViolationError(`the record has no key (it must equal instance-id${instance ? ` "${renderBytes(instance, 80)}"` : ""})`);
  const fault = textFault(key);
  if (fault) throw new ContractViolationError(`the key ${fault}: "${renderBytes(key, 80)}"`);
  if (instance !== undefined && Buffer.compare(key, instance) !== 0) {
    throw new ContractViolationError(`key "${renderBytes(key, 80)}" differs from instance-id "${renderBytes(instance, 80)}"`);
  }
  if (contentType !== undefined && Buffer.compare(contentType, AVRO_CONTENT_TYPE_BYTES) !== 0) {
    throw new ContractViolationError(`content-type "${renderBytes(contentType, 80)}" is not ${AVRO_CONTENT_TYPE}`);
  }
}
