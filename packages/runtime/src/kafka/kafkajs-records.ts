// kafkajs 2.2.4 (its last release, 2023) decodes each record's headers by copying an object once per
// header (11 copies per record here) and its timestamps and offsets through a BigInt wrapper: a fifth
// of the projector's busy CPU while catching up (README "Performance"). This module puts a decoder of
// the same record format (Kafka's record v2: attributes, timestamp delta, offset delta, key, value,
// headers) with the same result shape in kafkajs' place for it, in one pass. kafkajs requires its fetch
// decoders on the first fetch and keeps them, so this must be evaluated before any fetch: client.ts, where
// every kafkajs client of ours is made, imports it first (a test checks that it took).
import { createRequire, Module } from "node:module";

/** The parts of kafkajs' Decoder the record needs (it reads from `buffer` at `offset`). */
interface KafkaJsDecoder {
  buffer: Buffer;
  offset: number;
  readInt8(): number;
  readVarInt(): number;
  readVarIntBytes(): Buffer | null;
  readVarIntString(): string | null;
}

interface BatchContext {
  firstOffset?: string;
  firstTimestamp?: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
}

type Headers = Record<string, Buffer | null | (Buffer | null)[]>;

const LOG_APPEND_TIME = 1;

/** A zigzag varint of up to 64 bits: a number while it is exact, a bigint beyond. */
function readVarLong(d: KafkaJsDecoder): number | bigint {
  const b = d.buffer;
  let n = 0;
  let scale = 1;
  let byte: number;
  let i = 0;
  do {
    byte = b[d.offset++] ?? 0;
    n += (byte & 0x7f) * scale;
    scale *= 128;
  } while (byte & 0x80 && ++i < 7);
  if (byte & 0x80) {
    // More than 49 bits: finish in bigint.
    let big = BigInt(n);
    let shift = 49n;
    do {
      byte = b[d.offset++] ?? 0;
      big |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
    } while (byte & 0x80 && shift < 70n);
    big = BigInt.asUintN(64, big);
    return (big >> 1n) ^ -(big & 1n);
  }
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
}

/** `base` (a decimal int64) plus `delta`, as decimal text: numbers while exact. */
function plus(base: string | undefined, delta: number | bigint): string {
  const b = Number(base ?? 0);
  if (typeof delta === "number" && Number.isSafeInteger(b)) {
    const sum = b + delta;
    if (Number.isSafeInteger(sum)) return String(sum);
  }
  return (BigInt(base ?? 0) + BigInt(delta)).toString();
}

/** Header values by name; a repeated name gets every value in wire order (kafkajs' shape). */
function readHeaders(d: KafkaJsDecoder): Headers {
  const headers: Headers = {};
  const count = d.readVarInt();
  for (let i = 0; i < count; i++) {
    const name = d.readVarIntString() ?? "null";
    const value = d.readVarIntBytes();
    const seen = Object.hasOwn(headers, name) ? headers[name] : undefined;
    setOwn(headers, name, seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value]);
  }
  return headers;
}

/** An own property even for the name "__proto__" (plain assignment would set the prototype). */
function setOwn(headers: Headers, name: string, value: Headers[string]): void {
  if (name === "__proto__") Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true });
  else headers[name] = value;
}

/** One record of a batch, as kafkajs' own record decoder returns it. */
export function decodeKafkaJsRecord(d: KafkaJsDecoder, batchContext: BatchContext = {}) {
  const { firstOffset, firstTimestamp, magicByte, isControlBatch = false, timestampType, maxTimestamp } = batchContext;
  const attributes = d.readInt8();
  const timestampDelta = readVarLong(d);
  const timestamp = timestampType === LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : plus(firstTimestamp, timestampDelta);
  const offset = plus(firstOffset, d.readVarInt());
  const key = d.readVarIntBytes();
  const value = d.readVarIntBytes();
  const headers = readHeaders(d);
  return { magicByte, attributes, timestamp, offset, key, value, headers, isControlRecord: isControlBatch, batchContext };
}

const require = createRequire(import.meta.url);
const recordDecoderPath = require.resolve("kafkajs/src/protocol/recordBatch/record/v0/decoder.js");
const recordBatchDecoderPath = require.resolve("kafkajs/src/protocol/recordBatch/v0/decoder.js");

// Only while kafkajs has not decoded a fetch yet (after that it holds its own decoder).
if (require.cache[recordBatchDecoderPath] === undefined) {
  const m = new Module(recordDecoderPath);
  m.filename = recordDecoderPath;
  m.loaded = true;
  m.exports = decodeKafkaJsRecord;
  require.cache[recordDecoderPath] = m;
}
