// Open-loop load at a fixed rate, evenly paced: request i is due at start + i / rate, whatever happened
// to earlier ones, and its latency counts from that due time (a late send or a wait for a free socket
// is the server's latency too: no coordinated omission). autocannon cannot pace: its rate is a quota per
// second per connection, sent back to back, so "2,000 req/s" is a burst each second (autocannon#174).
// Runs as its own process so the bench's heap does not pause it:
//   node --import tsx bench/lib/paced-load.ts <spec.json>   → one JSON line on stdout

import { readFileSync } from "node:fs";
import http from "node:http";

export interface PacedSpec {
  url: string;
  rate: number;
  seconds: number;
  /** Paced like the rest but not recorded: sockets opened, both processes' code warm. */
  warmupSeconds: number;
  /** Keep-alive sockets; a request waits for a free one (and that wait is part of its latency). */
  sockets: number;
  requests: { path: string; headers: Record<string, string> }[];
}

export interface PacedResult {
  /** Measured requests sent (after the warm-up). */
  sent: number;
  ok: number;
  errors: number;
  /** Latencies of the 200 responses, ms, sorted. */
  latenciesMs: number[];
  seconds: number;
  cpuMs: number;
}

async function run(spec: PacedSpec): Promise<PacedResult> {
  const target = new URL(spec.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.sockets });
  const latencies: number[] = [];
  let errors = 0;
  let sent = 0;
  const warmup = Math.round(spec.rate * spec.warmupSeconds);
  const total = warmup + Math.round(spec.rate * spec.seconds);
  let cpu0 = process.cpuUsage();
  const start = performance.now();
  let measuredFrom = start;
  const pending = new Set<Promise<void>>();
  const send = (i: number) => {
    const due = start + (i * 1000) / spec.rate;
    const r = spec.requests[i % spec.requests.length] as PacedSpec["requests"][number];
    const p = new Promise<void>((resolve) => {
      const measured = i >= warmup;
      const req = http.get({ host: target.hostname, port: target.port, path: r.path, headers: r.headers, agent }, (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode !== 200) errors += measured ? 1 : 0;
          else if (measured) latencies.push(performance.now() - due);
          resolve();
        });
      });
      req.setTimeout(10_000, () => req.destroy(new Error("timeout")));
      req.on("error", () => {
        errors += measured ? 1 : 0;
        resolve();
      });
    });
    pending.add(p);
    void p.then(() => pending.delete(p));
  };
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * spec.rate) / 1000) + 1);
    while (sent < due) {
      if (sent === warmup) {
        measuredFrom = start + (warmup * 1000) / spec.rate;
        cpu0 = process.cpuUsage();
      }
      send(sent++);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  const seconds = (performance.now() - measuredFrom) / 1000;
  const cpu = process.cpuUsage(cpu0);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { sent: sent - warmup, ok: latencies.length, errors, latenciesMs: latencies, seconds, cpuMs: (cpu.user + cpu.system) / 1000 };
}

if (process.argv[1]?.endsWith("paced-load.ts")) {
  const spec = JSON.parse(readFileSync(process.argv[2] as string, "utf8")) as PacedSpec;
  process.stdout.write(`${JSON.stringify(await run(spec))}\n`);
}
