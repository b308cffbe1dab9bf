// Freshness: publish → visible. A users service (projector and API in one child process, fresh topic and
// schema) runs under a steady background stream at each rate; meanwhile probe events are published one by
// one at a fixed pace, and each probe's latency runs from the start of its publish to the 200 of a
// `GET /v1/users/<id>` sent with the position token the publish returned (`X-Min-Position`): the
// read-your-writes path a client uses. Reports p50/p99/max per rate, and how much of it the publish
// took (until the broker acknowledged the probe); the targets are p50 ≤ 15 ms and
// p99 ≤ 50 ms at 200 and at 2,000 events/s.

import * as ev from "@idp/events";
import { EventPublisher, event } from "@idp/producer";
import { generateHistory } from "@idp/producer/src/history.ts";
import { KafkaJsAdmin } from "@idp/runtime";
import { signToken } from "../../test/support/service.ts";
import { freePort } from "./api.ts";
import { cfg, dropSchema, log, round, sleep, stamp } from "./common.ts";
import { serviceEnv, spawnService } from "./proc.ts";
import { deleteTopic } from "./report.ts";

export interface FreshnessRun {
  /** Events per second published in total (background + probes), as targeted and as achieved. */
  targetRate: number;
  achievedRate: number;
  probes: number;
  /** Probes not answered 200 within the read-your-writes deadline. */
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Of the latency: until the broker acknowledged the probe (the producer's share; the rest is consume, apply, commit, answer). */
  publishP50Ms: number;
  publishP99Ms: number;
  /** The service's own batches over the window (projector_batch_duration_seconds): how many, and their mean apply time. */
  batches: number;
  batchMeanMs: number;
}

/** Count and sum of the service's batch-duration histogram (one transaction per batch on the caught-up path). */
async function batchTotals(url: string): Promise<{ count: number; sum: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} ([0-9.e+-]+)$`, "m").exec(text)?.[1] ?? Number.NaN);
  return { count: value("projector_batch_duration_seconds_count"), sum: value("projector_batch_duration_seconds_sum") };
}

const PROBES_PER_SECOND = 50;
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

export async function freshness(rates: number[], seconds: number): Promise<FreshnessRun[]> {
  const topic = `bench.fresh.${stamp}`;
  const schema = `bench_fresh_${stamp}`;
  const admin = new KafkaJsAdmin({ brokers: cfg.brokers, clientId: "bench-fresh-admin" });
  await admin.ensureTopic(topic, cfg.partitions);
  const port = await freePort();
  const svc = spawnService(serviceEnv(topic, schema, { HTTP_PORT: String(port), RATE_LIMIT_PER_SECOND: "0", READ_YOUR_WRITES_TIMEOUT_MS: "2000" }));
  const url = `http://127.0.0.1:${port}`;
  const background = await EventPublisher.connect({ brokers: cfg.brokers, topic, clientId: "bench-fresh-load" });
  const prober = await EventPublisher.connect({ brokers: cfg.brokers, topic, clientId: "bench-fresh-probe" });
  const out: FreshnessRun[] = [];
  try {
    for (let i = 0; ; i++) {
      if (
        await fetch(`${url}/readyz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (i > 600) throw new Error(`service did not become ready:\n${svc.output()}`);
      await sleep(100);
    }
    for (const rate of rates) {
      const instance = `fresh-${rate}`;
      const token = await signToken({ instanceId: instance, expiresIn: "1h" });
      const loadRate = Math.max(0, rate - PROBES_PER_SECOND);
      // Background: a realistic mix of user events (other instances), in chunks every 10 ms, in order.
      const history = generateHistory({
        seed: rate,
        instances: 10,
        orgsPerInstance: 3,
        usersPerOrg: Math.ceil((loadRate * (seconds + 2)) / 240),
        eventsPerUser: 8,
        prefix: `fresh${rate}-`,
      });
      const warmupMs = 1000;
      const t0 = performance.now();
      let batchesAtStart: Promise<{ count: number; sum: number }> | undefined;
      setTimeout(() => {
        batchesAtStart = batchTotals(url);
      }, warmupMs).unref();
      const end = t0 + warmupMs + seconds * 1000;
      let published = 0;
      let publishedInWindow = 0;
      const loading = (async () => {
        let k = 0;
        for (let tick = 0; performance.now() < end; tick++) {
          const due = Math.round(((tick + 1) * 10 * loadRate) / 1000) - k;
          const chunk = history.slice(k, k + due);
          k += chunk.length;
          if (chunk.length) await background.publish(chunk);
          published += chunk.length;
          if (performance.now() > t0 + warmupMs) publishedInWindow += chunk.length;
          const wait = t0 + (tick + 1) * 10 - performance.now();
          if (wait > 0) await sleep(wait);
        }
      })();
      // Probes: one new user each, due every 1/PROBES_PER_SECOND s whatever happened to earlier ones.
      const latencies: number[] = [];
      const publishLatencies: number[] = [];
      let errors = 0;
      const probes: Promise<void>[] = [];
      for (let n = 0; ; n++) {
        const due = t0 + (n * 1000) / PROBES_PER_SECOND;
        if (due >= end) break;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        const measured = due >= t0 + warmupMs;
        probes.push(
          (async () => {
            const id = `p-${n}`;
            const start = performance.now();
            const position = await prober.publishOne(
              event(
                ev.userHumanAdded,
                { instanceId: instance, aggregateId: id, aggregateSequence: 1, resourceOwner: "org", creator: "bench" },
                { userName: `probe${n}`, firstName: "P", lastName: "R", email: `p${n}@x.example`, changeRequired: false },
              ),
            );
            const acknowledged = performance.now();
            const res = await fetch(`${url}/v1/users/${id}`, { headers: { authorization: `Bearer ${token}`, "x-min-position": position } });
            await res.arrayBuffer();
            if (!measured) return;
            if (res.status === 200) {
              latencies.push(performance.now() - start);
              publishLatencies.push(acknowledged - start);
            } else errors++;
          })().catch(() => {
            if (measured) errors++;
          }),
        );
      }
      await Promise.all([loading, ...probes]);
      const [before, after] = await Promise.all([batchesAtStart ?? { count: 0, sum: 0 }, batchTotals(url)]);
      const batches = after.count - before.count;
      latencies.sort((a, b) => a - b);
      publishLatencies.sort((a, b) => a - b);
      const run: FreshnessRun = {
        targetRate: rate,
        achievedRate: round((publishedInWindow + latencies.length + errors) / seconds),
        probes: latencies.length + errors,
        errors,
        p50Ms: round(percentile(latencies, 50), 2),
        p99Ms: round(percentile(latencies, 99), 2),
        maxMs: round(latencies.at(-1) ?? Number.NaN, 2),
        publishP50Ms: round(percentile(publishLatencies, 50), 2),
        publishP99Ms: round(percentile(publishLatencies, 99), 2),
        batches,
        batchMeanMs: round(((after.sum - before.sum) * 1000) / Math.max(1, batches), 2),
      };
      out.push(run);
      log(
        `  ${rate} events/s (achieved ${run.achievedRate}, ${published} background): p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms, max ${run.maxMs} ms, ${errors} not 200; of it publish p50 ${run.publishP50Ms} ms, p99 ${run.publishP99Ms} ms; ${batches} batches, mean apply ${run.batchMeanMs} ms`,
      );
    }
  } finally {
    await Promise.all([background.close(), prober.close()]).catch(() => {});
    const code = await svc.stop();
    if (code !== 0) log(`  freshness: service exited with ${code}\n${svc.output()}`);
    if (!cfg.keep) {
      await dropSchema(schema).catch(() => {});
      await deleteTopic(topic).catch(() => {});
    }
    await admin.close();
  }
  return out;
}
