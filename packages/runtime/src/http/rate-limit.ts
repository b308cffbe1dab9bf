// Rate limits, so that no client can take the service from the others. Three token buckets:
// - per instance (tenant) on query routes: one noisy tenant gets 429 instead of slowing every tenant;
// - per admin token (instance or platform, and subject) on admin routes;
// - per client address on unauthenticated requests: public routes and unknown paths before routing, a
//   request without a token before authentication, and a request whose token is refused after it (its
//   401 becomes a 429 once the address has used up its budget).
// Buckets live in this process (RATE_LIMIT_STORE=memory, the default) or in Redis (redis), where every
// process of the service shares them. Answers carry RateLimit-Limit/-Remaining/-Reset (and the same
// x-ratelimit-* trio); a 429 carries Retry-After.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "./errors.ts";
import { type BucketRule, type BucketStore, MemoryBuckets, RedisBuckets, type Take } from "./rate-limit-store.ts";

export interface RateLimitConfig {
  /** Sustained requests per second per instance; 0 disables the instance limit. */
  perSecond: number;
  /** Bucket size: requests an instance may send at once. */
  burst: number;
  /** Per admin token; 0 disables. */
  admin?: BucketRule;
  /** Per client address, for requests that are not authenticated; 0 disables. */
  anonymous?: BucketRule;
  /** Where the buckets live; memory by default. */
  store?: "memory" | "redis";
  redisUrl?: string;
  /** Prefix of the Redis keys, so that services (and deployments) sharing a Redis keep apart. */
  keyPrefix?: string;
}

export const RATE_LIMIT_DEFAULTS = {
  admin: { perSecond: 20, burst: 40 },
  // Generous: health probes and metric scrapes come from a few addresses, often.
  anonymous: { perSecond: 100, burst: 200 },
} as const;

const enabled = (r: BucketRule | undefined): r is BucketRule => r !== undefined && r.perSecond > 0;

function setHeaders(reply: FastifyReply, rule: BucketRule, t: Take) {
  const limit = String(rule.burst);
  const remaining = String(t.remaining);
  const reset = String(t.resetS);
  reply.headers({
    "ratelimit-limit": limit,
    "ratelimit-remaining": remaining,
    "ratelimit-reset": reset,
    "x-ratelimit-limit": limit,
    "x-ratelimit-remaining": remaining,
    "x-ratelimit-reset": reset,
  });
}

const limited = (t: Take, what: string) =>
  new ApiError(429, "rate_limited", `rate limit ${what} exceeded; retry in ${t.retryAfterS} s`, undefined, { "retry-after": String(t.retryAfterS) });

export function registerRateLimit(app: FastifyInstance, cfg: RateLimitConfig) {
  const tenant: BucketRule = { perSecond: cfg.perSecond, burst: cfg.burst };
  const admin = cfg.admin ?? RATE_LIMIT_DEFAULTS.admin;
  const anonymous = cfg.anonymous ?? RATE_LIMIT_DEFAULTS.anonymous;
  if (!enabled(tenant) && !enabled(admin) && !enabled(anonymous)) return;
  const store: BucketStore =
    cfg.store === "redis" ? new RedisBuckets(cfg.redisUrl ?? "redis://127.0.0.1:6379", cfg.keyPrefix ?? "idp-rl:", app.log) : new MemoryBuckets();
  app.addHook("onClose", async () => store.close());

  const take = async (reply: FastifyReply, key: string, rule: BucketRule, what: string) => {
    const t = await store.take(key, rule);
    setHeaders(reply, rule, t);
    if (!t.allowed) throw limited(t, what);
  };
  const isPublic = (req: FastifyRequest) => req.routeOptions.url === undefined || req.routeOptions.config?.auth === "public";

  if (enabled(anonymous)) {
    // Registered before authentication: these requests never reach the verifier when over budget.
    app.addHook("onRequest", async (req, reply) => {
      if (isPublic(req) || req.headers.authorization === undefined) {
        await take(reply, `c:${req.ip}`, anonymous, "for unauthenticated requests from this address");
      }
    });
    // A refused token costs the address budget too; over it, the answer is 429 instead of 401.
    app.addHook("onSend", async (req, reply, payload) => {
      if (reply.statusCode !== 401 || req.headers.authorization === undefined) return payload;
      const t = await store.take(`c:${req.ip}`, anonymous);
      setHeaders(reply, anonymous, t);
      if (t.allowed) return payload;
      const err = limited(t, "for unauthenticated requests from this address");
      reply.status(429).header("retry-after", String(t.retryAfterS)).removeHeader("www-authenticate");
      return JSON.stringify({ code: err.code, message: err.message, requestId: req.id });
    });
  }

  app.addHook("preValidation", async (req, reply) => {
    const t = req.tenant;
    if (!t || isPublic(req)) return;
    if (req.routeOptions.config?.auth === "admin") {
      if (enabled(admin)) await take(reply, `a:${t.instanceId || "*"}:${t.subject}`, admin, "for this admin token");
    } else if (enabled(tenant)) {
      await take(reply, `i:${t.instanceId}`, tenant, "for this instance");
    }
  });
}
