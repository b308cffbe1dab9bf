// Query API latency at fixed request rates (evenly paced open loop, and autocannon `overallRate`) against a
// users service started as an API-only child process (PROJECTOR_ENABLED=false, JWT auth, rate limiting
// off) on the benchmark's data.

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import autocannon from "autocannon";
import { signToken } from "../../test/support/service.ts";
import { cfg, log, round, sleep, withClient } from "./common.ts";
import { BackendCpu, cpuMs } from "./cpu.ts";
import type { PacedResult, PacedSpec } from "./paced-load.ts";
import { type ServiceProcess, serviceEnv, spawnService } from "./proc.ts";

export interface LoadResult {
  targetRate: number;
  achievedRate: number;
  requests: number;
  errors: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU per request: the API process, its PostgreSQL backends, and the load generator. */
  cpuPerRequestMs?: { api: number; postgres: number; loadGenerator: number };
  /** CPU of a load generator running in its own process (else it is this process's). */
  generatorCpuMs?: number;
}

/** Measures CPU of the API process, its PostgreSQL backends and this process around `fn`. */
async function withCpu(apiPid: number, backendApp: string, fn: () => Promise<LoadResult>): Promise<LoadResult> {
  const backends = new BackendCpu();
  const pids = () =>
    withClient(async (c) => (await c.query("SELECT pid FROM pg_stat_activity WHERE application_name = $1", [backendApp])).rows.map((r) => Number(r.pid)));
  backends.note(await pids());
  const api0 = cpuMs(apiPid) ?? 0;
  const self0 = process.cpuUsage();
  const r = await fn();
  const self = process.cpuUsage(self0);
  const api = (cpuMs(apiPid) ?? 0) - api0;
  backends.note(await pids());
  const per = (ms: number) => round(ms / Math.max(1, r.requests), 3);
  const generator = r.generatorCpuMs ?? (self.user + self.system) / 1000;
  return { ...r, cpuPerRequestMs: { api: per(api), postgres: per(backends.totalMs()), loadGenerator: per(generator) } };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

/** The figures of one load run from the latencies (ms, sorted) of its 200 responses. */
function summary(rate: number, sorted: number[], seconds: number, errors: number): LoadResult {
  return {
    targetRate: rate,
    achievedRate: round(sorted.length / seconds),
    requests: sorted.length,
    errors,
    p50Ms: round(percentile(sorted, 50), 2),
    p90Ms: round(percentile(sorted, 90), 2),
    p99Ms: round(percentile(sorted, 99), 2),
    maxMs: round(sorted.at(-1) ?? Number.NaN, 2),
  };
}

type NextRequest = () => { path: string; headers: Record<string, string> };

/** Evenly paced open-loop load (bench/lib/paced-load.ts, its own process), summarised like autocannon's. */
async function paced(url: string, rate: number, seconds: number, next: NextRequest, distinct: number): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), "bench-paced-"));
  try {
    const spec: PacedSpec = { url, rate, seconds, warmupSeconds: 3, sockets: 64, requests: Array.from({ length: distinct }, next) };
    writeFileSync(join(dir, "spec.json"), JSON.stringify(spec));
    const script = fileURLToPath(new URL("./paced-load.ts", import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", script, join(dir, "spec.json")], { maxBuffer: 256 * 1024 * 1024 });
    const r = JSON.parse(stdout) as PacedResult;
    return { ...summary(rate, r.latenciesMs, r.seconds, r.errors), generatorCpuMs: r.cpuMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function load(url: string, rate: number, seconds: number, next: NextRequest): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const instance = autocannon({
    url,
    connections: cfg.apiConnections,
    duration: seconds,
    overallRate: rate,
    // autocannon 8's correction divides a per-second rate as if it were per millisecond (expected interval
    // ceil(1/rate) = 1 ms) and would add synthetic samples; we record the measured latencies instead.
    ignoreCoordinatedOmission: true,
    timeout: 10,
    requests: [
      {
        method: "GET",
        setupRequest: (req) => {
          const r = next();
          req.path = r.path;
          req.headers = r.headers;
          return req;
        },
      },
    ],
  });
  instance.on("response", (_client, status, _bytes, ms) => {
    if (status === 200) latencies.push(ms);
    else errors++;
  });
  const result = await instance;
  latencies.sort((a, b) => a - b);
  return summary(rate, latencies, result.duration, errors + result.errors + result.timeouts);
}

export interface ApiResult {
  /** autocannon: each connection sends its per-second quota back to back (bursts). */
  getById: LoadResult;
  list: LoadResult;
  /** The same rates evenly paced, open loop (bench/lib/paced-load.ts). */
  getByIdPaced: LoadResult;
  listPaced: LoadResult;
  listPath: string;
  sampleUsers: number;
}

export async function apiBenchmark(schema: string, topic: string): Promise<ApiResult> {
  const sample = await withClient(async (c) => {
    const { rows } = await c.query(`SELECT instance_id, id, resource_owner FROM ${schema}.users ORDER BY md5(instance_id || id) LIMIT 5000`);
    return rows as { instance_id: string; id: string; resource_owner: string }[];
  });
  if (sample.length === 0) throw new Error(`no users in ${schema}`);
  const tokens = new Map<string, string>();
  for (const u of sample) {
    if (!tokens.has(u.instance_id)) tokens.set(u.instance_id, await signToken({ instanceId: u.instance_id, expiresIn: "1h" }));
  }
  const auth = (instanceId: string) => ({ authorization: `Bearer ${tokens.get(instanceId)}` });
  const listPath = (org: string) => `/v1/users?orgId=${encodeURIComponent(org)}&state=active&type=human&sort=username&limit=20`;

  const port = await freePort();
  // BENCH_CPU_PROF=<dir>: the API process writes a V8 CPU profile to <dir>/api (bench/tools/cpuprofile-summary.ts).
  const prof = process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}/api`] : [];
  const svc: ServiceProcess = spawnService(
    serviceEnv(topic, schema, { PROJECTOR_ENABLED: "false", API_ENABLED: "true", HTTP_PORT: String(port), RATE_LIMIT_PER_SECOND: "0" }),
    // An API-only replica as README "Scaling" recommends it: a larger young generation (fewer scavenges,
    // each a pause of every request in flight). Projector processes keep V8's default (measured faster).
    ["--max-semi-space-size=64", ...prof, "services/users/src/main.ts"],
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      const ok = await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 600) throw new Error(`API did not start:\n${svc.output()}`);
      await sleep(100);
    }
    const first = sample[0] as (typeof sample)[number];
    for (const path of [`/v1/users/${first.id}`, listPath(first.resource_owner)]) {
      const r = await fetch(`${url}${path}`, { headers: auth(first.instance_id) });
      if (r.status !== 200) throw new Error(`GET ${path} answered ${r.status}: ${await r.text()}`);
    }
    let i = 0;
    const nextGet = () => {
      const u = sample[i++ % sample.length] as (typeof sample)[number];
      return { path: `/v1/users/${encodeURIComponent(u.id)}`, headers: auth(u.instance_id) };
    };
    let j = 0;
    const nextList = () => {
      const u = sample[j++ % sample.length] as (typeof sample)[number];
      return { path: listPath(u.resource_owner), headers: auth(u.instance_id) };
    };
    log(`  warm-up (3 s get-by-id, 3 s list)`);
    await load(url, cfg.getRate, 3, nextGet);
    await load(url, cfg.listRate, 3, nextList);
    const app = `api:${schema}`.slice(0, 63);
    log(`  get-by-id at ${cfg.getRate} req/s for ${cfg.apiSeconds} s`);
    const getById = await withCpu(svc.pid, app, () => load(url, cfg.getRate, cfg.apiSeconds, nextGet));
    log(`  list at ${cfg.listRate} req/s for ${cfg.apiSeconds} s`);
    const list = await withCpu(svc.pid, app, () => load(url, cfg.listRate, cfg.apiSeconds, nextList));
    log(`  evenly paced: get-by-id at ${cfg.getRate} req/s, then list at ${cfg.listRate} req/s, ${cfg.apiSeconds} s each`);
    const getByIdPaced = await withCpu(svc.pid, app, () => paced(url, cfg.getRate, cfg.apiSeconds, nextGet, sample.length));
    const listPaced = await withCpu(svc.pid, app, () => paced(url, cfg.listRate, cfg.apiSeconds, nextList, sample.length));
    return { getById, list, getByIdPaced, listPaced, listPath: listPath("<org>"), sampleUsers: sample.length };
  } finally {
    await svc.stop();
  }
}
