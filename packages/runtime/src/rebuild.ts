// Rebuilds: replay the topic into a shadow schema while the live read model keeps serving and consuming.
// Full: when the shadow has caught up, the schemas are swapped by renaming, in one transaction; the live
// projector's next batch lands in the new schema, whose own offsets tell it what is already applied (the
// old schema is kept for rollback until an operator drops it). Single instance: only that tenant's events
// are replayed, then its rows are swapped under the lock of the live partition's offsets row; other
// tenants are not touched and keep flowing. Shadows persist their offsets, so a rebuild that was killed
// resumes where it stopped when started again.
import type { EventCatalog } from "@idp/events";
import { HEADER } from "@idp/events";
import { createHash } from "node:crypto";
import type pg from "pg";
import type { Logger } from "pino";
import type { ServiceConfig } from "./config.ts";
import { type Migration, migrate } from "./db/migrate.ts";
import { createPool } from "./db/pool.ts";
import { ApiError } from "./http/errors.ts";
import { KafkaJsConsumer, partitionForKey } from "./kafka/kafkajs.ts";
import type { AdminPort } from "./kafka/port.ts";
import { createMetrics } from "./metrics.ts";
import type { Projection } from "./projection.ts";
import { Projector } from "./projector.ts";

export interface TableDiff {
  table: string;
  added: number;
  changed: number;
  removed: number;
}

export interface RebuildStatus {
  kind: "full" | "instance";
  instanceId?: string;
  dryRun: boolean;
  state: "running" | "switching" | "done" | "failed";
  shadowSchema: string;
  startedAt: string;
  finishedAt?: string;
  progress: { applied: number; target: number; ratio: number; eventsPerSecond: number; etaSeconds: number | null };
  /** Full rebuild: the previous live schema, kept for rollback. */
  oldSchema?: string;
  diff?: TableDiff[];
  error?: string;
}

export interface RebuildDeps {
  config: ServiceConfig;
  projection: Projection;
  catalog: EventCatalog;
  migrations: Migration[];
  /** The live projector's pool (schema owner). */
  pool: pg.Pool;
  admin: AdminPort;
  logger: Logger;
  /** Called after the live schema changed under the running service (positions must be re-read). */
  onSwitched?: () => void;
  /** Rebuild progress (0..1) for metrics. */
  onProgress?: (ratio: number) => void;
}

const q = (name: string) => `"${name.replaceAll('"', '""')}"`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RebuildManager {
  private job?: { status: RebuildStatus; projector?: Projector; pool?: pg.Pool };

  constructor(private readonly deps: RebuildDeps) {}

  status(): RebuildStatus | undefined {
    return this.job?.status;
  }

  /** Shadows and old schemas left behind (an interrupted rebuild, or old schemas kept for rollback). */
  async leftovers(): Promise<{ shadows: string[]; oldSchemas: string[] }> {
    const schema = this.deps.config.schema;
    const { rows } = await this.deps.pool.query(
      "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1 ESCAPE '!' ORDER BY 1",
      [`${schema.replaceAll("_", "!_")}!_%`],
    );
    const names = rows.map((r) => r.nspname as string);
    return {
      shadows: names.filter((n) => n === `${schema}_rebuild` || n.startsWith(`${schema}_ri_`)),
      oldSchemas: names.filter((n) => n.startsWith(`${schema}_old_`)),
    };
  }

  async start(opts: { instanceId?: string; dryRun?: boolean }): Promise<RebuildStatus> {
    if (this.job && (this.job.status.state === "running" || this.job.status.state === "switching")) {
      throw new ApiError(409, "rebuild_running", `a rebuild is already running (shadow ${this.job.status.shadowSchema})`);
    }
    const { config } = this.deps;
    // Refuse when history is gone: a rebuild from a truncated topic would silently lose data.
    for (const topic of config.topics) {
      for (const p of await this.deps.admin.partitionOffsets(topic)) {
        if (BigInt(p.low) > 0n) {
          throw new ApiError(
            409,
            "history_truncated",
            `cannot rebuild: ${topic} partition ${p.partition} starts at offset ${p.low}; older events were deleted by retention, so a replay would lose them`,
          );
        }
      }
    }
    const shadowSchema = opts.instanceId
      ? `${config.schema}_ri_${createHash("sha1").update(opts.instanceId).digest("hex").slice(0, 12)}`
      : `${config.schema}_rebuild`;
    const status: RebuildStatus = {
      kind: opts.instanceId ? "instance" : "full",
      ...(opts.instanceId ? { instanceId: opts.instanceId } : {}),
      dryRun: opts.dryRun === true,
      state: "running",
      shadowSchema,
      startedAt: new Date().toISOString(),
      progress: { applied: 0, target: 0, ratio: 0, eventsPerSecond: 0, etaSeconds: null },
    };
    const pool = createPool({ connectionString: config.databaseUrl, schema: shadowSchema, max: config.partitionsConcurrency + 1, applicationName: `rebuild:${shadowSchema}`.slice(0, 63) });
    await migrate(pool, shadowSchema, this.deps.migrations);
    const instanceId = opts.instanceId;
    const projector = new Projector({
      projection: this.deps.projection,
      catalog: this.deps.catalog,
      pool,
      consumer: new KafkaJsConsumer({
        brokers: config.kafkaBrokers,
        clientId: `${config.service}-rebuild`,
        groupId: `${config.groupId}-${shadowSchema}`,
        partitionsConsumedConcurrently: config.partitionsConcurrency,
        maxBytesPerPartition: config.fetchMaxBytesPerPartition,
        sessionTimeoutMs: config.sessionTimeoutMs,
        logger: this.deps.logger,
      }),
      admin: this.deps.admin,
      topics: config.topics,
      logger: this.deps.logger.child({ rebuild: shadowSchema }),
      metrics: createMetrics({ projection: `${this.deps.projection.name}-rebuild` }),
      maxAttempts: config.maxAttempts,
      ...(instanceId ? { recordFilter: (r) => r.headers[HEADER.instanceId] === instanceId } : {}),
    });
    this.job = { status, projector, pool };
    await projector.start();
    this.deps.logger.info({ shadowSchema, instanceId, dryRun: status.dryRun }, "rebuild started");
    void this.run(status, projector, pool).catch((err) => {
      status.state = "failed";
      status.error = (err as Error).message;
      status.finishedAt = new Date().toISOString();
      this.deps.logger.error({ err, shadowSchema }, "rebuild failed");
    });
    return status;
  }

  /** Partitions the rebuild must reach: all of them, or the instance's partition of each topic. */
  private async partitions(instanceId?: string) {
    const out: { topic: string; partition: number; end: bigint }[] = [];
    for (const topic of this.deps.config.topics) {
      const offsets = await this.deps.admin.partitionOffsets(topic);
      const mine = instanceId === undefined ? undefined : partitionForKey(instanceId, offsets.length);
      for (const p of offsets) if (mine === undefined || p.partition === mine) out.push({ topic, partition: p.partition, end: BigInt(p.high) });
    }
    return out;
  }

  private async offsets(db: pg.Pool | pg.PoolClient, schema: string, lock = false) {
    const { rows } = await db.query(
      `SELECT topic, partition, next_offset::text AS next FROM ${q(schema)}.projector_offsets WHERE projection = $1${lock ? " FOR UPDATE" : ""}`,
      [this.deps.projection.name],
    );
    return new Map(rows.map((r) => [`${r.topic}/${r.partition}`, BigInt(r.next)]));
  }

  private async run(status: RebuildStatus, projector: Projector, shadowPool: pg.Pool) {
    const { config, pool } = this.deps;
    const instanceId = status.instanceId;
    const parts = await this.partitions(instanceId);
    status.progress.target = Number(parts.reduce((s, p) => s + p.end, 0n));
    const t0 = Date.now();
    let first: number | undefined;
    // Catch up: the shadow has reached what the live projection has applied on every relevant partition.
    for (;;) {
      const shadow = await this.offsets(shadowPool, status.shadowSchema);
      const live = await this.offsets(pool, config.schema);
      const applied = parts.reduce((s, p) => s + (shadow.get(`${p.topic}/${p.partition}`) ?? 0n), 0n);
      const n = Number(applied);
      first ??= n;
      const elapsed = (Date.now() - t0) / 1000;
      const rate = elapsed > 0 ? (n - first) / elapsed : 0;
      const target = Math.max(status.progress.target, n);
      status.progress = {
        applied: n,
        target,
        ratio: target ? n / target : 1,
        eventsPerSecond: Math.round(rate),
        etaSeconds: rate > 0 ? Math.round((target - n) / rate) : null,
      };
      this.deps.onProgress?.(status.progress.ratio);
      const caughtUp = parts.every((p) => {
        const k = `${p.topic}/${p.partition}`;
        const s = shadow.get(k);
        return s !== undefined && s >= (live.get(k) ?? 0n) && s >= p.end;
      });
      if (caughtUp) break;
      await sleep(250);
    }
    status.state = "switching";
    await projector.stop();

    if (status.dryRun) {
      status.diff = await this.diff(status.shadowSchema, instanceId);
      await shadowPool.end();
      await pool.query(`DROP SCHEMA ${q(status.shadowSchema)} CASCADE`);
    } else if (instanceId === undefined) {
      status.oldSchema = await this.switchFull(status.shadowSchema);
      await shadowPool.end();
    } else {
      await shadowPool.end();
      await this.switchInstance(status.shadowSchema, instanceId, parts);
      await pool.query(`DROP SCHEMA ${q(status.shadowSchema)} CASCADE`);
    }
    status.state = "done";
    status.finishedAt = new Date().toISOString();
    this.deps.onProgress?.(1);
    this.deps.logger.info({ status }, "rebuild finished");
  }

  /** Swaps the schemas by renaming them in one transaction; returns the old schema's new name. */
  private async switchFull(shadow: string): Promise<string> {
    const live = this.deps.config.schema;
    const old = `${live}_old_${new Date().toISOString().replace(/\D/g, "").slice(0, 14)}`;
    const client = await this.deps.pool.connect();
    try {
      await client.query("BEGIN");
      // Wait for in-flight live batches and hold new ones: a batch resolves table names per statement,
      // so one straddling the rename would write partly into each schema. Batches blocked here resume
      // after the commit against the new schema, and its offsets (compare-and-set) decide what they apply.
      await client.query(`LOCK TABLE ${q(live)}.projector_offsets IN EXCLUSIVE MODE`);
      await client.query(`INSERT INTO ${q(shadow)}.projector_audit_log SELECT * FROM ${q(live)}.projector_audit_log`);
      await client.query(`SELECT setval(pg_get_serial_sequence('${shadow}.projector_audit_log', 'id'), coalesce((SELECT max(id) FROM ${q(shadow)}.projector_audit_log), 1))`);
      await client.query(`ALTER SCHEMA ${q(live)} RENAME TO ${q(old)}`);
      await client.query(`ALTER SCHEMA ${q(shadow)} RENAME TO ${q(live)}`);
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      client.release();
    }
    this.deps.onSwitched?.();
    return old;
  }

  /** Replaces one instance's rows with the shadow's, while its live partitions are locked. */
  private async switchInstance(shadow: string, instanceId: string, parts: { topic: string; partition: number }[]) {
    const live = this.deps.config.schema;
    const tables = await this.instanceTables(live);
    for (let attempt = 0; ; attempt++) {
      const client = await this.deps.pool.connect();
      try {
        await client.query("BEGIN");
        const liveOffsets = await this.offsets(client, live, true);
        const shadowOffsets = await this.offsets(client, shadow);
        const behind = parts.some((p) => (shadowOffsets.get(`${p.topic}/${p.partition}`) ?? 0n) < (liveOffsets.get(`${p.topic}/${p.partition}`) ?? 0n));
        if (behind) {
          // The live projection moved on meanwhile: catch the shadow up to it (applies only this tenant).
          await client.query("ROLLBACK");
          if (attempt > 20) throw new Error("the shadow could not catch up with the live partition");
          await this.catchUpInstance(shadow, instanceId);
          continue;
        }
        // Events the shadow applied beyond the live position are dropped later by the live projector's
        // aggregate-sequence guard, because the sequences are swapped too.
        for (const t of tables) {
          const where = t === "projector_aggregate_sequences" ? "instance_id = $1 AND projection = $2" : "instance_id = $1";
          const args = t === "projector_aggregate_sequences" ? [instanceId, this.deps.projection.name] : [instanceId];
          await client.query(`DELETE FROM ${q(live)}.${q(t)} WHERE ${where}`, args);
          await client.query(`INSERT INTO ${q(live)}.${q(t)} SELECT * FROM ${q(shadow)}.${q(t)} WHERE ${where}`, args);
        }
        await client.query("COMMIT");
        return;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    }
  }

  private async catchUpInstance(shadow: string, instanceId: string) {
    const { config } = this.deps;
    const pool = createPool({ connectionString: config.databaseUrl, schema: shadow, max: 2 });
    const projector = new Projector({
      projection: this.deps.projection,
      catalog: this.deps.catalog,
      pool,
      consumer: new KafkaJsConsumer({ brokers: config.kafkaBrokers, clientId: `${config.service}-rebuild`, groupId: `${config.groupId}-${shadow}`, sessionTimeoutMs: config.sessionTimeoutMs, logger: this.deps.logger }),
      admin: this.deps.admin,
      topics: config.topics,
      logger: this.deps.logger,
      metrics: createMetrics({ projection: `${this.deps.projection.name}-rebuild` }),
      recordFilter: (r) => r.headers[HEADER.instanceId] === instanceId,
    });
    await projector.start();
    const target = await this.offsets(this.deps.pool, config.schema);
    for (let i = 0; i < 400; i++) {
      const s = await this.offsets(pool, shadow);
      if ([...target].every(([k, v]) => (s.get(k) ?? 0n) >= v)) break;
      await sleep(50);
    }
    await projector.stop();
    await pool.end();
  }

  /** Tables holding tenant rows (read model, tombstones and aggregate sequences), not the bookkeeping. */
  private async instanceTables(schema: string): Promise<string[]> {
    const { rows } = await this.deps.pool.query(
      `SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
       WHERE c.table_schema = $1 AND c.column_name = 'instance_id' AND t.table_type = 'BASE TABLE'
         AND c.table_name NOT IN ('projector_parked_events') ORDER BY 1`,
      [schema],
    );
    return rows.map((r) => r.table_name as string);
  }

  /** Rows added, changed and removed per read-model table if the shadow replaced the live rows. */
  private async diff(shadow: string, instanceId?: string): Promise<TableDiff[]> {
    const live = this.deps.config.schema;
    const out: TableDiff[] = [];
    for (const table of (await this.instanceTables(live)).filter((t) => !t.startsWith("projector_"))) {
      const { rows: pk } = await this.deps.pool.query(
        `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = $1::regclass AND i.indisprimary`,
        [`${q(live)}.${q(table)}`],
      );
      const key = pk.map((r) => q(r.attname)).join(", ");
      const scope = instanceId === undefined ? "" : " WHERE instance_id = $1";
      const args = instanceId === undefined ? [] : [instanceId];
      const s = `(SELECT * FROM ${q(shadow)}.${q(table)}${scope})`;
      const l = `(SELECT * FROM ${q(live)}.${q(table)}${scope})`;
      const { rows } = await this.deps.pool.query(
        `SELECT
           (SELECT count(*) FROM ${s} n WHERE (${key}) NOT IN (SELECT ${key} FROM ${l} o))::int AS added,
           (SELECT count(*) FROM ${l} o WHERE (${key}) NOT IN (SELECT ${key} FROM ${s} n))::int AS removed,
           (SELECT count(*) FROM (SELECT * FROM ${s} x EXCEPT SELECT * FROM ${l} y) d WHERE (${key}) IN (SELECT ${key} FROM ${l} o))::int AS changed`,
        args,
      );
      out.push({ table, added: rows[0].added, changed: rows[0].changed, removed: rows[0].removed });
    }
    return out;
  }

  /** Puts back the schema that was live before the last switch (the rebuilt one is kept as _old_). */
  async rollback(oldSchema: string): Promise<{ restored: string; keptAs: string }> {
    const live = this.deps.config.schema;
    if (!oldSchema.startsWith(`${live}_old_`)) throw new ApiError(400, "invalid_argument", `${oldSchema} is not an old schema of ${live}`);
    const keptAs = `${live}_old_${new Date().toISOString().replace(/\D/g, "").slice(0, 14)}r`;
    const client = await this.deps.pool.connect();
    try {
      await client.query("BEGIN");
      const exists = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [oldSchema]);
      if (!exists.rowCount) throw new ApiError(404, "not_found", `schema ${oldSchema} not found`);
      await client.query(`LOCK TABLE ${q(live)}.projector_offsets IN EXCLUSIVE MODE`); // as in switchFull
      await client.query(`INSERT INTO ${q(oldSchema)}.projector_audit_log SELECT * FROM ${q(live)}.projector_audit_log ON CONFLICT (id) DO NOTHING`);
      await client.query(`ALTER SCHEMA ${q(live)} RENAME TO ${q(keptAs)}`);
      await client.query(`ALTER SCHEMA ${q(oldSchema)} RENAME TO ${q(live)}`);
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      client.release();
    }
    this.deps.onSwitched?.();
    return { restored: oldSchema, keptAs };
  }

  async dropOld(oldSchema: string): Promise<void> {
    const live = this.deps.config.schema;
    if (!oldSchema.startsWith(`${live}_old_`)) throw new ApiError(400, "invalid_argument", `${oldSchema} is not an old schema of ${live}`);
    await this.deps.pool.query(`DROP SCHEMA IF EXISTS ${q(oldSchema)} CASCADE`);
  }

  async stop(): Promise<void> {
    await this.job?.projector?.stop().catch(() => {});
    await this.job?.pool?.end().catch(() => {});
  }
}
