// JWT rules on real services over HTTP: exp required with a bounded lifetime, iat/nbf in the future
// rejected beyond the clock skew, the issuer checked (or explicitly any), RS256/ES256 keys from a JWKS
// file and from a JWKS URL (served here) with key rotation, and config refused without an issuer.
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "@idp/runtime";
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { startTestService, TEST_AUDIENCE, TEST_ISSUER, TEST_JWT_SECRET, type TestService } from "../support/service.ts";

const nowS = () => Math.floor(Date.now() / 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const base = { instance_id: "inst-jwt", scope: "projections:read", aud: TEST_AUDIENCE, sub: "test-user" };

/** Signs exactly the given claims (nothing added): each test states every time claim it relies on. */
async function sign(
  claims: JWTPayload,
  key: CryptoKey | Uint8Array = new TextEncoder().encode(TEST_JWT_SECRET),
  header: { alg: string; kid?: string } = { alg: "HS256" },
) {
  return new SignJWT({ ...base, ...claims }).setProtectedHeader(header).sign(key);
}

const call = (t: TestService, token: string) => fetch(`${t.url}/v1/users`, { headers: { authorization: `Bearer ${token}` } });

async function expect401(t: TestService, token: string, message: string | RegExp) {
  const res = await call(t, token);
  expect(res.status).toBe(401);
  expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
  const body = await res.json();
  expect(body).toMatchObject({ code: "unauthenticated", requestId: expect.any(String) });
  expect(body.message).toMatch(message);
}

const services: TestService[] = [];
afterAll(async () => {
  for (const t of services) await t.close();
});
async function start(env: Record<string, string>) {
  const t = await startTestService(usersService, { env });
  services.push(t);
  return t;
}

describe("time claims and issuer (HS256, AUTH_MAX_TOKEN_LIFETIME_S=3600, AUTH_CLOCK_SKEW_S=2)", () => {
  let t: TestService;
  beforeAll(async () => {
    t = await start({ AUTH_MAX_TOKEN_LIFETIME_S: "3600", AUTH_CLOCK_SKEW_S: "2" });
  });
  const iss = TEST_ISSUER;

  it("accepts a well-formed token", async () => {
    expect((await call(t, await sign({ iss, iat: nowS(), exp: nowS() + 600 }))).status).toBe(200);
  });

  it("rejects a token without exp (it would never expire)", async () => {
    await expect401(t, await sign({ iss, iat: nowS() }), "token claim exp missing");
  });

  it("rejects a lifetime above the maximum: exp − iat, or exp − now without iat", async () => {
    await expect401(t, await sign({ iss, iat: nowS(), exp: nowS() + 3601 }), "token claim exp rejected");
    await expect401(t, await sign({ iss, exp: nowS() + 7200 }), "token claim exp rejected");
    // An old token close to its end: its iat-based lifetime is what counts, not what is left of it.
    await expect401(t, await sign({ iss, iat: nowS() - 7000, exp: nowS() + 60 }), "token claim exp rejected");
    expect((await call(t, await sign({ iss, iat: nowS(), exp: nowS() + 3600 }))).status).toBe(200);
    expect((await call(t, await sign({ iss, exp: nowS() + 1800 }))).status).toBe(200);
  });

  it("rejects iat and nbf in the future beyond the clock skew, accepts them within it", async () => {
    await expect401(t, await sign({ iss, iat: nowS() + 30, exp: nowS() + 600 }), "token claim iat rejected");
    await expect401(t, await sign({ iss, iat: nowS(), nbf: nowS() + 30, exp: nowS() + 600 }), "token claim nbf rejected");
    expect((await call(t, await sign({ iss, iat: nowS() + 1, exp: nowS() + 600 }))).status).toBe(200);
    expect((await call(t, await sign({ iss, iat: nowS(), nbf: nowS() + 1, exp: nowS() + 600 }))).status).toBe(200);
  });

  it("rejects an expired token, another issuer and a token without issuer", async () => {
    await expect401(t, await sign({ iss, iat: nowS() - 100, exp: nowS() - 10 }), "token expired");
    await expect401(t, await sign({ iss: "https://evil.example", iat: nowS(), exp: nowS() + 600 }), "token claim iss rejected");
    await expect401(t, await sign({ iat: nowS(), exp: nowS() + 600 }), "token claim iss missing");
  });

  it("the verified-token cache does not outlive exp (plus the skew)", async () => {
    const exp = nowS() + 1;
    const token = await sign({ iss, iat: nowS(), exp });
    expect((await call(t, token)).status).toBe(200);
    expect((await call(t, token)).status).toBe(200); // served from the cache
    await sleep((exp + 2 + 1) * 1000 - Date.now());
    await expect401(t, token, "token expired");
  });
});

describe("configuration", () => {
  const env = { AUTH_MODE: "jwt", AUTH_JWT_SECRET: TEST_JWT_SECRET };
  it("refuses jwt mode without AUTH_ISSUER, with one message naming the way out", () => {
    expect(() => loadConfig("users", 0, env)).toThrow(
      "invalid configuration for users:\n  AUTH_ISSUER: required with AUTH_MODE=jwt (the iss every token must carry); set AUTH_ALLOW_ANY_ISSUER=true to accept any issuer",
    );
    expect(() => loadConfig("users", 0, { ...env, AUTH_ISSUER: "https://a", AUTH_ALLOW_ANY_ISSUER: "true" })).toThrow(/contradicts AUTH_ISSUER/);
    expect(() => loadConfig("users", 0, { AUTH_MODE: "jwt", AUTH_ISSUER: "https://a" })).toThrow(/needs AUTH_JWT_SECRET, AUTH_JWKS_URL or AUTH_JWKS_FILE/);
  });

  it("accepts an issuer, the explicit opt-out, dev mode, and a projector without API", () => {
    expect(loadConfig("users", 0, { ...env, AUTH_ISSUER: "https://a" }).auth).toMatchObject({
      issuer: "https://a",
      anyIssuer: false,
      maxTokenLifetimeS: 86400,
      clockSkewS: 60,
    });
    expect(loadConfig("users", 0, { ...env, AUTH_ALLOW_ANY_ISSUER: "true" }).auth).toMatchObject({ anyIssuer: true });
    expect(loadConfig("users", 0, { AUTH_MODE: "dev" }).auth.mode).toBe("dev");
    expect(loadConfig("users", 0, { API_ENABLED: "false" }).apiEnabled).toBe(false);
  });
});

async function keyPair(alg: "RS256" | "ES256") {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `${alg}-${randomUUID()}`;
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { alg, kid, privateKey, jwk };
}
type Pair = Awaited<ReturnType<typeof keyPair>>;
const signWith = (k: Pair, claims: JWTPayload = {}) =>
  sign({ iss: TEST_ISSUER, iat: nowS(), exp: nowS() + 600, ...claims }, k.privateKey, { alg: k.alg, kid: k.kid });

describe("RS256 and ES256 from AUTH_JWKS_FILE", () => {
  let t: TestService;
  let rsa: Pair;
  let ec: Pair;
  beforeAll(async () => {
    rsa = await keyPair("RS256");
    ec = await keyPair("ES256");
    const file = join(mkdtempSync(join(tmpdir(), "jwks-")), "jwks.json");
    writeFileSync(file, JSON.stringify({ keys: [rsa.jwk, ec.jwk] }));
    t = await start({ AUTH_JWT_SECRET: "", AUTH_JWKS_FILE: file });
  });

  it("accepts tokens of both key types and applies the same rules to them", async () => {
    expect((await call(t, await signWith(rsa))).status).toBe(200);
    expect((await call(t, await signWith(ec))).status).toBe(200);
    await expect401(t, await signWith(ec, { exp: undefined }), "token claim exp missing");
    await expect401(t, await signWith(rsa, { iss: "https://evil.example" }), "token claim iss rejected");
  });

  it("rejects an unknown key, and an HS256 token signed with the public key as secret", async () => {
    const other = await keyPair("ES256");
    await expect401(t, await signWith(other), "token signature or format invalid");
    const confused = await sign({ iss: TEST_ISSUER, iat: nowS(), exp: nowS() + 600 }, new TextEncoder().encode(JSON.stringify(rsa.jwk)), {
      alg: "HS256",
      kid: rsa.kid,
    });
    await expect401(t, confused, "token signature or format invalid");
  });
});

describe("AUTH_JWKS_URL with key rotation (AUTH_JWKS_REFRESH_S=1, AUTH_ALLOW_ANY_ISSUER=true)", () => {
  let t: TestService;
  let server: Server;
  let keys: JWK[] = [];
  let failing = false;
  let fetches = 0;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      fetches++;
      if (failing) return void res.writeHead(500).end();
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as { port: number };
    t = await start({
      AUTH_JWT_SECRET: "",
      AUTH_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`,
      AUTH_JWKS_REFRESH_S: "1",
      AUTH_ISSUER: "",
      AUTH_ALLOW_ANY_ISSUER: "true",
    });
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it("accepts a key added to the set, rejects a removed key after the refresh, answers 503 when the set is down", async () => {
    const k1 = await keyPair("RS256");
    const k2 = await keyPair("ES256");
    keys = [k1.jwk];
    const old = await signWith(k1, { iss: "https://any-issuer.example" }); // any issuer: explicitly allowed here
    expect((await call(t, old)).status).toBe(200);
    expect(fetches).toBeGreaterThan(0);

    keys = [k1.jwk, k2.jwk]; // rotation starts: the new key is published next to the old one
    await sleep(1100);
    expect((await call(t, await signWith(k2))).status).toBe(200);
    expect((await call(t, old)).status).toBe(200);

    keys = [k2.jwk]; // the old key is withdrawn
    await sleep(1100);
    expect((await call(t, await signWith(k2))).status).toBe(200);
    await expect401(t, await signWith(k1), "token signature or format invalid");
    await expect401(t, old, "token signature or format invalid"); // also the token verified (and cached) before
    await expect401(t, await signWith(k2, { exp: undefined }), "token claim exp missing");

    failing = true;
    await sleep(1100);
    const res = await call(t, await signWith(k2));
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: "unavailable", message: "signing keys are unavailable; retry later" });
  });
});
