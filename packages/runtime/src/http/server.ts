// The HTTP base every service shares: errors, zod validation, OpenAPI, auth, health, readiness, metrics.
// A service adds its routes as a plugin (Fastify's own encapsulation style).

import { randomUUID } from "node:crypto";
import swagger from "@fastify/swagger";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync, type FastifyReply, LogController } from "fastify";
import type { Logger } from "pino";
import { Histogram, type Registry } from "prom-client";
import type { PositionTracker } from "../positions.ts";
import { type AuthConfig, registerAuth } from "./auth.ts";
import { answerClientError, registerErrorHandling } from "./errors.ts";
import { type RateLimitConfig, registerRateLimit } from "./rate-limit.ts";
import { registerReadYourWrites } from "./read-your-writes.ts";
import { registerRequestSpans } from "./request-spans.ts";
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
    clientErrorHandler: answerClientError,
    bodyLimit: 64 * 1024,
    routerOptions: { maxParamLength: 256, ignoreTrailingSlash: true },
    // Per-request logs are off unless LOG_REQUESTS=true: at thousands of requests/s they dominate CPU.
    logController: new LogController({ disableRequestLogging: process.env.LOG_REQUESTS !== "true" }),
  });
  registerErrorHandling(app);
  registerRequestSpans(app);
  useZod(app);
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: `${opts.name} projector API`,
        version: "1.0.0",
        description: `Read-only queries on the ${opts.name} read model, and its operators' admin API.`,
        license: { name: "Apache-2.0", identifier: "Apache-2.0" },
      },
      // Relative: each service serves its own document, so the base is wherever this one was fetched from.
      servers: [{ url: "/", description: `the ${opts.name} service that serves this document` }],
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
      security: [{ bearer: [] }],
    },
    transform: zodToOpenApi,
  });
  // Before auth: the per-address limit on unauthenticated requests runs ahead of token verification.
  if (opts.rateLimit) registerRateLimit(app, opts.rateLimit);
  registerAuth(app, opts.auth);
  if (opts.positions) registerReadYourWrites(app, opts.positions.tracker, opts.positions.timeoutMs);
  app.addHook("onSend", async (req, reply) => {
    reply.header("x-request-id", req.id);
  });
  const duration = httpDuration(opts.metrics);
  app.addHook("onResponse", async (req, reply) => {
    // The route's pattern, never the raw URL: one series per route, whatever the ids and query strings.
    const route = req.routeOptions.url ?? "unmatched";
    duration.observe({ method: req.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
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

const HTTP_DURATION = "http_request_duration_seconds";

/** Request latency by route pattern and status; one histogram per registry (a second server reuses it). */
function httpDuration(registry: Registry): Histogram<"method" | "route" | "status_code"> {
  const existing = registry.getSingleMetric(HTTP_DURATION);
  if (existing) return existing as Histogram<"method" | "route" | "status_code">;
  return new Histogram({
    name: HTTP_DURATION,
    help: "HTTP request duration in seconds, by method, route pattern and status code",
    labelNames: ["method", "route", "status_code"],
    // Queries answer in milliseconds; the upper buckets catch read-your-writes waits and slow scans.
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
}
