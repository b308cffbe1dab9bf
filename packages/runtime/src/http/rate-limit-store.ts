// Token buckets for the rate limiter: in this process (the default), or in Redis so that a limit holds
// across every process of a service. The Redis bucket is one Lua script (atomic, clocked by Redis's TIME,
// so processes with skewed clocks agree). When Redis cannot answer, the process falls back to its own
// buckets: the limit is then per process for a while, but requests are neither blocked nor let through
// unlimited.
import { createHash } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import { RespClient, RespError } from "./resp.ts";

export interface BucketRule {
  /** Sustained requests per second. */
  perSecond: number;
  /** Bucket size: requests that may arrive at once. */
  burst: number;
}

export interface Take {
  allowed: boolean;
  /** Whole requests left in the bucket after this one. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetS: number;
  /** When refused: seconds until one request is allowed again. */
  retryAfterS: number;
}

export interface BucketStore {
  take(key: string, rule: BucketRule): Promise<Take>;
  close(): Promise<void>;
}

const outcome = (allowed: boolean, tokens: number, rule: BucketRule): Take => ({
  allowed,
  remaining: Math.max(0, Math.floor(tokens)),
  resetS: Math.max(0, Math.ceil((rule.burst - tokens) / rule.perSecond)),
  retryAfterS: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / rule.perSecond)),
});

export class MemoryBuckets implements BucketStore {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly sweep: NodeJS.Timeout;

  private readonly now;

  constructor(now = Date.now) {
    this.now = now;
    // Forget idle buckets so the map stays bounded by the number of active keys.
    this.sweep = setInterval(() => {
      const idle = this.now() - 60_000;
      for (const [k, b] of this.buckets) if (b.at < idle) this.buckets.delete(k);
    }, 30_000);
    this.sweep.unref();
  }

  takeNow(key: string, rule: BucketRule): Take {
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: rule.burst, at: now };
    b.tokens = Math.min(rule.burst, b.tokens + ((now - b.at) / 1000) * rule.perSecond);
    b.at = now;
    this.buckets.set(key, b);
    const allowed = b.tokens >= 1;
    if (allowed) b.tokens -= 1;
    return outcome(allowed, b.tokens, rule);
  }

  async take(key: string, rule: BucketRule): Promise<Take> {
    return this.takeNow(key, rule);
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
  }
}

// KEYS[1] bucket; ARGV rate per second, burst. Returns {allowed 0|1, tokens left as a string}.
const TAKE_SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
`;
const TAKE_SHA = createHash("sha1").update(TAKE_SCRIPT).digest("hex");

export class RedisBuckets implements BucketStore {
  private readonly client: RespClient;
  private readonly fallback = new MemoryBuckets();
  private warnedAt = 0;
  /** After a failure Redis is left alone for a second: a stalled Redis must not cost every request a timeout. */
  private downUntil = 0;

  private readonly prefix: string;
  private readonly log?: FastifyBaseLogger;

  constructor(url: string, prefix: string, log?: FastifyBaseLogger) {
    this.prefix = prefix;
    this.log = log;
    this.client = new RespClient(new URL(url));
  }

  async take(key: string, rule: BucketRule): Promise<Take> {
    const k = `${this.prefix}${key}`;
    if (Date.now() < this.downUntil) return this.fallback.takeNow(k, rule);
    try {
      let reply: unknown;
      try {
        reply = await this.client.command("EVALSHA", TAKE_SHA, 1, k, rule.perSecond, rule.burst);
      } catch (err) {
        // The script is not cached yet (first use, or Redis restarted): send it once, cached from then on.
        if (!(err instanceof RespError && err.message.startsWith("NOSCRIPT"))) throw err;
        reply = await this.client.command("EVAL", TAKE_SCRIPT, 1, k, rule.perSecond, rule.burst);
      }
      const [allowed, tokens] = reply as [number, string];
      return outcome(allowed === 1, Number(tokens), rule);
    } catch (err) {
      this.downUntil = Date.now() + 1000;
      if (Date.now() - this.warnedAt > 10_000) {
        this.warnedAt = Date.now();
        this.log?.warn({ err }, "rate limit store unavailable: limiting per process until it answers again");
      }
      return this.fallback.takeNow(k, rule);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.client.close(), this.fallback.close()]);
  }
}
