// Fairness of the per-instance rate limit (a benchmark, not a test): tenant B sends its usual rate of
// get-by-id requests while tenant A floods at five times its limit. B's latency is measured alone, next
// to the flood with the limit on, and next to the flood with the limit off (what the limit buys).
//   npx tsx bench/fairness.ts
// Env: BENCH_FAIR_LIMIT (req/s per instance, default 100; the burst is the same), BENCH_FAIR_B_RATE
// (default 50), BENCH_FAIR_SECONDS (measured seconds per run, default 30), RATE_LIMIT_STORE (memory or
// redis, default memory). Both load generators are evenly paced open loops in their own processes
// (bench/lib/paced-load.ts); the users service is a child process with its projector on the data.

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { EventPublisher } from "@idp/producer";
import { generateHistory } from "@idp/producer/src/history.ts";
import { KafkaJsAdmin } from "@idp/runtime";
import { signToken } from "../test/support/service.ts";
import { freePort } from "./lib/api.ts";
import { cfg, dropSchema, log, round, sleep, stamp, withClient } from "./lib/common.ts";
import type { PacedResult, PacedSpec } from "./lib/paced-load.ts";
import { serviceEnv, spawnService } from "./lib/proc.ts";
import { deleteTopic } from "./lib/report.ts";

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const limit = num("BENCH_FAIR_LIMIT", 100);
const bRate = num("BENCH_FAIR_B_RATE", 50);
const seconds = num("BENCH_FAIR_SECONDS", 30);
const aRate = 5 * limit;
const store = process.env.RATE_LIMIT_STORE ?? "memory";
const topic = `bench.fair.${stamp}`;
const schema = `bench_fair_${stamp}`;
const A = "fair-inst-1";
const B = "fair-inst-2";

interface RunFigures {
  sent: number;
  ok: number;
  refused: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const pct = (sorted: number[], p: number) => round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN, 2);

async function pacedLoad(spec: PacedSpec): Promise<RunFigures> {
  const dir = mkdtempSync(join(tmpdir(), "bench-fair-"));
  try {
    writeFileSync(join(dir, "spec.json"), JSON.stringify(spec));
    const script = fileURLToPath(new URL("./lib/paced-load.ts", import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", script, join(dir, "spec.json")], { maxBuffer: 64 * 1024 * 1024 });
    const r = JSON.parse(stdout) as PacedResult;
    return { sent: r.sent, ok: r.ok, refused: r.errors, p50Ms: pct(r.latenciesMs, 50), p99Ms: pct(r.latenciesMs, 99), maxMs: pct(r.latenciesMs, 100) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const history = generateHistory({ seed: 5, instances: 2, orgsPerInstance: 2, usersPerOrg: 100, eventsPerUser: 4, prefix: "fair-" });
const admin = new KafkaJsAdmin({ brokers: cfg.brokers, clientId: "bench-fair-admin" });
await admin.ensureTopic(topic, cfg.partitions);
const publisher = await EventPublisher.connect({ brokers: cfg.brokers, topic });
await publisher.publish(history);
await publisher.close();

const requestsOf = async (instanceId: string) => {
  const ids = await withClient(async (c) =>
    (await c.query(`SELECT id FROM ${schema}.users WHERE instance_id = $1 ORDER BY id`, [instanceId])).rows.map((r) => r.id as string),
  );
  if (ids.length === 0) throw new Error(`no users of ${instanceId} in ${schema}`);
  const headers = { authorization: `Bearer ${await signToken({ instanceId, expiresIn: "1h" })}` };
  return ids.map((id) => ({ path: `/v1/users/${encodeURIComponent(id)}`, headers }));
};

/** Starts the service with the given per-instance limit (0: none) and runs B, with or without A's flood. */
async function scenario(perSecond: number, withFlood: boolean) {
  const port = await freePort();
  const svc = spawnService(
    serviceEnv(topic, schema, {
      HTTP_PORT: String(port),
      RATE_LIMIT_PER_SECOND: String(perSecond),
      RATE_LIMIT_BURST: String(Math.max(1, perSecond)),
      RATE_LIMIT_STORE: store,
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    for (
      let i = 0;
      !(await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      ));
      i++
    ) {
      if (i > 600) throw new Error(`service did not start:\n${svc.output()}`);
      await sleep(100);
    }
    const expected = new Set(history.map((e) => `${e.instanceId}/${e.aggregateId}`)).size;
    for (let i = 0; ; i++) {
      const n = await withClient(async (c) => (await c.query(`SELECT count(*)::int AS n FROM ${schema}.users`)).rows[0].n as number).catch(() => 0);
      if (n >= expected * 0.9) break; // the history removes some users and adds org rows: most is enough
      if (i > 600) throw new Error(`projector did not catch up (${n} users):\n${svc.output()}`);
      await sleep(100);
    }
    const base = { url, seconds, warmupSeconds: 3, sockets: 64 };
    const [b, a] = await Promise.all([
      pacedLoad({ ...base, rate: bRate, requests: await requestsOf(B) }),
      withFlood ? pacedLoad({ ...base, rate: aRate, requests: await requestsOf(A) }) : Promise.resolve(undefined),
    ]);
    return { b, a };
  } finally {
    await svc.stop();
  }
}

const loadBefore = loadavg()[0] ?? 0;
log(`B at ${bRate} req/s alone, limit ${limit}/s per instance (${store})`);
const alone = await scenario(limit, false);
log(`B at ${bRate} req/s while A floods at ${aRate} req/s, limit ${limit}/s`);
const limited = await scenario(limit, true);
log(`B at ${bRate} req/s while A floods at ${aRate} req/s, no limit`);
const unlimited = await scenario(0, true);

await admin.close();
if (!cfg.keep) {
  await deleteTopic(topic).catch((err) => log(`could not delete ${topic}: ${(err as Error).message}`));
  await dropSchema(schema);
}

const result = {
  config: { limitPerSecond: limit, burst: limit, bRate, aRate, seconds, store },
  // The machine is shared: a high load average means other work is in the tails too.
  loadAverage1m: { before: round(loadBefore, 2), after: round(loadavg()[0] ?? 0, 2) },
  bAlone: alone.b,
  bWithFloodLimited: limited.b,
  aFloodLimited: limited.a,
  bWithFloodUnlimited: unlimited.b,
  aFloodUnlimited: unlimited.a,
  ratioP99: round(limited.b.p99Ms / alone.b.p99Ms, 2),
};
writeFileSync(fileURLToPath(new URL("./results/fairness.json", import.meta.url)), `${JSON.stringify(result, null, 2)}\n`);
const row = (name: string, r: RunFigures | undefined) => (r ? `| ${name} | ${r.sent} | ${r.ok} | ${r.refused} | ${r.p50Ms} | ${r.p99Ms} | ${r.maxMs} |` : "");
console.log(
  [
    `Per-instance limit ${limit} req/s (burst ${limit}, store ${store}); B at ${bRate} req/s; A at ${aRate} req/s; ${seconds} s measured per run.`,
    "",
    "| run | sent | 200 | not 200 | p50 ms | p99 ms | max ms |",
    "|---|---|---|---|---|---|---|",
    row("B alone", alone.b),
    row("B, A flooding, limit on", limited.b),
    row("A flooding, limit on", limited.a),
    row("B, A flooding, no limit", unlimited.b),
    row("A flooding, no limit", unlimited.a),
    "",
    `B's p99 next to the flood / alone: ${result.ratioP99}× (the target is ≤ 2×); load average ${result.loadAverage1m.before} → ${result.loadAverage1m.after} on ${cpus().length} cores`,
  ].join("\n"),
);
process.exit(0);
