// A users service as a child process (`node --import tsx services/users/src/main.ts`), so its RSS is its
// own; RSS is sampled from /proc/<pid>/status every second.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { TEST_AUDIENCE, TEST_ISSUER, TEST_JWT_SECRET } from "../../test/support/service.ts";
import { cfg, now } from "./common.ts";
import { cpuMs } from "./cpu.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export function serviceEnv(topic: string, schema: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    ...(process.env as Record<string, string>),
    KAFKA_BROKERS: cfg.brokers.join(","),
    DATABASE_URL: cfg.databaseUrl,
    DB_SCHEMA: schema,
    TOPICS: topic,
    GROUP_ID: `bench_${schema}`,
    TOPIC_PARTITIONS: String(cfg.partitions),
    PARTITIONS_CONCURRENCY: String(cfg.concurrency),
    HTTP_PORT: "0",
    AUTH_MODE: "jwt",
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    AUTH_AUDIENCE: TEST_AUDIENCE,
    AUTH_ISSUER: TEST_ISSUER,
    LOG_LEVEL: "warn",
    KAFKA_SESSION_TIMEOUT_MS: "30000",
    ...overrides,
  };
}

export function rssMiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

export class RssSampler {
  readonly samples: { t: number; mib: number; cpuMs: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly t0 = now();

  private readonly pid: number;

  constructor(pid: number) {
    this.pid = pid;
  }

  start() {
    const take = () => {
      const mib = rssMiB(this.pid);
      const cpu = cpuMs(this.pid);
      if (mib !== undefined) this.samples.push({ t: Math.round((now() - this.t0) / 100) / 10, mib, cpuMs: cpu ?? Number.NaN });
    };
    take();
    this.timer = setInterval(take, 1000);
    return this;
  }

  stop() {
    clearInterval(this.timer);
  }

  /** min/max/last over the samples taken between two instants (relative to `start`, in ms of `now()`). */
  summary(fromAbs?: number, toAbs?: number) {
    const from = fromAbs === undefined ? -1 : (fromAbs - this.t0) / 1000;
    const to = toAbs === undefined ? Number.POSITIVE_INFINITY : (toAbs - this.t0) / 1000;
    const window = this.samples.filter((s) => s.t >= from && s.t <= to + 1);
    const w = window.length ? window : this.samples;
    const xs = w.map((s) => s.mib);
    const cpu = (w.at(-1)?.cpuMs ?? 0) - (w[0]?.cpuMs ?? 0);
    const wall = ((w.at(-1)?.t ?? 0) - (w[0]?.t ?? 0)) * 1000;
    return {
      minMiB: Math.min(...xs),
      maxMiB: Math.max(...xs),
      lastMiB: xs.at(-1) ?? 0,
      samples: xs.length,
      cpuMs: Math.round(cpu),
      cpuWallMs: Math.round(wall),
    };
  }
}

export interface ServiceProcess {
  child: ChildProcess;
  pid: number;
  startedAt: number;
  output(): string;
  /** SIGTERM (graceful: drain, commit, leave the group) and wait for the exit. */
  stop(): Promise<number | null>;
}

export function spawnService(env: Record<string, string>, args: string[] = ["services/users/src/main.ts"]): ServiceProcess {
  const startedAt = now();
  const child = spawn(process.execPath, ["--import", "tsx", ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    tail.push(chunk.toString());
    if (tail.length > 200) tail.splice(0, tail.length - 200);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  if (child.pid === undefined) throw new Error("could not spawn the service");
  return {
    child,
    pid: child.pid,
    startedAt,
    output: () => tail.join(""),
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
