// A three-node Kafka cluster of one test file's own (infra/kafka.sh cluster-*): its own run dir under the
// repo's .kafka-run-* and its own ports, so the shared broker and the other fault tests' brokers are never
// touched. Nodes are killed and stopped by PID, and only PIDs whose command line names this run dir.
import { execFile } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { sleep } from "./fault-support.ts";

const exec = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
export const CLUSTER_NODES = [1, 2, 3] as const;

/** True when something accepts connections on 127.0.0.1:port. */
export const portInUse = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(true); // no refusal: something holds it
    });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

export class TestCluster {
  readonly runDir: string;
  /** Brokers on basePort..basePort+2, controllers on basePort+3..basePort+5 (as infra/kafka.sh lays them out). */
  readonly ports: number[];
  brokers: string[] = [];
  /** Every PID a node of this cluster ever had: all of them are made sure to be gone in destroy(). */
  private readonly seen = new Set<number>();

  constructor(name: string, basePort: number) {
    this.runDir = `${root}.kafka-run-${name}`;
    this.ports = Array.from({ length: 6 }, (_, i) => basePort + i);
  }

  private async script(command: string) {
    const env = { ...process.env, KAFKA_CLUSTER_RUN_DIR: this.runDir, KAFKA_CLUSTER_BASE_PORT: String(this.ports[0]) };
    const { stdout } = await exec("bash", ["infra/kafka.sh", command], { cwd: root, env, timeout: 180_000 });
    return stdout;
  }

  /** PID of node n's JVM while it runs, else undefined. */
  pid(node: number): number | undefined {
    let pid: number;
    try {
      pid = Number(readFileSync(`${this.runDir}/node-${node}/kafka.pid`, "utf8").trim());
    } catch {
      return undefined;
    }
    return this.ours(pid) ? pid : undefined;
  }

  /** Alive and a Kafka JVM of this run dir (a recycled PID or another broker is never touched). */
  private ours(pid: number): boolean {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      return cmd.includes("kafka.Kafka") && cmd.includes(`${this.runDir}/`);
    } catch {
      return false;
    }
  }

  private record() {
    for (const n of CLUSTER_NODES) {
      const pid = this.pid(n);
      if (pid) this.seen.add(pid);
    }
  }

  /** First start: removes an interrupted run's leftovers, checks the ports, formats and starts all nodes. */
  async create(): Promise<string[]> {
    await this.script("cluster-reset");
    for (const p of this.ports) if (await portInUse(p)) throw new Error(`port ${p} is in use: the cluster test needs ${this.ports.join(",")}`);
    return this.start();
  }

  /** Starts every node that is not running (after a kill: restarts it) and waits until each is ready. */
  async start(): Promise<string[]> {
    const m = /^KAFKA_BROKERS=(.+)$/m.exec(await this.script("cluster-start"));
    if (!m) throw new Error("infra/kafka.sh cluster-start printed no KAFKA_BROKERS= line");
    this.record();
    this.brokers = (m[1] as string).trim().split(",");
    return this.brokers;
  }

  /** SIGKILLs node n and waits until its process is gone; returns the PID it had. */
  async kill(node: number): Promise<number> {
    const pid = this.pid(node);
    if (!pid) throw new Error(`cluster node ${node} is not running`);
    process.kill(pid, "SIGKILL");
    for (let i = 0; this.ours(pid); i++) {
      if (i > 250) throw new Error(`cluster node ${node} (pid ${pid}) still alive 5 s after SIGKILL`);
      await sleep(20);
    }
    return pid;
  }

  /** Kills every node this cluster ever had (whatever state the test left) and deletes the run dir. */
  async destroy(): Promise<void> {
    this.record();
    for (const pid of this.seen) if (this.ours(pid)) process.kill(pid, "SIGKILL");
    const deadline = Date.now() + 10_000;
    while ([...this.seen].some((pid) => this.ours(pid))) {
      if (Date.now() > deadline) throw new Error(`cluster nodes still alive after SIGKILL: ${[...this.seen].filter((p) => this.ours(p)).join(",")}`);
      await sleep(50);
    }
    rmSync(this.runDir, { recursive: true, force: true });
  }
}
