// Read-your-writes on every query route: `X-Min-Position: topic:partition:offset[,…]` (the producer SDK's
// tokens) waits, bounded, until the projection has applied those positions, else answers 503
// `projection_behind`. Every query response carries `X-Projection-Position`: for the caller's instance, the
// last applied offset of its partition per topic, read before the query (so the data reflects at least it).
import { type Position, parsePosition } from "@idp/events";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { PositionTracker } from "../positions.ts";
import { ApiError, badRequest } from "./errors.ts";

export const MIN_POSITION_HEADER = "x-min-position";
export const POSITION_HEADER = "x-projection-position";

declare module "fastify" {
  interface FastifyRequest {
    reflectedPositions?: string[];
  }
}

const isQueryRoute = (req: FastifyRequest) => (req.routeOptions.config?.auth ?? "query") === "query" && Boolean(req.tenant?.instanceId);

export function registerReadYourWrites(app: FastifyInstance, tracker: PositionTracker, timeoutMs: number) {
  app.addHook("preHandler", async (req) => {
    if (!isQueryRoute(req)) return;
    const raw = req.headers[MIN_POSITION_HEADER];
    if (raw !== undefined) {
      const tokens = String(raw)
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      if (tokens.length === 0 || tokens.length > 32) throw badRequest(`${MIN_POSITION_HEADER} needs 1 to 32 positions`);
      const positions: Position[] = tokens.map((t) => {
        const p = parsePosition(t);
        if (!p) throw badRequest(`${MIN_POSITION_HEADER}: "${t.slice(0, 80)}" is not topic:partition:offset`);
        if (!tracker.topics.includes(p.topic)) throw badRequest(`${MIN_POSITION_HEADER}: this projection does not consume topic ${p.topic}`);
        return p;
      });
      if (!(await tracker.waitFor(positions, timeoutMs))) {
        throw new ApiError(
          503,
          "projection_behind",
          `the projection has not applied ${tokens.join(",")} within ${timeoutMs} ms; retry later`,
          { requested: tokens, applied: await tracker.tenantPositions(req.tenant.instanceId) },
          { "retry-after": "1" },
        );
      }
    }
    req.reflectedPositions = await tracker.tenantPositions(req.tenant.instanceId);
  });
  app.addHook("onSend", async (req, reply, payload) => {
    if (req.reflectedPositions) reply.header(POSITION_HEADER, req.reflectedPositions.join(","));
    return payload;
  });
}
