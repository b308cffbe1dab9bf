// A record's bytes before any reducer sees them: the wire contract's checks and the Avro decode, for the
// applier and an operator retry alike. Every failure here is deterministic (the bytes are what they are),
// so it parks on first sight.
import { checkRecordBytes, type EventCatalog, type EventEnvelope, type HeaderBytes, headersToEnvelope, renderBytes } from "@idp/events";
import { errorText } from "./failures.ts";
import type { ConsumedRecord } from "./kafka/port.ts";

type RecordBytes = Pick<ConsumedRecord, "key" | "value" | "headers" | "rawHeaders">;

/** The wire headers; adapters that give only decoded strings are taken as UTF-8. */
export const headerBytesOf = (r: Pick<ConsumedRecord, "headers" | "rawHeaders">): HeaderBytes =>
  r.rawHeaders ?? Object.entries(r.headers).map(([name, value]) => [name, Buffer.from(value)] as const);

export interface DecodedRecord {
  envelope: EventEnvelope;
  payload: Record<string, unknown>;
}

/** Why a record cannot be applied, with its envelope when the headers were fine (it names the aggregate). */
export class UndecodableRecordError extends Error {
  override readonly name = "UndecodableRecordError";
  readonly envelope: EventEnvelope | undefined;

  constructor(message: string, envelope: EventEnvelope | undefined) {
    super(message);
    this.envelope = envelope;
  }
}

export function decodeRecord(catalog: EventCatalog, r: RecordBytes): DecodedRecord {
  let violation: unknown;
  try {
    checkRecordBytes(r.key, headerBytesOf(r));
  } catch (err) {
    violation = err;
  }
  let envelope: EventEnvelope;
  try {
    envelope = headersToEnvelope(r.headers);
  } catch (err) {
    // The byte checks name the cause more precisely (a NUL, a repeated header) than a failed pattern does.
    throw new UndecodableRecordError(errorText(violation ?? err), undefined);
  }
  // An envelope that parsed despite a violation still names the aggregate (so later events wait behind
  // it), unless a NUL made it into one of its texts: those never reach a column.
  const usable = violation === undefined || !Object.values(envelope).some((v) => typeof v === "string" && v.includes("\u0000"));
  if (violation !== undefined) throw new UndecodableRecordError(errorText(violation), usable ? envelope : undefined);
  try {
    if (!r.value) throw new Error("the record has no value");
    const payload = catalog.decode(envelope.eventType, envelope.schemaVersion, r.value);
    // A newer writer version is read as a prefix, which does not notice a truncated value.
    if (typeof payload !== "object" || payload === null) throw new Error(`${envelope.eventType} v${envelope.schemaVersion}: the value is truncated`);
    const nul = nulField(payload);
    if (nul !== undefined) throw new Error(`contract violation: payload field ${nul} contains a NUL character (PostgreSQL text cannot hold it)`);
    return { envelope, payload };
  } catch (err) {
    throw new UndecodableRecordError(errorText(err), envelope);
  }
}

/** The path of the first string holding a NUL, if any (decoded Avro: plain objects, arrays, maps). */
function nulField(v: unknown): string | undefined {
  const path = nulPath(v);
  return path === "" ? "(root)" : path;
}

/** "" for the value itself; the path is only built for a find (every record is checked). */
function nulPath(v: unknown): string | undefined {
  if (typeof v === "string") return v.includes("\u0000") ? "" : undefined;
  if (typeof v !== "object" || v === null || Buffer.isBuffer(v)) return undefined;
  for (const k of Object.keys(v)) {
    const found = nulPath((v as Record<string, unknown>)[k]);
    if (found !== undefined) return found === "" ? k : `${k}.${found}`;
  }
  return undefined;
}

/** The headers as readable text (invalid bytes escaped), a repeated name as a list: the parked row's headers. */
export function renderHeaders(headers: HeaderBytes): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of headers) {
    const n = renderBytes(Buffer.from(name), 200);
    const v = renderBytes(value, 2000);
    const seen = out[n];
    out[n] = seen === undefined ? v : Array.isArray(seen) ? [...seen, v] : [seen, v];
  }
  return out;
}

/** The headers losslessly: [name, base64 value] in wire order (a name with control bytes escaped). */
export const headerBytesJson = (headers: HeaderBytes) =>
  headers.map(([name, value]) => [renderBytes(Buffer.from(name), 1000), Buffer.from(value).toString("base64")]);

/** Back from headerBytesJson (names that needed no escaping come back exact). */
export const headerBytesFromJson = (json: [string, string][]): HeaderBytes => json.map(([name, b64]) => [name, Buffer.from(b64, "base64")] as const);

/** A contract header's value as safe text for a column (escaped), when the envelope could not be read. */
export function headerText(headers: HeaderBytes, name: string): string | null {
  let found: Uint8Array | undefined;
  for (const [n, v] of headers) if (n === name) found = v;
  return found ? renderBytes(found, 200) : null;
}
