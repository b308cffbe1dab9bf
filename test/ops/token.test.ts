// First steps in JWT mode: `idp-admin token` makes tokens a service in AUTH_MODE=jwt accepts (query and
// admin), refuses without the dev secret; and a service with a broken configuration stops before it
// touches PostgreSQL or Kafka, naming every problem in one message.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { generateHistory } from "@idp/producer/src/history.ts";
import { loadConfig } from "@idp/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { databaseUrl, uniqueName } from "../support/env.ts";
import { startTestService, TEST_AUDIENCE, TEST_ISSUER, TEST_JWT_SECRET, type TestService, waitForPositions } from "../support/service.ts";

const exec = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = `${root}packages/cli/bin/idp-admin.mjs`;
const DEV = { AUTH_JWT_SECRET: TEST_JWT_SECRET, AUTH_ISSUER: TEST_ISSUER, AUTH_AUDIENCE: TEST_AUDIENCE };

const run = async (file: string, args: string[], env: Record<string, string | undefined>) => {
  try {
    const { stdout, stderr } = await exec(file, args, { env: { ...process.env, AUTH_JWT_SECRET: undefined, AUTH_ISSUER: undefined, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};
const token = (args: string[], env: Record<string, string | undefined> = DEV) => run(process.execPath, [bin, "token", ...args], env);

describe("idp-admin token", () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService(usersService);
    await waitForPositions(t.svc.pool, "users", await t.publisher.publish(generateHistory({ seed: 9, instances: 2, usersPerOrg: 3, prefix: "tok-" })));
  });
  afterAll(async () => t?.close());

  const get = (path: string, jwt: string) => fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${jwt}` } });

  it("signs a query token the service in jwt mode accepts, for its instance only", async () => {
    const r = await token(["--instance", "tok-inst-1"]);
    expect(r.code, r.stderr).toBe(0);
    const jwt = r.stdout.trim();
    const claims = JSON.parse(Buffer.from(jwt.split(".")[1] as string, "base64url").toString());
    expect(claims).toMatchObject({ iss: TEST_ISSUER, aud: TEST_AUDIENCE, instance_id: "tok-inst-1", scope: "projections:read" });
    expect(claims.exp - claims.iat).toBe(3600);
    const res = await get("/v1/users?limit=100", jwt);
    expect(res.status).toBe(200);
    const users = ((await res.json()) as { result: { id: string }[] }).result;
    expect(users.length).toBeGreaterThan(0);
    expect(users.every((u) => u.id.startsWith("tok-user-1-"))).toBe(true);
    expect((await get("/admin/status", jwt)).status).toBe(403);
  });

  it("restricts to an org, and makes platform-admin tokens for the admin API", async () => {
    const org = await token(["--instance", "tok-inst-1", "--org", "tok-org-1-2"]);
    const users = ((await (await get("/v1/users?limit=100", org.stdout.trim())).json()) as { result: { details: { resourceOwner: string } }[] }).result;
    expect(users.length).toBeGreaterThan(0);
    expect(new Set(users.map((u) => u.details.resourceOwner))).toEqual(new Set(["tok-org-1-2"]));
    const admin = await token(["--scope", "projections:admin"]);
    expect(admin.code, admin.stderr).toBe(0);
    expect((await get("/admin/status", admin.stdout.trim())).status).toBe(200);
    // The CLI's own admin calls take it from IDP_ADMIN_TOKEN.
    const status = await run(process.execPath, [bin, "--url", t.url, "status"], { IDP_ADMIN_TOKEN: admin.stdout.trim() });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^projection users/m);
  });

  it("a token of another secret or issuer is refused by the service", async () => {
    const otherSecret = await token(["--instance", "tok-inst-1"], { ...DEV, AUTH_JWT_SECRET: "another-secret-another-secret-0123456789" });
    expect((await get("/v1/users", otherSecret.stdout.trim())).status).toBe(401);
    const otherIssuer = await token(["--instance", "tok-inst-1", "--issuer", "https://elsewhere.test"]);
    expect((await get("/v1/users", otherIssuer.stdout.trim())).status).toBe(401);
  });

  it("refuses without the dev secret, without an issuer, and with bad arguments (exit 2)", async () => {
    const noSecret = await token(["--instance", "tok-inst-1"], { AUTH_ISSUER: TEST_ISSUER });
    expect(noSecret).toMatchObject({ code: 2, stdout: "" });
    expect(noSecret.stderr).toMatch(/AUTH_JWT_SECRET is not set/);
    expect((await token(["--instance", "x"], { ...DEV, AUTH_JWT_SECRET: "short" })).stderr).toMatch(/at least 32 bytes/);
    expect((await token(["--instance", "x"], { AUTH_JWT_SECRET: TEST_JWT_SECRET })).stderr).toMatch(/no issuer: set AUTH_ISSUER/);
    expect((await token([])).stderr).toMatch(/--instance is required/);
    expect((await token(["--instance", "x", "--ttl", "999999"])).stderr).toMatch(/--ttl must be/);
    expect((await token(["--instance", "x", "--nope"])).code).toBe(2);
  });
});

describe("configuration is checked before anything starts", () => {
  it("lists every problem in one message", () => {
    const env = { AUTH_MODE: "jwt", AUTH_JWT_SECRET: "too-short", AUTH_JWKS_FILE: "/nonexistent/jwks.json", HTTP_PORT: "not-a-port" };
    let message = "";
    try {
      loadConfig("users", 0, env);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split("\n")).toEqual([
      "invalid configuration for users:",
      expect.stringMatching(/^ {2}HTTP_PORT: /),
      "  AUTH_JWT_SECRET: must be at least 32 bytes",
      expect.stringMatching(/^ {2}AUTH_JWKS_FILE: cannot read \/nonexistent\/jwks.json: ENOENT/),
      expect.stringMatching(/^ {2}AUTH_ISSUER: required with AUTH_MODE=jwt/),
    ]);
  });

  it("refuses a write-behind window that may outlast the stall timeout (its progress would look stalled)", () => {
    const env = { AUTH_MODE: "dev", READY_STALL_TIMEOUT_MS: "20000", WRITE_BEHIND_MAX_DELAY_MS: "20000" };
    expect(() => loadConfig("users", 0, env)).toThrow(
      "invalid configuration for users:\n  WRITE_BEHIND_MAX_DELAY_MS: 20000 must stay below READY_STALL_TIMEOUT_MS (20000): progress is committed once per flush",
    );
    expect(loadConfig("users", 0, { ...env, WRITE_BEHIND_MAX_DELAY_MS: "19999" }).writeBehind).toEqual({ maxRows: 500_000, maxDelayMs: 19_999, minLag: 1000 });
    expect(loadConfig("users", 0, { ...env, WRITE_BEHIND_MAX_ROWS: "0" }).writeBehind.maxRows).toBe(0);
    // Not set: 30 s, or half the stall timeout when that is shorter.
    expect(loadConfig("users", 0, { AUTH_MODE: "dev" }).writeBehind.maxDelayMs).toBe(30_000);
    expect(loadConfig("users", 0, { AUTH_MODE: "dev", READY_STALL_TIMEOUT_MS: "1500" }).writeBehind.maxDelayMs).toBe(750);
  });

  it("a service exits with that message before migrating or joining Kafka", async () => {
    const schema = uniqueName("cfg");
    const started = Date.now();
    const r = await run(`${root}node_modules/.bin/tsx`, [`${root}services/users/src/main.ts`], {
      AUTH_MODE: "jwt",
      DB_SCHEMA: schema,
      DATABASE_URL: databaseUrl(),
      // A broker nobody listens on: a service that tried to reach it would hang in retries, not exit at once.
      KAFKA_BROKERS: "127.0.0.1:1",
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("users: failed to start: invalid configuration for users:");
    expect(r.stderr).toContain("AUTH_JWT_SECRET: AUTH_MODE=jwt needs AUTH_JWT_SECRET, AUTH_JWKS_URL or AUTH_JWKS_FILE");
    expect(r.stderr).toContain("AUTH_ISSUER: required with AUTH_MODE=jwt");
    expect(Date.now() - started).toBeLessThan(30_000);
    const { default: pg } = await import("pg");
    const c = new pg.Client({ connectionString: databaseUrl() });
    await c.connect();
    const { rowCount } = await c.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]);
    await c.end();
    expect(rowCount, "no migration ran").toBe(0);
  });
});
