// Admin routes over rebuilds (part of the admin API, scope projections:admin): start one (or a dry run),
// follow it, roll a switch back, drop an old schema. Only a platform admin rebuilds the whole projection;
// an instance admin rebuilds and sees its own instance.
import { idSchema } from "@idp/events";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import { z } from "zod";
import { type RebuildManager, RebuildRunningError } from "../rebuild/manager.ts";
import * as res from "./admin-schemas.ts";
import { adminInstance, requireInstance, requirePlatformAdmin } from "./admin-scope.ts";
import { ApiError, errorBodySchema, notFound } from "./errors.ts";

/** The second rebuild's answer: 409 naming the running job, so the caller can follow that one instead. */
const rebuildRunning = (err: RebuildRunningError) => new ApiError(409, err.reason, err.message, { jobId: err.jobId });
const rebuildBody = z.strictObject({ instanceId: idSchema.optional(), dryRun: z.boolean().default(false) });
const schemaParam = z.strictObject({ schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/) });

export interface RebuildRouteDeps {
  rebuilds: RebuildManager;
  /** Writes an operator action to the audit log. */
  audit: (req: FastifyRequest, action: string, params: unknown, outcome: unknown) => Promise<unknown>;
}

export const rebuildRoutes =
  ({ rebuilds, audit }: RebuildRouteDeps): FastifyPluginAsync =>
  async (app) => {
    app.post(
      "/rebuild",
      {
        schema: {
          operationId: "startRebuild",
          summary: "Rebuild into a shadow schema, then switch (or only report the differences with dryRun)",
          description: "With instanceId only that tenant is rebuilt; the others keep flowing. Refused when the topic's history was truncated.",
          tags: ["admin"],
          response: { 202: res.rebuildStatusSchema, 409: errorBodySchema },
          body: rebuildBody,
        },
      },
      async (req, reply) => {
        const b = req.body as z.infer<typeof rebuildBody>;
        if (b.instanceId === undefined) requirePlatformAdmin(req, "a rebuild of the whole projection");
        else requireInstance(req, b.instanceId);
        try {
          const status = await rebuilds.start({ ...(b.instanceId ? { instanceId: b.instanceId } : {}), dryRun: b.dryRun });
          await audit(req, "rebuild.start", b, { id: status.id, shadowSchema: status.shadowSchema });
          return reply.status(202).send(status);
        } catch (err) {
          await audit(req, "rebuild.start", b, { refused: (err as Error).message });
          throw err instanceof RebuildRunningError ? rebuildRunning(err) : err;
        }
      },
    );

    app.get(
      "/rebuild",
      {
        schema: {
          operationId: "getRebuild",
          summary: "Progress of the current or last rebuild",
          tags: ["admin"],
          response: { 200: res.rebuildStatusSchema, 404: errorBodySchema },
        },
      },
      async (req) => {
        const own = adminInstance(req);
        const status = rebuilds.status();
        // An instance admin sees only a rebuild of its own instance.
        if (!status || (own !== undefined && status.instanceId !== own)) throw notFound("no rebuild has run in this process");
        return status;
      },
    );

    app.post(
      "/rebuild/rollback",
      {
        schema: {
          operationId: "rollbackRebuild",
          summary: "Make an old schema live again (the current one is kept as old)",
          tags: ["admin"],
          response: { 200: res.rollbackResultSchema, 409: errorBodySchema },
          body: z.strictObject({ oldSchema: z.string().max(63) }),
        },
      },
      async (req) => {
        requirePlatformAdmin(req, "a rollback");
        const { oldSchema } = req.body as { oldSchema: string };
        const result = await rebuilds.rollback(oldSchema).catch((err) => {
          throw err instanceof RebuildRunningError ? rebuildRunning(err) : err;
        });
        await audit(req, "rebuild.rollback", { oldSchema }, result);
        return result;
      },
    );

    app.delete(
      "/rebuild/old/:schema",
      {
        schema: {
          operationId: "dropOldSchema",
          summary: "Drop an old schema kept after a switch",
          tags: ["admin"],
          response: { 200: res.droppedSchema, 409: errorBodySchema },
          params: schemaParam,
        },
      },
      async (req) => {
        requirePlatformAdmin(req, "dropping a schema");
        const { schema } = req.params as { schema: string };
        await rebuilds.dropOld(schema).catch((err) => {
          throw err instanceof RebuildRunningError ? rebuildRunning(err) : err;
        });
        await audit(req, "rebuild.drop-old", { schema }, { dropped: true });
        return { dropped: schema };
      },
    );
  };
