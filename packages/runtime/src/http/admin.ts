// Admin API (scope projections:admin, not tenant-scoped): status, pause/resume, replay, rebuilds,
// parked events. Every action that changes something is written to projector_audit_log.
import { idSchema } from "@idp/events";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import type pg from "pg";
import { z } from "zod";
import { withTransaction } from "../db/pool.ts";
import { partitionForKey } from "../kafka/kafkajs.ts";
import type { AdminPort } from "../kafka/port.ts";
import type { Projection } from "../projection.ts";
import type { Projector } from "../projector.ts";
import type { RebuildManager } from "../rebuild.ts";
import { ApiError, badRequest, notFound } from "./errors.ts";

export interface AdminDeps {
  pool: pg.Pool;
  projection: Projection;
  admin: AdminPort;
  topics: string[];
  projector?: Projector;
  rebuilds: RebuildManager;
}

const noProjector = () => new ApiError(409, "projector_disabled", "this process runs no projector (PROJECTOR_ENABLED=false)");

const replayBody = z
  .strictObject({
    offset: z.string().regex(/^\d{1,19}$/, "a non-negative integer").optional(),
    timestamp: z.iso.datetime({ offset: true }).optional(),
    topic: z.string().max(249).optional(),
    partition: z.number().int().min(0).optional(),
  })
  .refine((b) => (b.offset === undefined) !== (b.timestamp === undefined), "give exactly one of offset and timestamp");

const rebuildBody = z.strictObject({ instanceId: idSchema.optional(), dryRun: z.boolean().default(false) });
const aggregateBody = z.strictObject({ instanceId: idSchema, aggregateType: z.string().min(1).max(100), aggregateId: idSchema });
const schemaParam = z.strictObject({ schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/) });

const parkedQuery = z.strictObject({
  status: z.enum(["parked", "applied", "skipped"]).default("parked"),
  instanceId: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export const adminRoutes =
  ({ pool, projection, admin, topics, projector, rebuilds }: AdminDeps): FastifyPluginAsync =>
  async (app) => {
    app.addHook("onRoute", (route) => {
      route.config = { ...(route.config ?? {}), auth: "admin" };
    });

    const audit = async (req: FastifyRequest, action: string, params: unknown, outcome: unknown) => {
      await pool.query("INSERT INTO projector_audit_log (actor, action, params, outcome) VALUES ($1, $2, $3, $4)", [
        req.tenant.subject || "unknown",
        action,
        JSON.stringify(params ?? {}),
        JSON.stringify(outcome ?? {}),
      ]);
    };

    app.get("/status", { schema: { summary: "Offsets, lag per partition and parked events of this projection", tags: ["admin"] } }, async () => {
      const { rows } = await pool.query(
        `SELECT topic, partition, next_offset::text AS next_offset, applied_events::text AS applied_events, updated_at
         FROM projector_offsets WHERE projection = $1 ORDER BY topic, partition`,
        [projection.name],
      );
      const ends = new Map<string, string>();
      for (const topic of topics) {
        for (const p of await admin.partitionOffsets(topic)) ends.set(`${topic}/${p.partition}`, p.high);
      }
      const parked = (
        await pool.query("SELECT count(*)::int AS n FROM projector_parked_events WHERE projection = $1 AND status = 'parked'", [projection.name])
      ).rows[0].n as number;
      return {
        projection: projection.name,
        consuming: projector?.isRunning() ?? false,
        paused: projector?.isPaused() ?? false,
        rebuild: rebuilds.status() ?? null,
        ...(await rebuilds.leftovers()),
        partitions: rows.map((r) => {
          const end = ends.get(`${r.topic}/${r.partition}`);
          return {
            topic: r.topic,
            partition: r.partition,
            nextOffset: r.next_offset,
            endOffset: end ?? null,
            lag: end === undefined ? null : Number(BigInt(end) - BigInt(r.next_offset)),
            appliedEvents: r.applied_events,
            updatedAt: (r.updated_at as Date).toISOString(),
          };
        }),
        parkedEvents: parked,
      };
    });

    app.get(
      "/instances/:instanceId/lag",
      { schema: { summary: "Lag of one instance: the lag of the partition holding its events, per topic (an upper bound)", tags: ["admin"], params: z.strictObject({ instanceId: idSchema }) } },
      async (req) => {
        const { instanceId } = req.params as { instanceId: string };
        const out = [];
        for (const topic of topics) {
          const offsets = await admin.partitionOffsets(topic);
          const partition = partitionForKey(instanceId, offsets.length);
          const { rows } = await pool.query(
            "SELECT next_offset::text AS next FROM projector_offsets WHERE projection = $1 AND topic = $2 AND partition = $3",
            [projection.name, topic, partition],
          );
          const end = BigInt(offsets.find((o) => o.partition === partition)?.high ?? "0");
          out.push({ topic, partition, lag: Number(end - BigInt(rows[0]?.next ?? "0")) });
        }
        return { instanceId, topics: out };
      },
    );

    app.post("/pause", { schema: { summary: "Stop consuming (queries keep answering)", tags: ["admin"] } }, async (req) => {
      if (!projector) throw noProjector();
      projector.pause();
      await audit(req, "pause", {}, { paused: true });
      return { paused: true };
    });

    app.post("/resume", { schema: { summary: "Resume consuming", tags: ["admin"] } }, async (req) => {
      if (!projector) throw noProjector();
      projector.resume();
      await audit(req, "resume", {}, { paused: false });
      return { paused: false };
    });

    app.post(
      "/replay",
      {
        schema: {
          summary: "Move the consumed position to an offset or a timestamp",
          description:
            "Re-consumes from there. Events already applied are dropped by the aggregate-sequence guard, so a replay never double-applies; to recompute rows, rebuild.",
          tags: ["admin"],
          body: replayBody,
        },
      },
      async (req) => {
        const b = req.body as z.infer<typeof replayBody>;
        if (b.topic !== undefined && !topics.includes(b.topic)) throw badRequest(`this projection does not consume topic ${b.topic}`);
        const moved: { topic: string; partition: number; from: string | null; to: string }[] = [];
        for (const topic of b.topic ? [b.topic] : topics) {
          const offsets = await admin.partitionOffsets(topic);
          const at = b.timestamp ? new Map((await admin.offsetsAt(topic, new Date(b.timestamp))).map((o) => [o.partition, o.offset])) : undefined;
          for (const p of offsets) {
            if (b.partition !== undefined && p.partition !== b.partition) continue;
            const to = b.offset ?? at?.get(p.partition) ?? p.high;
            if (BigInt(to) < BigInt(p.low)) {
              throw new ApiError(409, "history_truncated", `offset ${to} of ${topic}/${p.partition} is older than the retained history (starts at ${p.low})`);
            }
            const { rows } = await pool.query(
              `WITH old AS (SELECT next_offset FROM projector_offsets WHERE projection = $1 AND topic = $2 AND partition = $3 FOR UPDATE)
               INSERT INTO projector_offsets (projection, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
               ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()
               RETURNING (SELECT next_offset::text FROM old) AS from`,
              [projection.name, topic, p.partition, to],
            );
            projector?.seek(topic, p.partition, to);
            moved.push({ topic, partition: p.partition, from: rows[0].from ?? null, to });
          }
        }
        if (moved.length === 0) throw badRequest("no partition matched");
        await audit(req, "replay", b, { moved });
        return { moved };
      },
    );

    app.post(
      "/rebuild",
      {
        schema: {
          summary: "Rebuild into a shadow schema, then switch (or only report the differences with dryRun)",
          description: "With instanceId only that tenant is rebuilt; the others keep flowing. Refused when the topic's history was truncated.",
          tags: ["admin"],
          body: rebuildBody,
        },
      },
      async (req, reply) => {
        const b = req.body as z.infer<typeof rebuildBody>;
        try {
          const status = await rebuilds.start({ ...(b.instanceId ? { instanceId: b.instanceId } : {}), dryRun: b.dryRun });
          await audit(req, "rebuild.start", b, { shadowSchema: status.shadowSchema });
          return reply.status(202).send(status);
        } catch (err) {
          await audit(req, "rebuild.start", b, { refused: (err as Error).message });
          throw err;
        }
      },
    );

    app.get("/rebuild", { schema: { summary: "Progress of the current or last rebuild", tags: ["admin"] } }, async () => {
      const status = rebuilds.status();
      if (!status) throw notFound("no rebuild has run in this process");
      return status;
    });

    app.post(
      "/rebuild/rollback",
      { schema: { summary: "Make an old schema live again (the current one is kept as old)", tags: ["admin"], body: z.strictObject({ oldSchema: z.string().max(63) }) } },
      async (req) => {
        const { oldSchema } = req.body as { oldSchema: string };
        const result = await rebuilds.rollback(oldSchema);
        await audit(req, "rebuild.rollback", { oldSchema }, result);
        return result;
      },
    );

    app.delete("/rebuild/old/:schema", { schema: { summary: "Drop an old schema kept after a switch", tags: ["admin"], params: schemaParam } }, async (req) => {
      const { schema } = req.params as { schema: string };
      await rebuilds.dropOld(schema);
      await audit(req, "rebuild.drop-old", { schema }, { dropped: true });
      return { dropped: schema };
    });

    app.post(
      "/parked/retry",
      { schema: { summary: "Apply an aggregate's parked events again, in stream order", tags: ["admin"], body: aggregateBody } },
      async (req) => {
        if (!projector) throw noProjector();
        const b = req.body as z.infer<typeof aggregateBody>;
        const result = await withTransaction(pool, (db) => projector.batchApplier.retryParked(db, b));
        await audit(req, "parked.retry", b, result);
        return result;
      },
    );

    app.post(
      "/parked/:id/skip",
      { schema: { summary: "Drop one parked event (the events behind it stay parked until retried)", tags: ["admin"], params: z.strictObject({ id: z.coerce.number().int().min(1) }) } },
      async (req) => {
        const { id } = req.params as { id: number };
        const { rows } = await pool.query(
          `UPDATE projector_parked_events SET status = 'skipped', resolved_at = now() WHERE projection = $1 AND id = $2 AND status = 'parked'
           RETURNING id, instance_id, aggregate_type, aggregate_id, aggregate_sequence`,
          [projection.name, id],
        );
        if (!rows[0]) throw notFound(`no parked event ${id} waiting`);
        await audit(req, "parked.skip", { id }, rows[0]);
        return { skipped: rows[0] };
      },
    );

    app.get("/audit", { schema: { summary: "Operator actions, newest first", tags: ["admin"], querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) }) } }, async (req) => {
      const { limit } = req.query as { limit: number };
      const { rows } = await pool.query("SELECT id, at, actor, action, params, outcome FROM projector_audit_log ORDER BY id DESC LIMIT $1", [limit]);
      return { result: rows };
    });

    app.get("/parked", { schema: { summary: "Parked events with their errors", tags: ["admin"], querystring: parkedQuery } }, async (req) => {
      const q = req.query as z.infer<typeof parkedQuery>;
      const { rows } = await pool.query(
        `SELECT id, topic, partition, "offset"::text AS offset, instance_id, aggregate_type, aggregate_id, aggregate_sequence,
                event_type, error, attempts, blocked_by, status, parked_at, resolved_at
         FROM projector_parked_events WHERE projection = $1 AND status = $2 AND ($3::text IS NULL OR instance_id = $3)
         ORDER BY id LIMIT $4`,
        [projection.name, q.status, q.instanceId ?? null, q.limit],
      );
      return { result: rows };
    });

    app.get(
      "/parked/:id",
      { schema: { summary: "One parked event", tags: ["admin"], params: z.strictObject({ id: z.coerce.number().int().min(1) }) } },
      async (req) => {
        const { id } = req.params as { id: number };
        const { rows } = await pool.query(
          `SELECT id, topic, partition, "offset"::text AS offset, instance_id, aggregate_type, aggregate_id, aggregate_sequence,
                  event_type, headers, error, attempts, blocked_by, status, parked_at, resolved_at
           FROM projector_parked_events WHERE projection = $1 AND id = $2`,
          [projection.name, id],
        );
        if (!rows[0]) throw notFound(`parked event ${id} not found`);
        return rows[0];
      },
    );
  };
