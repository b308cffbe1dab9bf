// The partition of a record is part of the wire contract: producers key every event by its instance id,
// and positions, per-instance lag and single-instance rebuilds compute that partition from the key. This
// is Kafka's default partitioner for keyed records (the Java client's murmur2), written out so that the
// contract does not depend on one client library.

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's murmur2 hash of the key's bytes, as a signed 32-bit integer. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const whole = length - (length % 4);
  for (let i = 0; i < whole; i += 4) {
    let k = (data[i] as number) | ((data[i + 1] as number) << 8) | ((data[i + 2] as number) << 16) | ((data[i + 3] as number) << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  // The tail bytes fall through from the highest one, as in the reference implementation.
  const tail = length % 4;
  if (tail === 3) h ^= (data[whole + 2] as number) << 16;
  if (tail >= 2) h ^= (data[whole + 1] as number) << 8;
  if (tail >= 1) h = Math.imul(h ^ (data[whole] as number), M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

const utf8 = new TextEncoder();

/** The partition Kafka's default partitioner picks for a key (murmur2 of its UTF-8 bytes, made positive). */
export function partitionForKey(key: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError(`partition count must be a positive integer, got ${partitions}`);
  return (murmur2(utf8.encode(key)) & 0x7fffffff) % partitions;
}
