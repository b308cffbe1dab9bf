// Bearer JWT on every query and admin route. The tenant (instance, optional org) comes from verified
// claims only. AUTH_MODE=dev (off by default) takes it from X-Instance-Id for local use.

import { createHash, createSecretKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { idSchema } from "@idp/events";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { createLocalJWKSet, createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from "jose";
import { forbidden, unauthenticated } from "./errors.ts";

export interface AuthConfig {
  mode: "jwt" | "dev";
  /** HS256 shared secret (at least 32 bytes). */
  jwtSecret?: string;
  /** RS256/ES256 keys: a JWKS URL or a JWKS JSON file. */
  jwksUrl?: string;
  jwksFile?: string;
  issuer?: string;
  audience: string;
}

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

function verifier(cfg: AuthConfig): Verify {
  const options = { audience: cfg.audience, ...(cfg.issuer ? { issuer: cfg.issuer } : {}), clockTolerance: 5 };
  if (cfg.jwtSecret) {
    if (Buffer.byteLength(cfg.jwtSecret) < 32) throw new Error("AUTH_JWT_SECRET must be at least 32 bytes");
    const key = createSecretKey(Buffer.from(cfg.jwtSecret)); // imported once, not on every request
    return async (t) => (await jwtVerify(t, key, { ...options, algorithms: ["HS256"] })).payload;
  }
  let keys: JWTVerifyGetKey;
  if (cfg.jwksUrl) keys = createRemoteJWKSet(new URL(cfg.jwksUrl));
  else if (cfg.jwksFile) keys = createLocalJWKSet(JSON.parse(readFileSync(cfg.jwksFile, "utf8")));
  else throw new Error("AUTH_MODE=jwt needs AUTH_JWT_SECRET, AUTH_JWKS_URL or AUTH_JWKS_FILE");
  return async (t) => (await jwtVerify(t, keys, { ...options, algorithms: ["RS256", "ES256", "PS256", "EdDSA"] })).payload;
}

/**
 * Remembers verified tokens (by SHA-256, never the token itself) until they expire, at most `ttlMs`:
 * clients reuse a token for many requests, and jose verifies through WebCrypto, which costs more CPU
 * than the rest of a get-by-id. A key rotation reaches cached tokens within `ttlMs`.
 */
export function cachedVerifier(verify: Verify, { maxEntries = 10_000, ttlMs = 60_000, now = Date.now } = {}): Verify {
  const verified = new Map<string, { claims: Record<string, unknown>; until: number }>();
  return async (token) => {
    const key = createHash("sha256").update(token).digest("base64");
    const hit = verified.get(key);
    if (hit && hit.until > now()) return hit.claims;
    verified.delete(key);
    const claims = await verify(token);
    const exp = typeof claims.exp === "number" ? claims.exp * 1000 : Number.POSITIVE_INFINITY;
    const until = Math.min(exp, now() + ttlMs);
    if (until > now()) {
      if (verified.size >= maxEntries) verified.delete(verified.keys().next().value as string); // oldest first
      verified.set(key, { claims, until });
    }
    return claims;
  };
}

function scopesOf(claims: Record<string, unknown>): Set<string> {
  const raw = claims.scope ?? claims.scp;
  if (typeof raw === "string") return new Set(raw.split(" ").filter(Boolean));
  if (Array.isArray(raw)) return new Set(raw.filter((s): s is string => typeof s === "string"));
  return new Set();
}

export function registerAuth(app: FastifyInstance, cfg: AuthConfig) {
  const verify = cfg.mode === "jwt" ? cachedVerifier(verifier(cfg)) : undefined;
  if (cfg.mode === "dev") app.log.warn("AUTH_MODE=dev: the tenant comes from X-Instance-Id without verification; never use in production");

  async function tenantOf(req: FastifyRequest, mode: RouteAuth): Promise<Tenant> {
    if (!verify) {
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
      const reason =
        err instanceof joseErrors.JWTExpired
          ? "token expired"
          : err instanceof joseErrors.JWTClaimValidationFailed
            ? `token claim ${err.claim} rejected`
            : "token signature or format invalid";
      throw unauthenticated(reason);
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
