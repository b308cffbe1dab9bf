// Bearer JWT on every query and admin route. The tenant (instance, optional org) comes from verified
// claims only. A token must name the configured issuer (unless AUTH_ALLOW_ANY_ISSUER=true) and audience,
// carry exp within the maximum lifetime, and have no iat/nbf in the future beyond the clock skew.
// AUTH_MODE=dev (off by default) takes the tenant from X-Instance-Id for local use.

import { createHash, createSecretKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { idSchema } from "@idp/events";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { createLocalJWKSet, createRemoteJWKSet, customFetch, type JWTPayload, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from "jose";
import { ApiError, forbidden, unauthenticated } from "./errors.ts";

export interface AuthConfig {
  mode: "jwt" | "dev";
  /** HS256 shared secret (at least 32 bytes). */
  jwtSecret?: string;
  /** RS256/ES256 keys: a JWKS URL or a JWKS JSON file. */
  jwksUrl?: string;
  jwksFile?: string;
  /** The `iss` every token must carry. Required in jwt mode unless `anyIssuer`. */
  issuer?: string;
  /** AUTH_ALLOW_ANY_ISSUER=true: accept any `iss` (an explicit opt-out, never the default). */
  anyIssuer?: boolean;
  audience: string;
  /** Longest accepted lifetime in seconds: exp − iat, or exp − now for a token without iat. */
  maxTokenLifetimeS?: number;
  /** Tolerated clock difference with the issuer, in seconds (exp, nbf and iat). */
  clockSkewS?: number;
  /** The JWKS URL is fetched again after this many seconds (and on an unknown kid, at most every 30 s). */
  jwksRefreshS?: number;
}

export const AUTH_DEFAULTS = { maxTokenLifetimeS: 24 * 3600, clockSkewS: 60, jwksRefreshS: 600 } as const;
export type RouteAuth = "query" | "admin" | "public";

export const SCOPE_READ = "projections:read";
export const SCOPE_ADMIN = "projections:admin";

export interface Tenant {
  instanceId: string;
  /** Set when the token is restricted to one organisation. */
  orgId?: string;
  subject: string;
  scopes: ReadonlySet<string>;
}

declare module "fastify" {
  interface FastifyRequest {
    tenant: Tenant;
  }
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
}

export type Verify = (token: string) => Promise<Record<string, unknown>>;

const rejected = (claim: string, reason: string, message: string, payload: JWTPayload) =>
  new joseErrors.JWTClaimValidationFailed(message, payload, claim, reason);

/**
 * The rules jose leaves to the caller: `exp` is present (jose's requiredClaims), the lifetime is bounded
 * (a stolen long-lived token stays useful for its whole life), and `iat` is not in the future (jose checks
 * iat only with maxTokenAge, which would require iat).
 */
export function checkTokenTimes(payload: JWTPayload, rules: { maxTokenLifetimeS: number; clockSkewS: number }, nowS = Math.floor(Date.now() / 1000)) {
  const { exp, iat } = payload;
  if (typeof exp !== "number") throw rejected("exp", "missing", 'missing required "exp" claim', payload);
  if (typeof iat === "number" && iat > nowS + rules.clockSkewS) throw rejected("iat", "check_failed", '"iat" is in the future', payload);
  // Without iat the remaining lifetime is what can be checked; the skew covers an issuer's clock ahead of ours.
  const lifetime = typeof iat === "number" ? exp - iat : exp - nowS - rules.clockSkewS;
  if (lifetime > rules.maxTokenLifetimeS) {
    throw rejected("exp", "check_failed", `token lifetime exceeds ${rules.maxTokenLifetimeS} s`, payload);
  }
}

/** The JWKS endpoint could not be fetched: an outage on our side, not a bad token. */
class KeySetUnavailable extends Error {}

/** fetch for jose's remote JWKS that tells "endpoint down" apart from "token invalid". */
const jwksFetch = async (url: string, init: RequestInit) => {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    throw new KeySetUnavailable(`JWKS ${url} unreachable: ${(err as Error).message}`);
  }
  if (res.status !== 200) throw new KeySetUnavailable(`JWKS ${url} answered ${res.status}`);
  return res;
};

function keySource(cfg: AuthConfig, refreshS: number): JWTVerifyGetKey {
  if (cfg.jwksUrl) {
    return createRemoteJWKSet(new URL(cfg.jwksUrl), {
      cacheMaxAge: refreshS * 1000,
      // An unknown kid (a key just rotated in) refetches, but at most this often: a flood of made-up kids
      // must not turn into a flood of requests to the issuer.
      cooldownDuration: Math.min(30, refreshS) * 1000,
      [customFetch]: jwksFetch,
    });
  }
  if (cfg.jwksFile) return createLocalJWKSet(JSON.parse(readFileSync(cfg.jwksFile, "utf8")));
  throw new Error("AUTH_MODE=jwt needs AUTH_JWT_SECRET, AUTH_JWKS_URL or AUTH_JWKS_FILE");
}

function verifier(cfg: AuthConfig): Verify {
  if (!cfg.issuer && !cfg.anyIssuer) throw new Error("AUTH_ISSUER is required with AUTH_MODE=jwt (or set AUTH_ALLOW_ANY_ISSUER=true)");
  const rules = {
    maxTokenLifetimeS: cfg.maxTokenLifetimeS ?? AUTH_DEFAULTS.maxTokenLifetimeS,
    clockSkewS: cfg.clockSkewS ?? AUTH_DEFAULTS.clockSkewS,
  };
  const options = {
    audience: cfg.audience,
    ...(cfg.issuer ? { issuer: cfg.issuer } : {}),
    requiredClaims: ["exp"],
    clockTolerance: rules.clockSkewS,
  };
  const checked = (payload: JWTPayload) => {
    checkTokenTimes(payload, rules);
    return payload as Record<string, unknown>;
  };
  if (cfg.jwtSecret) {
    if (Buffer.byteLength(cfg.jwtSecret) < 32) throw new Error("AUTH_JWT_SECRET must be at least 32 bytes");
    const key = createSecretKey(Buffer.from(cfg.jwtSecret)); // imported once, not on every request
    return async (t) => checked((await jwtVerify(t, key, { ...options, algorithms: ["HS256"] })).payload);
  }
  const keys = keySource(cfg, cfg.jwksRefreshS ?? AUTH_DEFAULTS.jwksRefreshS);
  return async (t) => checked((await jwtVerify(t, keys, { ...options, algorithms: ["RS256", "ES256", "PS256", "EdDSA"] })).payload);
}

/**
 * Remembers verified tokens (by SHA-256, never the token itself) until they expire, at most `ttlMs`:
 * clients reuse a token for many requests, and jose verifies through WebCrypto, which costs more CPU
 * than the rest of a get-by-id. A key rotation reaches cached tokens within `ttlMs`. A token without
 * `exp` is never cached (the verifier rejects it anyway; this keeps the cache safe with any verifier).
 */
export function cachedVerifier(verify: Verify, { maxEntries = 10_000, ttlMs = 60_000, now = Date.now } = {}): Verify {
  const verified = new Map<string, { claims: Record<string, unknown>; until: number }>();
  return async (token) => {
    const key = createHash("sha256").update(token).digest("base64");
    const hit = verified.get(key);
    if (hit && hit.until > now()) return hit.claims;
    verified.delete(key);
    const claims = await verify(token);
    if (typeof claims.exp !== "number") return claims;
    const until = Math.min(claims.exp * 1000, now() + ttlMs);
    if (until > now()) {
      if (verified.size >= maxEntries) verified.delete(verified.keys().next().value as string); // oldest first
      verified.set(key, { claims, until });
    }
    return claims;
  };
}

/** Why a token was refused, for the 401 body (never the token or its claims). */
function rejection(err: unknown): ApiError {
  if (err instanceof KeySetUnavailable) return new ApiError(503, "unavailable", "signing keys are unavailable; retry later");
  if (err instanceof joseErrors.JWTExpired) return unauthenticated("token expired");
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    return unauthenticated(err.reason === "missing" ? `token claim ${err.claim} missing` : `token claim ${err.claim} rejected`);
  }
  return unauthenticated("token signature or format invalid");
}

function scopesOf(claims: Record<string, unknown>): Set<string> {
  const raw = claims.scope ?? claims.scp;
  if (typeof raw === "string") return new Set(raw.split(" ").filter(Boolean));
  if (Array.isArray(raw)) return new Set(raw.filter((s): s is string => typeof s === "string"));
  return new Set();
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "::ffff:127.0.0.1"]);

export function registerAuth(app: FastifyInstance, cfg: AuthConfig) {
  // With a JWKS URL, a removed key's cached tokens stop working within one refresh of the key set.
  const ttlMs = Math.min(60, cfg.jwksUrl ? (cfg.jwksRefreshS ?? AUTH_DEFAULTS.jwksRefreshS) : 60) * 1000;
  const verify = cfg.mode === "jwt" ? cachedVerifier(verifier(cfg), { ttlMs }) : undefined;
  if (cfg.mode === "dev") app.log.warn("AUTH_MODE=dev: the tenant comes from X-Instance-Id without verification; never use in production");

  async function tenantOf(req: FastifyRequest, mode: RouteAuth): Promise<Tenant> {
    if (!verify) {
      // The operator CLI on the same machine: an admin route called from loopback without a tenant header
      // acts for the whole projection (dev mode is for local runs; anything remote still names its tenant).
      if (mode === "admin" && req.headers["x-instance-id"] === undefined && LOOPBACK.has(req.socket.remoteAddress ?? "")) {
        return { instanceId: "", subject: "dev", scopes: new Set([SCOPE_ADMIN]) };
      }
      const instance = idSchema.safeParse(req.headers["x-instance-id"]);
      if (!instance.success) throw unauthenticated("dev mode: send X-Instance-Id");
      const org = req.headers["x-org-id"];
      return {
        instanceId: instance.data,
        ...(typeof org === "string" && idSchema.safeParse(org).success ? { orgId: org } : {}),
        subject: "dev",
        scopes: new Set([SCOPE_READ, SCOPE_ADMIN]),
      };
    }
    const header = req.headers.authorization;
    const m = typeof header === "string" ? /^Bearer ([A-Za-z0-9._~+/=-]{1,8192})$/.exec(header) : null;
    if (!m) throw unauthenticated("missing bearer token");
    let claims: Record<string, unknown>;
    try {
      claims = await verify(m[1] as string);
    } catch (err) {
      throw rejection(err);
    }
    const instance = idSchema.safeParse(claims.instance_id);
    // Operators' admin tokens are not tenant-scoped; every query token names its instance.
    if (!instance.success && !(mode === "admin" && claims.instance_id === undefined)) {
      throw unauthenticated("token has no valid instance_id claim");
    }
    const org = claims.org_id === undefined ? undefined : idSchema.safeParse(claims.org_id);
    if (org && !org.success) throw unauthenticated("token has an invalid org_id claim");
    return {
      instanceId: instance.success ? instance.data : "",
      ...(org?.success ? { orgId: org.data } : {}),
      subject: typeof claims.sub === "string" ? claims.sub : "",
      scopes: scopesOf(claims),
    };
  }

  app.decorateRequest("tenant", null as unknown as Tenant);
  app.addHook("onRequest", async (req) => {
    const mode = req.routeOptions.config?.auth ?? "query";
    if (mode === "public" || req.routeOptions.url === undefined) return;
    const tenant = await tenantOf(req, mode);
    const needed = mode === "admin" ? SCOPE_ADMIN : SCOPE_READ;
    if (!tenant.scopes.has(needed)) throw forbidden(`this route needs scope ${needed}`);
    req.tenant = tenant;
  });
}
