// AUTH_MODE=dev: the operator CLI on the same machine calls admin routes without a token or tenant header;
// a remote caller, and every query route, still has to name its tenant.
import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { registerAuth, registerErrorHandling } from "../src/index.ts";

async function devApp() {
  const app = Fastify();
  registerErrorHandling(app);
  registerAuth(app, { mode: "dev", audience: "idp-projectors" });
  app.get("/admin/status", { config: { auth: "admin" } }, async (req) => ({ instanceId: req.tenant.instanceId, subject: req.tenant.subject }));
  app.get("/v1/users", async (req) => ({ instanceId: req.tenant.instanceId }));
  await app.ready();
  return app;
}

describe("dev-mode auth", () => {
  it("an admin call from loopback without X-Instance-Id acts for the whole projection", async () => {
    const app = await devApp();
    const r = await app.inject({ method: "GET", url: "/admin/status", remoteAddress: "127.0.0.1" });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ instanceId: "", subject: "dev" });
    expect((await app.inject({ method: "GET", url: "/admin/status", remoteAddress: "::1" })).statusCode).toBe(200);
  });

  it("a remote admin call without X-Instance-Id is refused", async () => {
    const app = await devApp();
    const r = await app.inject({ method: "GET", url: "/admin/status", remoteAddress: "10.1.2.3" });
    expect(r.statusCode).toBe(401);
    expect(r.json().message).toMatch(/send X-Instance-Id/);
  });

  it("with X-Instance-Id an admin call is the instance's, and query routes still need the header", async () => {
    const app = await devApp();
    const own = await app.inject({ method: "GET", url: "/admin/status", remoteAddress: "127.0.0.1", headers: { "x-instance-id": "inst-1" } });
    expect(own.json()).toEqual({ instanceId: "inst-1", subject: "dev" });
    expect((await app.inject({ method: "GET", url: "/v1/users", remoteAddress: "127.0.0.1" })).statusCode).toBe(401);
  });
});
