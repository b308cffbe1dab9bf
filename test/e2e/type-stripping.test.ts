// The production image runs the services with plain Node.js 24 (type stripping, no TypeScript loader and
// no dev dependencies at run time). This runs the users service exactly so, against real Kafka and
// PostgreSQL: it starts, projects a published event, answers a query and stops cleanly on SIGTERM.

import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import * as ev from "@idp/events";
import { EventPublisher, event } from "@idp/producer";
import { afterAll, describe, expect, it } from "vitest";
import { kafkaBrokers, uniqueName } from "../support/env.ts";
import { createTopic, dropSchema, serviceEnv, signToken } from "../support/service.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("plain Node.js runs the TypeScript sources (as the image does)", () => {
  const schema = uniqueName("strip");
  afterAll(async () => dropSchema(schema));

  it("the users service starts, projects and answers without a loader, and stops on SIGTERM", async () => {
    expect(Number(process.versions.node.split(".")[0]), "npm scripts run the pinned Node.js 24").toBeGreaterThanOrEqual(24);
    const topic = await createTopic("strip", 1);
    const port = await freePort();
    let out = "";
    const child = spawn(process.execPath, ["services/users/src/main.ts"], {
      cwd: root,
      env: serviceEnv(topic, schema, { HTTP_PORT: String(port), LOG_LEVEL: "info", NODE_OPTIONS: "" }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.stdout.on("data", (b: Buffer) => (out += b));
    child.stderr.on("data", (b: Buffer) => (out += b));
    try {
      const base = `http://127.0.0.1:${port}`;
      await until("the service to listen", async () => ((await fetch(`${base}/healthz`)).ok ? true : undefined));
      const publisher = await EventPublisher.connect({ brokers: kafkaBrokers(), topic });
      await publisher.publishOne(
        event(
          ev.userHumanAdded,
          { instanceId: "strip-i1", aggregateId: "u1", aggregateSequence: 1, resourceOwner: "o1" },
          {
            userName: "ada",
            firstName: "Ada",
            lastName: "Lovelace",
            email: "ada@example.com",
            changeRequired: false,
          },
        ),
      );
      await publisher.close();
      const headers = { authorization: `Bearer ${await signToken({ instanceId: "strip-i1" })}` };
      const user = await until("the user to be projected", async () => {
        const res = await fetch(`${base}/v1/users/u1`, { headers });
        return res.ok ? ((await res.json()) as { username: string }) : undefined;
      });
      expect(user.username).toBe("ada");
      expect(out).not.toMatch(/ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX|ERR_UNKNOWN_FILE_EXTENSION/);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited, out.slice(-2000)).toBe(0);
  });
});
