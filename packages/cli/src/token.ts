// idp-admin token: a local HS256 token for services in AUTH_MODE=jwt with AUTH_JWT_SECRET, for trying
// the APIs and for the CLI's own admin calls. It signs only with that shared dev secret: production tokens
// come from the identity provider, whose keys the services read from AUTH_JWKS_URL / AUTH_JWKS_FILE.
import { createHmac } from "node:crypto";
import { parseArgs } from "node:util";

const USAGE = `usage: idp-admin token [--instance ID] [--org ID] [--scope SCOPE]... [--ttl SECONDS] [--sub SUBJECT] [--issuer ISS] [--audience AUD]

Prints a JWT signed with AUTH_JWT_SECRET (HS256) that a service in AUTH_MODE=jwt with the same secret accepts:
  iss   --issuer, else AUTH_ISSUER (the issuer the services trust)
  aud   --audience, else AUTH_AUDIENCE, else idp-projectors
  exp   now + --ttl seconds (default 3600, at most AUTH_MAX_TOKEN_LIFETIME_S, default 86400); iat now
  scope projections:read by default; projections:admin for the admin API (repeat --scope for both)
--instance is required, except for a platform-admin token (--scope projections:admin only).
  TOKEN=$(idp-admin token --instance demo-inst-1)
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8081/v1/users`;

const USAGE_EXIT = 2;

class UsageError extends Error {}

const base64url = (data: string | Buffer) => Buffer.from(data).toString("base64url");

/** A compact HS256 JWS of `claims`. */
export function signHs256(claims: Record<string, unknown>, secret: string): string {
  const input = `${base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${base64url(JSON.stringify(claims))}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

function claimsFrom(args: string[], env: NodeJS.ProcessEnv, nowS: number): Record<string, unknown> {
  const { values: o } = parseArgs({
    args,
    options: {
      instance: { type: "string" },
      org: { type: "string" },
      scope: { type: "string", multiple: true },
      ttl: { type: "string" },
      sub: { type: "string" },
      issuer: { type: "string" },
      audience: { type: "string" },
    },
  });
  const scopes = (o.scope ?? ["projections:read"]).flatMap((s) => s.split(/[\s,]+/)).filter(Boolean);
  const platformAdmin = scopes.length === 1 && scopes[0] === "projections:admin";
  if (!o.instance && !platformAdmin) throw new UsageError("--instance is required (only a token with --scope projections:admin alone may omit it)");
  if (o.org && !o.instance) throw new UsageError("--org needs --instance");
  const issuer = o.issuer ?? env.AUTH_ISSUER;
  if (!issuer) throw new UsageError("no issuer: set AUTH_ISSUER to the issuer the services trust, or pass --issuer");
  const maxTtl = Number(env.AUTH_MAX_TOKEN_LIFETIME_S ?? 86_400);
  const ttl = Number(o.ttl ?? 3600);
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > maxTtl) throw new UsageError(`--ttl must be a whole number of seconds from 1 to ${maxTtl}`);
  return {
    iss: issuer,
    sub: o.sub ?? "idp-admin",
    aud: o.audience ?? env.AUTH_AUDIENCE ?? "idp-projectors",
    iat: nowS,
    exp: nowS + ttl,
    ...(o.instance ? { instance_id: o.instance } : {}),
    ...(o.org ? { org_id: o.org } : {}),
    scope: scopes.join(" "),
  };
}

/** Runs `idp-admin token …`; returns the exit code. */
export async function tokenCommand(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  const secret = env.AUTH_JWT_SECRET;
  if (!secret) {
    console.error("idp-admin token: AUTH_JWT_SECRET is not set; this command signs only with the services' shared dev secret");
    return USAGE_EXIT;
  }
  if (Buffer.byteLength(secret) < 32) {
    console.error("idp-admin token: AUTH_JWT_SECRET must be at least 32 bytes (the services refuse a shorter one)");
    return USAGE_EXIT;
  }
  let token: string;
  try {
    token = signHs256(claimsFrom(args, env, Math.floor(Date.now() / 1000)), secret);
  } catch (err) {
    console.error(`idp-admin token: ${(err as Error).message}\n\n${USAGE}`);
    return USAGE_EXIT;
  }
  // Written before the process exits, also to a pipe that drains asynchronously.
  await new Promise<void>((resolve) => process.stdout.write(`${token}\n`, () => resolve()));
  return 0;
}
