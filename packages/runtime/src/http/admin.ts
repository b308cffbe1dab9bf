// Admin API (scope projections:admin): status, lag, pause/resume and replay here; rebuilds and parked
// events in admin-rebuild.ts and admin-parked.ts, registered below. Thin routes over the bookkeeping store
// and the rebuild manager. Platform admins act on everything, instance admins only on their instance
// (admin-scope.ts). Every action that changes something is written to the audit log. Only pause, resume
// and the consumer seek of a replay need this process's projector; everything else works in an API-only
// process too.
import { type EventCatalog, idSchema } from "@idp/events";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import type pg from "pg";
import { z } from "zod";
import { withTransaction } from "../db/pool.ts";
import type { AdminPort } from "../kafka/port.ts";
import type { Projection } from "../projection.ts";
import type { Projector } from "../projector.ts";
import { lockReplays } from "../rebuild/lock.ts";
import type { RebuildManager } from "../rebuild/manager.ts";
import { listAudit, writeAudit } from "../store/audit.ts";
import { partitionsOfInstance } from "../store/instance-partitions.ts";
import { moveOffset, offsetOf, offsetStatus } from "../store/offsets.ts";
import { countParked } from "../store/parked.ts";
import { parkedRoutes } from "./admin-parked.ts";
import { rebuildRoutes } from "./admin-rebuild.ts";
import * as res from "./admin-schemas.ts";
import { requireInstance, requirePlatformAdmin } from "./admin-scope.ts";
import { ApiError, badRequest, errorBodySchema } from "./errors.ts";

export interface AdminDeps {
  /** The schema owner's pool (the bookkeeping tables are written through it). */
  pool: pg.Pool;
  projection: Projection;
  catalog: EventCatalog;
  admin: AdminPort;
  topics: string[];
  projector?: Projector;
  rebuilds: RebuildManager;
}

const noProjector = () => new ApiError(409, "projector_disabled", "this process runs no projector (PROJECTOR_ENABLED=false)");

const replayBody = z
  .strictObject({
    offset: z
      .string()
      .regex(/^\d{1,19}$/, "a non-negative integer")
      .optional(),
    timestamp: z.iso.datetime({ offset: true }).optional(),
    topic: z.string().max(249).optional(),
    partition: z.number().int().min(0).optional(),
  })
  .refine((b) => (b.offset === undefined) !== (b.timestamp === undefined), "give exactly one of offset and timestamp");

export const adminRoutes =
  ({ pool, projection, catalog, admin, topics, projector, rebuilds }: AdminDeps): FastifyPluginAsync =>
  async (app) => {
    app.addHook("onRoute", (route) => {
      route.config = { ...(route.config ?? {}), auth: "admin" };
    });

    let replays: Promise<unknown> = Promise.resolve();

    const audit = (req: FastifyRequest, action: string, params: unknown, outcome: unknown) =>
      writeAudit(pool, { actor: req.tenant.subject || "unknown", action, params, outcome });

    app.get(
      "/status",
      {
        schema: {
          operationId: "getProjectionStatus",
          summary: "Offsets, lag per partition and parked events of this projection",
          tags: ["admin"],
          response: { 200: res.projectionStatusSchema },
        },
      },
      async (req) => {
        requirePlatformAdmin(req, "the projection's status");
        const stored = await offsetStatus(pool, projection.name);
        const ends = new Map<string, string>();
        for (const topic of topics) {
          for (const p of await admin.partitionOffsets(topic)) ends.set(`${topic}/${p.partition}`, p.high);
        }
        const parked = await countParked(pool, projection.name);
        return {
          projection: projection.name,
          consuming: projector?.isRunning() ?? false,
          paused: projector?.isPaused() ?? false,
          rebuild: rebuilds.status() ?? null,
          ...(await rebuilds.leftovers()),
          partitions: stored.map((r) => {
            const end = ends.get(`${r.topic}/${r.partition}`);
            return {
              topic: r.topic,
              partition: r.partition,
              nextOffset: r.next,
              endOffset: end ?? null,
              lag: end === undefined ? null : Number(BigInt(end) - BigInt(r.next)),
              appliedEvents: r.appliedEvents,
              updatedAt: r.updatedAt.toISOString(),
              logMismatch:
                r.logMismatch ?? (end !== undefined && BigInt(end) < BigInt(r.next) ? `stored offset ${r.next} is past the partition's end ${end}` : null),
            };
          }),
          parkedEvents: parked,
        };
      },
    );

    app.get(
      "/instances/:instanceId/lag",
      {
        schema: {
          operationId: "getInstanceLag",
          summary: "Lag of one instance: the lag of the partition holding its events, per topic (an upper bound)",
          tags: ["admin"],
          response: { 200: res.instanceLagSchema },
          params: z.strictObject({ instanceId: idSchema }),
        },
      },
      async (req) => {
        const { instanceId } = req.params as { instanceId: string };
        requireInstance(req, instanceId);
        const out = [];
        for (const topic of topics) {
          const offsets = await admin.partitionOffsets(topic);
          for (const partition of await partitionsOfInstance(pool, projection.name, instanceId, topic, offsets.length)) {
            const next = (await offsetOf(pool, projection.name, { topic, partition })) ?? "0";
            const end = BigInt(offsets.find((o) => o.partition === partition)?.high ?? "0");
            out.push({ topic, partition, lag: Number(end - BigInt(next)) });
          }
        }
        return { instanceId, topics: out };
      },
    );

    app.post(
      "/pause",
      {
        schema: {
          operationId: "pauseProjection",
          summary: "Stop consuming (queries keep answering)",
          tags: ["admin"],
          response: { 200: res.pausedSchema, 409: errorBodySchema },
        },
      },
      async (req) => {
        requirePlatformAdmin(req, "pause");
        if (!projector) throw noProjector();
        projector.pause();
        await audit(req, "pause", {}, { paused: true });
        return { paused: true };
      },
    );

    app.post(
      "/resume",
      { schema: { operationId: "resumeProjection", summary: "Resume consuming", tags: ["admin"], response: { 200: res.pausedSchema, 409: errorBodySchema } } },
      async (req) => {
        requirePlatformAdmin(req, "resume");
        if (!projector) throw noProjector();
        projector.resume();
        await audit(req, "resume", {}, { paused: false });
        return { paused: false };
      },
    );

    app.post(
      "/replay",
      {
        schema: {
          operationId: "replayProjection",
          summary: "Move the consumed position to an offset or a timestamp",
          description:
            "Re-consumes from there. Events already applied are dropped by the aggregate-sequence guard, so a replay never double-applies; to recompute rows, rebuild.",
          tags: ["admin"],
          response: { 200: res.replayResultSchema, 409: errorBodySchema },
          body: replayBody,
        },
      },
      async (req) => {
        requirePlatformAdmin(req, "replay");
        const b = req.body as z.infer<typeof replayBody>;
        if (b.topic !== undefined && !topics.includes(b.topic)) throw badRequest(`this projection does not consume topic ${b.topic}`);
        // The targets first (Kafka), so no offsets row is held locked while the broker answers.
        const targets: { topic: string; partition: number; to: string }[] = [];
        for (const topic of b.topic ? [b.topic] : topics) {
          const offsets = await admin.partitionOffsets(topic);
          const at = b.timestamp ? new Map((await admin.offsetsAt(topic, new Date(b.timestamp))).map((o) => [o.partition, o.offset])) : undefined;
          for (const p of offsets) {
            if (b.partition !== undefined && p.partition !== b.partition) continue;
            const to = b.offset ?? at?.get(p.partition) ?? p.high;
            if (BigInt(to) < BigInt(p.low)) {
              throw new ApiError(409, "history_truncated", `offset ${to} of ${topic}/${p.partition} is older than the retained history (starts at ${p.low})`);
            }
            targets.push({ topic, partition: p.partition, to });
          }
        }
        if (targets.length === 0) throw badRequest("no partition matched");
        const moved: { topic: string; partition: number; from: string | null; to: string }[] = [];
        // Concurrent replays are serialised (in this process, then by a lock across processes) and each
        // moves all its partitions or none, so the stored offsets and the consumer's seeks end in one order.
        const run = replays.then(() =>
          withTransaction(pool, async (db) => {
            await lockReplays(db);
            for (const { topic, partition, to } of targets) {
              moved.push({ topic, partition, from: await moveOffset(db, projection.name, { topic, partition }, to), to });
            }
          }).then(() => {
            for (const m of moved) projector?.seek(m.topic, m.partition, m.to);
          }),
        );
        replays = run.catch(() => {});
        await run;
        await audit(req, "replay", b, { moved });
        return { moved };
      },
    );

    await app.register(rebuildRoutes({ rebuilds, audit }));
    await app.register(parkedRoutes({ pool, projection, catalog, audit }));

    app.get(
      "/audit",
      {
        schema: {
          operationId: "listAuditLog",
          summary: "Operator actions, newest first",
          tags: ["admin"],
          response: { 200: res.auditListSchema },
          querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
        },
      },
      async (req) => {
        requirePlatformAdmin(req, "the audit log");
        const { limit } = req.query as { limit: number };
        return { result: await listAudit(pool, limit) };
      },
    );
  };
