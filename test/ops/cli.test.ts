// The operator CLI against a real service: readable output and exit codes scripts can rely on.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { generateHistory } from "@idp/producer/src/history.ts";
import { loadConfig, startService } from "@idp/runtime";
import { afterAll, beforeAll, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { uniqueName } from "../support/env.ts";
import { dropSchema, serviceEnv, signToken, startTestService, type TestService, waitForPositions } from "../support/service.ts";

const exec = promisify(execFile);
const bin = fileURLToPath(new URL("../../packages/cli/bin/idp-admin.mjs", import.meta.url));
let t: TestService;
let token = "";

beforeAll(async () => {
  t = await startTestService(usersService);
  token = await signToken({ instanceId: "", scope: "projections:admin" });
  await waitForPositions(t.svc.pool, "users", await t.publisher.publish(generateHistory({ seed: 5, instances: 2, usersPerOrg: 5, prefix: "cli-" })));
});
afterAll(async () => t?.close());

const cli = async (args: string[], env: Record<string, string> = { IDP_ADMIN_TOKEN: token }) => {
  try {
    const { stdout, stderr } = await exec(process.execPath, [bin, "--url", t.url, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

it("status prints the partitions as a table", async () => {
  const r = await cli(["status"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^projection users\s+consuming=true\s+paused=false\s+parked=0/m);
  expect(r.stdout).toMatch(/topic\s+partition\s+nextOffset\s+endOffset\s+lag/);
  expect(r.stdout).toContain(t.topic);
});

it("a dry-run rebuild shows progress and the per-table differences", async () => {
  const r = await cli(["rebuild", "--dry-run"]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/rebuild started: full into \S+_rebuild \(dry run\)/);
  expect(r.stdout).toMatch(/\[#+\.*\]\s+100\.0%/);
  expect(r.stdout).toMatch(/^users\s+0\s+0\s+0$/m);
});

it("pause and resume, recorded in the audit log", async () => {
  expect((await cli(["pause"])).stdout).toContain('"paused":true');
  expect((await cli(["status"])).stdout).toMatch(/paused=true/);
  expect((await cli(["resume"])).code).toBe(0);
  expect((await cli(["audit"])).stdout).toMatch(/resume[\s\S]*pause/);
});

it("exit codes: 2 usage, 4 unreachable, 5 unauthorized, 3 refused", async () => {
  expect((await cli(["frobnicate"])).code).toBe(2);
  expect((await cli(["replay"])).code).toBe(2); // neither offset nor timestamp: the API answers 400
  const unreachable = await exec(process.execPath, [bin, "--url", "http://127.0.0.1:9", "status"]).catch((e) => e);
  expect(unreachable.code).toBe(4);
  expect((await cli(["status"], { IDP_ADMIN_TOKEN: await signToken({ instanceId: "x" }) })).code).toBe(5);
  expect((await cli(["rebuild", "--no-wait"])).code).toBe(0);
  expect((await cli(["rebuild", "--no-wait"])).code).toBe(3); // one is already running
});

it("every command works without a token against a service in dev mode (AUTH_MODE=dev, as npm start runs)", async () => {
  const schema = uniqueName("cli_dev");
  const dev = await startService(usersService, loadConfig("users", 0, serviceEnv(t.topic, schema, { AUTH_MODE: "dev", AUTH_JWT_SECRET: "" })));
  try {
    const run = async (args: string[]) => {
      const env = { ...process.env };
      delete env.IDP_ADMIN_TOKEN;
      return exec(process.execPath, [bin, "--url", dev.url as string, ...args], { env }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    };
    const status = await run(["status"]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^projection users\s+consuming=true/m);
    for (const args of [["lag", "cli-inst-0"], ["parked", "list"], ["audit"], ["pause"], ["resume"]]) {
      const r = await run(args);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
    }
    // Query routes still need the dev tenant header: only admin calls from this machine go without one.
    expect((await fetch(`${dev.url}/v1/users`)).status).toBe(401);
  } finally {
    await dev.stop();
    await dropSchema(schema);
  }
});
