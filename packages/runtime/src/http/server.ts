// The HTTP base every service shares: errors, zod validation, OpenAPI, auth, health, readiness, metrics.
// A service adds its routes as a plugin (Fastify's own encapsulation style).
import swagger from "@fastify/swagger";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync, type FastifyReply, LogController } from "fastify";
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { type AuthConfig, registerAuth } from "./auth.ts";
import { registerErrorHandling } from "./errors.ts";
import { type RateLimitConfig, registerRateLimit } from "./rate-limit.ts";
import { registerReadYourWrites } from "./read-your-writes.ts";
import type { PositionTracker } from "../positions.ts";
import { useZod, zodToOpenApi } from "./zod.ts";

export interface Readiness {
  ready: boolean;
  checks: Record<string, unknown>;
}

export interface ApiServerOptions {
  name: string;
  logger: Logger;
  auth: AuthConfig;
  rateLimit?: RateLimitConfig;
  /** Read-your-writes (X-Min-Position / X-Projection-Position) with this bounded wait. */
  positions?: { tracker: PositionTracker; timeoutMs: number };
  metrics: Registry;
  readiness: () => Promise<Readiness>;
  routes: FastifyPluginAsync;
  /** Admin routes (auth scope projections:admin), mounted under /admin. */
  adminRoutes?: FastifyPluginAsync;
}

export async function createApiServer(opts: ApiServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && /^[A-Za-z0-9-]{8,64}$/.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    // Errors raised before routing (malformed URL, bad path encoding) get the standard body too.
    frameworkErrors: (err, req, reply) => {
      (reply as FastifyReply).status(400).send({ code: "invalid_argument", message: err.message, requestId: req.id });
    },
    bodyLimit: 64 * 1024,
    routerOptions: { maxParamLength: 256, ignoreTrailingSlash: true },
    // Per-request logs are off unless LOG_REQUESTS=true: at thousands of requests/s they dominate CPU.
    logController: new LogController({ disableRequestLogging: process.env.LOG_REQUESTS !== "true" }),
  });
  registerErrorHandling(app);
  useZod(app);
  await app.register(swagger, {
    openapi: {
      info: { title: `${opts.name} projector API`, version: "1.0.0" },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
      security: [{ bearer: [] }],
    },
    transform: zodToOpenApi,
  });
  registerAuth(app, opts.auth);
  if (opts.rateLimit) registerRateLimit(app, opts.rateLimit);
  if (opts.positions) registerReadYourWrites(app, opts.positions.tracker, opts.positions.timeoutMs);
  app.addHook("onSend", async (req, reply) => {
    reply.header("x-request-id", req.id);
  });

  app.get("/openapi.json", { config: { auth: "public" }, schema: { hide: true } }, async () => app.swagger());
  app.get("/healthz", { config: { auth: "public" }, schema: { hide: true } }, async () => ({ status: "ok" }));
  app.get("/readyz", { config: { auth: "public" }, schema: { hide: true } }, async (_req, reply) => {
    const r = await opts.readiness();
    return reply.status(r.ready ? 200 : 503).send({ status: r.ready ? "ready" : "not_ready", ...r.checks });
  });
  app.get("/metrics", { config: { auth: "public" }, schema: { hide: true } }, async (_req, reply) => {
    return reply.type(opts.metrics.contentType).send(await opts.metrics.metrics());
  });
  await app.register(opts.routes, { prefix: "/v1" });
  if (opts.adminRoutes) await app.register(opts.adminRoutes, { prefix: "/admin" });
  return app;
}
