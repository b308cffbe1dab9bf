// Per-instance (tenant) rate limiting of query routes: a token bucket per instance, in this process.
// One noisy tenant gets 429 with Retry-After instead of slowing every other tenant down.
import type { FastifyInstance } from "fastify";
import { ApiError } from "./errors.ts";

export interface RateLimitConfig {
  /** Sustained requests per second per instance; 0 disables. */
  perSecond: number;
  /** Bucket size: requests an instance may send at once. */
  burst: number;
}

export function registerRateLimit(app: FastifyInstance, cfg: RateLimitConfig) {
  if (cfg.perSecond <= 0) return;
  const buckets = new Map<string, { tokens: number; at: number }>();
  // Forget idle tenants so the map stays bounded by the number of active ones.
  const sweep = setInterval(() => {
    const idle = Date.now() - 60_000;
    for (const [k, b] of buckets) if (b.at < idle) buckets.delete(k);
  }, 30_000);
  sweep.unref();
  app.addHook("onClose", async () => clearInterval(sweep));

  app.addHook("preValidation", async (req, reply) => {
    const tenant = req.tenant;
    if (!tenant || req.routeOptions.config?.auth === "admin") return;
    const now = Date.now();
    const b = buckets.get(tenant.instanceId) ?? { tokens: cfg.burst, at: now };
    b.tokens = Math.min(cfg.burst, b.tokens + ((now - b.at) / 1000) * cfg.perSecond);
    b.at = now;
    buckets.set(tenant.instanceId, b);
    if (b.tokens < 1) {
      const retryAfter = Math.max(1, Math.ceil((1 - b.tokens) / cfg.perSecond));
      throw new ApiError(429, "rate_limited", `rate limit of ${cfg.perSecond} requests/s for this instance exceeded`, undefined, {
        "retry-after": String(retryAfter),
      });
    }
    b.tokens -= 1;
    reply.header("x-ratelimit-remaining", String(Math.floor(b.tokens)));
  });
}
