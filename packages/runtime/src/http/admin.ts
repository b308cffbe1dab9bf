// Admin API (scope projections:admin, not tenant-scoped): projection status and parked events.
import type { FastifyPluginAsync } from "fastify";
import type pg from "pg";
import { z } from "zod";
import type { AdminPort } from "../kafka/port.ts";
import type { Projection } from "../projection.ts";
import { notFound } from "./errors.ts";

export interface AdminDeps {
  pool: pg.Pool;
  projection: Projection;
  admin: AdminPort;
  topics: string[];
}

const parkedQuery = z.strictObject({
  status: z.enum(["parked", "applied", "skipped"]).default("parked"),
  instanceId: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export const adminRoutes =
  ({ pool, projection, admin, topics }: AdminDeps): FastifyPluginAsync =>
  async (app) => {
    app.addHook("onRoute", (route) => {
      route.config = { ...(route.config ?? {}), auth: "admin" };
    });

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
