// Projection specs in Emmett's style: given events, then expected rows, against real PostgreSQL. Events
// go through the same path as in production (Avro encoding, headers, BatchApplier: decode, sequence
// guard, fold, set-based writes, offsets), only without a broker.
import { type EventToPublish, encodeEvent } from "@idp/producer";
import type { ProducedRecord } from "@idp/runtime";
import { type AdminPort, BatchApplier, type ConsumedRecord, createLogger, createPool, migrate, type ServiceDefinition, serviceMigrations } from "@idp/runtime";
import type pg from "pg";
import { databaseUrl, uniqueName } from "./env.ts";

/** An admin port for applying batches without a broker: one partition, starting at offset 0. */
export const noBroker: AdminPort = {
  ensureTopic: async () => {},
  partitionOffsets: async () => [{ partition: 0, low: "0", high: "0" }],
  offsetsAt: async () => [{ partition: 0, offset: "0" }],
  close: async () => {},
};

export interface ProjectionSpec {
  pool: pg.Pool;
  schema: string;
  /**
   * Applies the events as one batch (one transaction); throws if it fails. A failed batch leaves the
   * offsets where they were, so giving the same events again is a redelivery, as Kafka would do it.
   */
  given(...events: EventToPublish[]): Promise<{ applied: number; duplicates: number; parked: number; statements: number }>;
  /** Like given, with records as they are on the wire (e.g. a corrupt payload). */
  givenRecords(...records: ProducedRecord[]): Promise<{ applied: number; duplicates: number; parked: number; statements: number }>;
  /**
   * Like given, through a second applier with write-behind: the batch is folded into its window (as while
   * catching up, on a partition of its own) and written when the window is full (a few rows) or on flush().
   */
  givenBehind(...events: EventToPublish[]): Promise<{ applied: number; duplicates: number; parked: number; statements: number }>;
  /** Writes what the write-behind applier holds. */
  flush(): Promise<void>;
  /** All rows of a table (or view), ordered by the given columns. */
  rows(table: string, orderBy?: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export async function projectionSpec(def: ServiceDefinition, opts: { maxAttempts?: number } = {}): Promise<ProjectionSpec> {
  const schema = uniqueName(`spec_${def.name}`);
  const pool = createPool({ connectionString: databaseUrl(), schema, max: 3 });
  await migrate(pool, schema, serviceMigrations(def));
  const options = {
    pool,
    projection: def.projection,
    catalog: def.catalog,
    admin: noBroker,
    logger: createLogger(`spec-${def.name}`, "silent"),
    maxAttempts: opts.maxAttempts ?? 1,
  };
  /** Applies records as one batch of a partition of its own, at the end of its log (or far from it: behind). */
  const partition = (applier: BatchApplier, topic: string, behind = false) => {
    let offset = 0;
    return async (...produced: ProducedRecord[]) => {
      const records: ConsumedRecord[] = produced.map((r, i) => ({
        topic,
        partition: 0,
        offset: String(offset + i),
        key: Buffer.from(r.key),
        value: r.value,
        headers: r.headers,
      }));
      const end = offset + records.length + (behind ? 1_000_000 : 0);
      const result = await applier.apply({ topic, partition: 0, records, fetchedOffset: String(offset), highWatermark: String(end) });
      if (result.kind !== "done" || !result.stats) throw new Error(`batch not applied: ${result.kind}`);
      offset += records.length;
      return result.stats;
    };
  };
  const givenRecords = partition(new BatchApplier(options), "spec");
  const behindApplier = new BatchApplier({ ...options, writeBehind: { maxRows: 7, maxDelayMs: 60_000, minLag: 1 } });
  const givenBehind = partition(behindApplier, "spec-behind", true);
  return {
    pool,
    schema,
    given: (...events) => givenRecords(...events.map((e) => encodeEvent(e, def.catalog))),
    givenRecords,
    givenBehind: (...events) => givenBehind(...events.map((e) => encodeEvent(e, def.catalog))),
    flush: () => behindApplier.flush(),
    async rows(table, orderBy = "1, 2") {
      return (await pool.query(`SELECT * FROM ${table} ORDER BY ${orderBy}`)).rows;
    },
    async close() {
      await behindApplier.close();
      await pool.query(`DROP SCHEMA ${schema} CASCADE`);
      await pool.end();
    },
  };
}
