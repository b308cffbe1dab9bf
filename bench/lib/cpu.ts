// CPU time of processes from /proc (contention on a shared machine changes wall time, much less CPU time).
import { execSync } from "node:child_process";
import { readFileSync } from "node:fs";

const CLK_TCK = (() => {
  try {
    return Number(execSync("getconf CLK_TCK").toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system) a process has used so far, in ms; undefined once it is gone. */
export function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** CPU used by PostgreSQL backends, tracked by pid from their first to their last sighting. */
export class BackendCpu {
  private readonly seen = new Map<number, { first: number; last: number }>();

  note(pids: number[]) {
    for (const pid of pids) {
      const ms = cpuMs(pid);
      if (ms === undefined) continue;
      const s = this.seen.get(pid);
      if (s) s.last = ms;
      else this.seen.set(pid, { first: ms, last: ms });
    }
  }

  /** Forget what was used so far (start of a measured window). */
  reset() {
    for (const s of this.seen.values()) s.first = s.last;
  }

  totalMs(): number {
    let t = 0;
    for (const s of this.seen.values()) t += s.last - s.first;
    return t;
  }
}

/** The local broker started by infra/kafka.sh (its pid file), when there is one: its CPU counts too. */
export function brokerPid(): number | undefined {
  const runDir = process.env.KAFKA_RUN_DIR ?? new URL("../../.kafka-run", import.meta.url).pathname;
  try {
    const pid = Number(readFileSync(`${runDir}/kafka.pid`, "utf8").trim());
    return Number.isInteger(pid) && cpuMs(pid) !== undefined ? pid : undefined;
  } catch {
    return undefined;
  }
}
