// Rebuilds: replay the topic into a shadow schema while the live read model keeps serving and consuming.
// Full: when the shadow has caught up, the schemas are swapped by renaming, in one transaction; the live
// projector's next batch lands in the new schema, whose own offsets tell it what is already applied (the
// old schema is kept for rollback until an operator drops it). Single instance: only that tenant's events
// are replayed, then its rows are swapped under the lock of the live partition's offsets row; other
// tenants are not touched and keep flowing. Shadows persist their offsets, so a rebuild that was killed
// resumes where it stopped when started again.

import { createHash, randomUUID } from "node:crypto";
import { type EventCatalog, HEADER } from "@idp/events";
import type pg from "pg";
import type { Logger } from "pino";
import type { ServiceConfig } from "../config.ts";
import { type Migration, migrate } from "../db/migrate.ts";
import { createPool } from "../db/pool.ts";
import { DomainError } from "../errors.ts";
import { quoteIdent as q } from "../fold.ts";
import type { AdminPort } from "../kafka/port.ts";
import { liveBeyondLog } from "../log-guard.ts";
import { createMetrics } from "../metrics.ts";
import type { Projection } from "../projection.ts";
import { createProjector, type Projector } from "../projector.ts";
import { partitionsOfInstance } from "../store/instance-partitions.ts";
import { offsetMap } from "../store/offsets.ts";
import { diffSchemas, type TableDiff } from "./diff.ts";
import { RebuildLock } from "./lock.ts";
import { assertOldSchema, switchBack, switchFull, switchInstance } from "./switch.ts";

export type { TableDiff } from "./diff.ts";
export { RebuildRunningError } from "./lock.ts";

export interface RebuildStatus {
  /** The job's id; a refused second rebuild names it. */
  id: string;
  kind: "full" | "instance";
  instanceId?: string;
  dryRun: boolean;
  state: "running" | "switching" | "done" | "failed";
  shadowSchema: string;
  startedAt: string;
  finishedAt?: string;
  progress: { applied: number; read: number; target: number; ratio: number; eventsPerSecond: number; etaSeconds: number | null };
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

interface Shadow {
  schema: string;
  pool: pg.Pool;
  projector: Projector;
}

type Part = { topic: string; partition: number; end: bigint };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const partKey = (p: { topic: string; partition: number }) => `${p.topic}/${p.partition}`;
const max = (a: bigint, b: bigint) => (a > b ? a : b);

export class RebuildManager {
  private job?: { status: RebuildStatus; shadow: Shadow; lock: RebuildLock };

  private readonly deps: RebuildDeps;

  constructor(deps: RebuildDeps) {
    this.deps = deps;
  }

  status(): RebuildStatus | undefined {
    return this.job?.status;
  }

  /** Shadows and old schemas left behind (an interrupted rebuild, or old schemas kept for rollback). */
  async leftovers(): Promise<{ shadows: string[]; oldSchemas: string[] }> {
    const schema = this.deps.config.schema;
    const { rows } = await this.deps.pool.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1 ESCAPE '!' ORDER BY 1", [
      `${schema.replaceAll("_", "!_")}!_%`,
    ]);
    const names = rows.map((r) => r.nspname as string);
    return {
      shadows: names.filter((n) => n === `${schema}_rebuild` || n.startsWith(`${schema}_ri_`)),
      oldSchemas: names.filter((n) => n.startsWith(`${schema}_old_`)),
    };
  }

  async start(opts: { instanceId?: string; dryRun?: boolean }): Promise<RebuildStatus> {
    const { config } = this.deps;
    const id = randomUUID();
    // Taken first, before any await that could let a second request of this process in, and held by its
    // own session until the job ends: one rebuild per service across all its processes.
    const lock = await RebuildLock.acquire(config.databaseUrl, config.schema, id);
    try {
      return await this.begin(id, lock, opts);
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  private async begin(id: string, lock: RebuildLock, opts: { instanceId?: string; dryRun?: boolean }): Promise<RebuildStatus> {
    const { config } = this.deps;
    // Refuse when history is gone: a rebuild from a truncated topic would silently lose data.
    for (const topic of config.topics) {
      for (const p of await this.deps.admin.partitionOffsets(topic)) {
        if (BigInt(p.low) > 0n) {
          throw new DomainError(
            "conflict",
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
      id,
      kind: opts.instanceId ? "instance" : "full",
      ...(opts.instanceId ? { instanceId: opts.instanceId } : {}),
      dryRun: opts.dryRun === true,
      state: "running",
      shadowSchema,
      startedAt: new Date().toISOString(),
      progress: { applied: 0, read: 0, target: 0, ratio: 0, eventsPerSecond: 0, etaSeconds: null },
    };
    const shadow = this.shadow(shadowSchema, opts.instanceId);
    await migrate(shadow.pool, shadowSchema, this.deps.migrations);
    this.job = { status, shadow, lock };
    await shadow.projector.start();
    this.deps.logger.info({ id, shadowSchema, instanceId: opts.instanceId, dryRun: status.dryRun }, "rebuild started");
    const fail = (err: unknown) => {
      if (status.state === "done" || status.state === "failed") return;
      status.state = "failed";
      status.error = (err as Error).message;
      status.finishedAt = new Date().toISOString();
      this.deps.logger.error({ err, shadowSchema }, "rebuild failed");
    };
    // Without the lock another process may start a rebuild on the same shadow: this one stops.
    lock.onLost((err) => {
      fail(new Error(`lost the rebuild lock: ${err.message}`));
      void shadow.projector.stop().catch(() => {});
    });
    void this.run(status, shadow)
      .catch(fail)
      .finally(() => lock.release());
    return status;
  }

  /** A pool on the shadow schema and a projector writing it (only the instance's events, if given). */
  private shadow(schema: string, instanceId?: string): Shadow {
    const { config, projection } = this.deps;
    const pool = createPool({
      connectionString: config.databaseUrl,
      schema,
      max: config.partitionsConcurrency + 1,
      applicationName: `rebuild:${schema}`.slice(0, 63),
    });
    const projector = createProjector({
      config,
      projection,
      catalog: this.deps.catalog,
      pool,
      admin: this.deps.admin,
      logger: this.deps.logger.child({ rebuild: schema }),
      metrics: createMetrics({ projection: `${projection.name}-rebuild` }),
      shadowSchema: schema,
      ...(instanceId === undefined ? {} : { recordFilter: (r) => r.headers[HEADER.instanceId] === instanceId }),
    });
    return { schema, pool, projector };
  }

  /** Partitions the rebuild must reach: all of them, or the instance's partition of each topic. */
  private async partitions(instanceId?: string): Promise<Part[]> {
    const out: Part[] = [];
    for (const topic of this.deps.config.topics) {
      const offsets = await this.deps.admin.partitionOffsets(topic);
      const mine =
        instanceId === undefined ? undefined : await partitionsOfInstance(this.deps.pool, this.deps.projection.name, instanceId, topic, offsets.length);
      for (const p of offsets) if (mine === undefined || mine.includes(p.partition)) out.push({ topic, partition: p.partition, end: BigInt(p.high) });
    }
    return out;
  }

  private async run(status: RebuildStatus, shadow: Shadow) {
    const { config, pool, projection } = this.deps;
    const instanceId = status.instanceId;
    const parts = await this.partitions(instanceId);
    await this.catchUp(status, shadow, parts);
    status.state = "switching";
    await shadow.projector.stop();

    if (status.dryRun) {
      status.diff = await diffSchemas(pool, config.schema, shadow.schema, instanceId);
      await shadow.pool.end();
      await pool.query(`DROP SCHEMA ${q(shadow.schema)} CASCADE`);
    } else if (instanceId === undefined) {
      // Statistics first (outside the switch's lock): the queries after the switch are planned for the
      // rebuilt rows, not for the empty tables autovacuum last saw there.
      const { rows } = await pool.query("SELECT tablename FROM pg_tables WHERE schemaname = $1", [shadow.schema]);
      for (const r of rows as { tablename: string }[]) await pool.query(`ANALYZE ${q(shadow.schema)}.${q(r.tablename)}`);
      status.oldSchema = await switchFull(pool, config.schema, shadow.schema);
      this.deps.onSwitched?.();
      await shadow.pool.end();
    } else {
      await shadow.pool.end();
      await switchInstance(pool, {
        live: config.schema,
        shadow: shadow.schema,
        projection: projection.name,
        instanceId,
        parts,
        catchUp: () => this.catchUpInstance(shadow.schema, instanceId),
      });
      await pool.query(`DROP SCHEMA ${q(shadow.schema)} CASCADE`);
    }
    status.state = "done";
    status.finishedAt = new Date().toISOString();
    this.deps.onProgress?.(1);
    this.deps.logger.info({ status }, "rebuild finished");
  }

  /** Waits until the shadow has reached what the live projection has applied on every relevant partition. */
  private async catchUp(status: RebuildStatus, shadow: Shadow, parts: Part[]) {
    const { config, pool, projection } = this.deps;
    status.progress.target = Number(parts.reduce((s, p) => s + p.end, 0n));
    const t0 = Date.now();
    let first: number | undefined;
    for (;;) {
      const shadowAt = await offsetMap(shadow.pool, projection.name, { schema: shadow.schema });
      const live = await offsetMap(pool, projection.name, { schema: config.schema });
      const n = Number(parts.reduce((s, p) => s + (shadowAt.get(partKey(p)) ?? 0n), 0n));
      // Read ahead of what is committed while a write-behind window holds it: the rate and the ETA follow the reading.
      const reached = shadow.projector.reachedOffsets();
      const read = Number(parts.reduce((s, p) => s + max(shadowAt.get(partKey(p)) ?? 0n, reached.get(partKey(p)) ?? 0n), 0n));
      first ??= read;
      const elapsed = (Date.now() - t0) / 1000;
      const rate = elapsed > 0 ? (read - first) / elapsed : 0;
      const target = Math.max(status.progress.target, read);
      status.progress = {
        applied: n,
        read,
        target,
        ratio: target ? n / target : 1,
        eventsPerSecond: Math.round(rate),
        etaSeconds: rate > 0 ? Math.round((target - read) / rate) : null,
      };
      this.deps.onProgress?.(status.progress.ratio);
      const caughtUp = parts.every((p) => {
        const s = shadowAt.get(partKey(p));
        return s !== undefined && s >= (live.get(partKey(p)) ?? 0n) && s >= p.end;
      });
      // Live offsets past the log's end (a reset broker, a re-created topic) are never reached: stop there.
      if (caughtUp || (parts.every((p) => (shadowAt.get(partKey(p)) ?? -1n) >= p.end) && (await liveBeyondLog(this.deps.admin, parts, shadowAt, live)))) return;
      if (status.state === "failed") throw new Error(status.error ?? "rebuild failed");
      await sleep(250);
    }
  }

  /** Runs the instance's shadow projector again until it has reached the live offsets (bounded wait). */
  private async catchUpInstance(schema: string, instanceId: string) {
    const { config, pool, projection } = this.deps;
    const shadow = this.shadow(schema, instanceId);
    await shadow.projector.start();
    const target = await offsetMap(pool, projection.name, { schema: config.schema });
    for (let i = 0; i < 400; i++) {
      const s = await offsetMap(shadow.pool, projection.name, { schema });
      if ([...target].every(([k, v]) => (s.get(k) ?? 0n) >= v)) break;
      await sleep(50);
    }
    await shadow.projector.stop();
    await shadow.pool.end();
  }

  /** Puts back the schema that was live before the last switch (the rebuilt one is kept as _old_). */
  async rollback(oldSchema: string): Promise<{ restored: string; keptAs: string }> {
    const keptAs = await this.exclusive(() => switchBack(this.deps.pool, this.deps.config.schema, oldSchema));
    this.deps.onSwitched?.();
    return { restored: oldSchema, keptAs };
  }

  async dropOld(oldSchema: string): Promise<void> {
    assertOldSchema(this.deps.config.schema, oldSchema);
    await this.exclusive(() => this.deps.pool.query(`DROP SCHEMA IF EXISTS ${q(oldSchema)} CASCADE`));
  }

  /** Runs a schema operation under the rebuild lock: refused (409) while a rebuild runs anywhere. */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const lock = await RebuildLock.acquire(this.deps.config.databaseUrl, this.deps.config.schema, `op-${randomUUID()}`);
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }

  async stop(): Promise<void> {
    await this.job?.shadow.projector.stop().catch(() => {});
    await this.job?.shadow.pool.end().catch(() => {});
    await this.job?.lock.release();
  }
}
