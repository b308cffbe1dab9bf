// Step 3: a full rebuild as an operator runs it (`idp-admin rebuild`): the users service, caught up from
// step 1 and serving queries, rebuilds into a shadow schema from offset 0 while its live projection keeps
// consuming, then switches. The figure is the service's own startedAt → finishedAt of the rebuild.
import { signToken } from "../../test/support/service.ts";
import { freePort } from "./api.ts";
import { log, round, sleep, withClient } from "./common.ts";
import { RssSampler, serviceEnv, spawnService } from "./proc.ts";

export interface RebuildResult {
  seconds: number;
  eventsPerSecond: number;
  oldSchema: string | undefined;
  /** get-by-id requests made during the rebuild (one per progress poll), and how many did not answer 200. */
  queries: { sent: number; failed: number };
  rss: ReturnType<RssSampler["summary"]>;
}

interface Status {
  state: "running" | "switching" | "done" | "failed";
  startedAt: string;
  finishedAt?: string;
  oldSchema?: string;
  error?: string;
  progress: { applied: number; read: number; target: number; ratio: number; eventsPerSecond: number; etaSeconds: number | null };
}

export async function operatedRebuild(schema: string, topic: string, events: number): Promise<RebuildResult> {
  const port = await freePort();
  const svc = spawnService(serviceEnv(topic, schema, { HTTP_PORT: String(port), RATE_LIMIT_PER_SECOND: "0" }));
  const rss = new RssSampler(svc.pid).start();
  const url = `http://127.0.0.1:${port}`;
  const admin = {
    authorization: `Bearer ${await signToken({ instanceId: "", scope: "projections:admin", expiresIn: "1h" })}`,
    "content-type": "application/json",
  };
  const user = await withClient(
    async (c) => (await c.query(`SELECT instance_id, id FROM ${schema}.users ORDER BY id LIMIT 1`)).rows[0] as { instance_id: string; id: string },
  );
  const reader = { authorization: `Bearer ${await signToken({ instanceId: user.instance_id, expiresIn: "1h" })}` };
  try {
    for (
      let i = 0;
      !(await fetch(`${url}/readyz`).then(
        (r) => r.ok,
        () => false,
      ));
      i++
    ) {
      if (i > 1200) throw new Error(`service not ready:\n${svc.output()}`);
      await sleep(100);
    }
    const started = await fetch(`${url}/admin/rebuild`, { method: "POST", headers: admin, body: "{}" });
    if (started.status !== 202) throw new Error(`POST /admin/rebuild answered ${started.status}: ${await started.text()}`);
    const queries = { sent: 0, failed: 0 };
    let status: Status;
    let lastLog = 0;
    for (;;) {
      await sleep(500);
      status = (await (await fetch(`${url}/admin/rebuild`, { headers: admin })).json()) as Status;
      queries.sent++;
      const q = await fetch(`${url}/v1/users/${encodeURIComponent(user.id)}`, { headers: reader }).then(
        (r) => r.status,
        () => 0,
      );
      if (q !== 200) queries.failed++;
      if (status.state === "done" || status.state === "failed") break;
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        log(
          `  ${status.state}: ${status.progress.applied.toLocaleString("en")}/${status.progress.target.toLocaleString("en")} committed, ${status.progress.read.toLocaleString("en")} read (${status.progress.eventsPerSecond.toLocaleString("en")} events/s)`,
        );
      }
    }
    if (status.state === "failed") throw new Error(`rebuild failed: ${status.error}`);
    const seconds = (Date.parse(status.finishedAt ?? "") - Date.parse(status.startedAt)) / 1000;
    return { seconds: round(seconds, 1), eventsPerSecond: Math.round(events / seconds), oldSchema: status.oldSchema, queries, rss: rss.summary() };
  } finally {
    rss.stop();
    await svc.stop();
  }
}
