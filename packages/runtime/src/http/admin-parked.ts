// Admin routes over parked events (part of the admin API, scope projections:admin): list, show, retry an
// aggregate's parked events, skip one. An instance admin sees and acts on its own instance's only.
import type { EventCatalog } from "@idp/events";
import { idSchema } from "@idp/events";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import type pg from "pg";
import { z } from "zod";
import { retryParked } from "../parked-retry.ts";
import type { Projection } from "../projection.ts";
import { getParked, listParked, skipParked } from "../store/parked.ts";
import * as res from "./admin-schemas.ts";
import { adminInstance, requireInstance } from "./admin-scope.ts";
import { errorBodySchema, notFound } from "./errors.ts";

const aggregateBody = z.strictObject({ instanceId: idSchema, aggregateType: z.string().min(1).max(100), aggregateId: idSchema });
const parkedQuery = z.strictObject({
  status: z.enum(["parked", "applied", "skipped"]).default("parked"),
  instanceId: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export interface ParkedRouteDeps {
  pool: pg.Pool;
  projection: Projection;
  catalog: EventCatalog;
  /** Writes an operator action to the audit log. */
  audit: (req: FastifyRequest, action: string, params: unknown, outcome: unknown) => Promise<unknown>;
}

export const parkedRoutes =
  ({ pool, projection, catalog, audit }: ParkedRouteDeps): FastifyPluginAsync =>
  async (app) => {
    /** A parked event the caller may see; another instance's is "not found" (its existence is not revealed). */
    const ownParked = async (req: FastifyRequest, id: number) => {
      const own = adminInstance(req);
      const row = await getParked(pool, projection.name, id);
      if (!row || (own !== undefined && row.instance_id !== own)) throw notFound(`parked event ${id} not found`);
      return row;
    };

    app.post(
      "/parked/retry",
      {
        schema: {
          operationId: "retryParkedEvents",
          summary: "Apply an aggregate's parked events again, in stream order",
          tags: ["admin"],
          response: { 200: res.retryResultSchema },
          body: aggregateBody,
        },
      },
      async (req) => {
        const b = req.body as z.infer<typeof aggregateBody>;
        requireInstance(req, b.instanceId);
        const result = await retryParked(pool, { projection, catalog }, b);
        await audit(req, "parked.retry", b, result);
        return result;
      },
    );

    app.post(
      "/parked/:id/skip",
      {
        schema: {
          operationId: "skipParkedEvent",
          summary: "Drop one parked event (the events behind it stay parked until retried)",
          tags: ["admin"],
          response: { 200: res.skippedSchema, 404: errorBodySchema },
          params: z.strictObject({ id: z.coerce.number().int().min(1) }),
        },
      },
      async (req) => {
        const { id } = req.params as { id: number };
        await ownParked(req, id);
        const skipped = await skipParked(pool, projection.name, id);
        if (!skipped) throw notFound(`no parked event ${id} waiting`);
        await audit(req, "parked.skip", { id }, skipped);
        return { skipped };
      },
    );

    app.get(
      "/parked",
      {
        schema: {
          operationId: "listParkedEvents",
          summary: "Parked events with their errors",
          tags: ["admin"],
          response: { 200: res.parkedListSchema },
          querystring: parkedQuery,
        },
      },
      async (req) => {
        const q = req.query as z.infer<typeof parkedQuery>;
        if (q.instanceId !== undefined) requireInstance(req, q.instanceId);
        return { result: await listParked(pool, projection.name, { ...q, instanceId: q.instanceId ?? adminInstance(req) }) };
      },
    );

    app.get(
      "/parked/:id",
      {
        schema: {
          operationId: "getParkedEvent",
          summary: "One parked event",
          tags: ["admin"],
          response: { 200: res.parkedEventDetailSchema, 404: errorBodySchema },
          params: z.strictObject({ id: z.coerce.number().int().min(1) }),
        },
      },
      async (req) => {
        const { id } = req.params as { id: number };
        return ownParked(req, id);
      },
    );
  };
