// `npm run bench`: one run, side by side (see bench/README.md for what each figure means):
//   0. N mixed user events over many instances (generateHistory) published to a fresh topic;
//   1. end-to-end projector throughput (users service as a child process, kafkajs) + its RSS;
//   2. PostgreSQL ceiling for the same final rows (set-based upserts), a naive per-event apply, and the
//      stream floor (fetch + decode every record, no fold; plus the ceiling's write time);
//   3. full rebuild through the admin API (shadow schema from offset 0, catch up, switch);
//   4. query API latency at fixed rates (autocannon) for get-by-id and a filtered list;
//   5. the projector in-process via the Projector class: @platformatic/kafka vs kafkajs adapters;
//   6. freshness: publish → visible through the position token, at two publish rates.
// Results: a table on stdout (markdown), bench/results/latest.json. Sizes: BENCH_* variables (README).

import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { catalog, headersToEnvelope } from "@idp/events";
import { EventPublisher, type EventToPublish, encodeEvent } from "@idp/producer";
import { generateHistory } from "@idp/producer/src/history.ts";
import { KafkaJsAdmin, migrate, type PartitionOffsets, type ProducedRecord, type ProjectedEvent, serviceMigrations } from "@idp/runtime";
import pg from "pg";
import { usersService } from "../services/users/src/index.ts";
import { apiBenchmark } from "./lib/api.ts";
import { cfg, cpuPer1k, dropSchema, fingerprint, log, now, ProgressProbe, round, stamp, tableWrites } from "./lib/common.ts";
import { freshness } from "./lib/freshness.ts";
import { type InProcessResult, inProcessProjector } from "./lib/inprocess.ts";
import { ceiling, naive } from "./lib/postgres.ts";
import { RssSampler, serviceEnv, spawnService } from "./lib/proc.ts";
import { operatedRebuild } from "./lib/rebuild.ts";
import { deleteTopic, markdownTable } from "./lib/report.ts";
import { fetchAndDecode } from "./lib/stream-floor.ts";

const N = cfg.events;
const topic = `bench.users.${stamp}`;
const schema = `bench_users_${stamp}`;
const results: Record<string, unknown> = {
  at: new Date().toISOString(),
  machine: {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memGiB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    loadavgAtStart: os.loadavg().map((x) => round(x, 2)),
  },
  config: { ...cfg, steps: [...cfg.steps], topic, schema },
};
const schemas: string[] = [];

// --- 0. history -------------------------------------------------------------------------------------
log(`generating ${N.toLocaleString("en")} events over ${cfg.instances} instances`);
const orgsPerInstance = 5;
const eventsPerUser = 8; // mean events after creation; ~9.05 events per user in total
let history: EventToPublish[] = [];
for (let factor = 1.05; history.length < N; factor *= 1.2) {
  const usersPerOrg = Math.max(1, Math.ceil((N / (cfg.instances * orgsPerInstance * (eventsPerUser + 1.05))) * factor));
  history = generateHistory({ seed: 7, instances: cfg.instances, orgsPerInstance, usersPerOrg, eventsPerUser, prefix: "b-" });
}
history = history.slice(0, N);
const mix = new Map<string, number>();
for (const e of history) mix.set(e.eventType, (mix.get(e.eventType) ?? 0) + 1);
results.history = {
  events: history.length,
  users: new Set(history.map((e) => e.aggregateId)).size,
  eventTypes: Object.fromEntries([...mix].sort((a, b) => b[1] - a[1])),
};

// Naive sample: every event of the users whose id hashes into 1/k of the space (a representative mix of
// user events, each user complete from its creation), in stream order, decoded exactly like the applier.
const k = Math.max(1, Math.round(N / cfg.naiveEvents));
const hash = (s: string) => {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return Math.abs(h);
};
const naiveSample: ProjectedEvent[] = history
  .filter((e) => e.aggregateId.includes("user-") && hash(e.aggregateId) % k === 0)
  .map((e, i) => decodeLikeTheApplier(encodeEvent(e), i));

function decodeLikeTheApplier(record: ProducedRecord, i: number): ProjectedEvent {
  const envelope = headersToEnvelope(record.headers);
  const payload = catalog.decode(envelope.eventType, envelope.schemaVersion, record.value);
  return { ...envelope, payload, position: { topic, partition: 0, offset: String(i) } };
}

const admin = new KafkaJsAdmin({ brokers: cfg.brokers, clientId: "bench-admin" });
await admin.ensureTopic(topic, cfg.partitions);
log(`publishing to ${topic} (${cfg.partitions} partitions)`);
const publisher = await EventPublisher.connect({ brokers: cfg.brokers, topic });
const t = now();
for (let i = 0; i < history.length; i += 5000) await publisher.publish(history.slice(i, i + 5000));
await publisher.close();
results.publish = { seconds: round((now() - t) / 1000, 1) };
history = []; // the projector runs below must not compete with a large heap here
const ends: PartitionOffsets[] = await admin.partitionOffsets(topic);
results.partitions = ends.map((p) => ({ partition: p.partition, records: Number(p.high) }));
log(`published in ${(results.publish as { seconds: number }).seconds} s; records per partition: ${ends.map((p) => p.high).join(", ")}`);

async function childProjector(label: string) {
  // BENCH_CPU_PROF=<dir>: the projector process writes a V8 CPU profile there (bench/tools/cpuprofile-summary.ts).
  const prof = process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}/${label}`] : [];
  const svc = spawnService(serviceEnv(topic, schema, { API_ENABLED: "false" }), [...prof, "services/users/src/main.ts"]);
  const rss = new RssSampler(svc.pid).start();
  const probe = new ProgressProbe(schema, topic, ends, { pid: svc.pid, backendApp: `projector:${schema}`.slice(0, 63) });
  await probe.open();
  try {
    const r = await probe.waitCaughtUp(30 * 60_000);
    rss.stop();
    const seconds = (r.doneAt - r.firstAt) / 1000;
    return {
      label,
      eventsPerSecond: Math.round((r.total - r.firstConsumed) / seconds),
      seconds: round(seconds, 2),
      secondsFromStart: round((r.doneAt - svc.startedAt) / 1000, 2),
      /** Process start → partitions assigned (node + tsx start-up, migrations, group join). */
      startupSeconds: round((r.firstAt - svc.startedAt) / 1000, 2),
      eventsPerSecondFromStart: Math.round(r.total / ((r.doneAt - svc.startedAt) / 1000)),
      rss: rss.summary(r.firstAt, r.doneAt),
      rssSeries: rss.samples.map((s) => s.mib),
      cpu: cpuPer1k(r),
    };
  } catch (err) {
    throw new Error(`${label}: ${(err as Error).message}\n${svc.output()}`);
  } finally {
    rss.stop();
    const code = await svc.stop();
    await probe.close();
    if (code !== 0) log(`  ${label}: service exited with ${code}\n${svc.output()}`);
  }
}

try {
  // --- 1. end-to-end throughput ----------------------------------------------------------------------
  if (cfg.steps.has("1") || cfg.steps.has("2") || cfg.steps.has("3") || cfg.steps.has("4")) {
    log(`step 1: users projector (child process, kafkajs, PARTITIONS_CONCURRENCY=${cfg.concurrency}) from an empty schema`);
    schemas.push(schema);
    if (cfg.dropIndexes.length > 0) {
      // Migrated here first, so that the named indexes can be dropped before the projector writes a row.
      const pool = new pg.Pool({ connectionString: cfg.databaseUrl, max: 1 });
      try {
        await migrate(pool, schema, serviceMigrations(usersService));
        for (const name of cfg.dropIndexes) await pool.query(`DROP INDEX ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(name)}`);
      } finally {
        await pool.end();
      }
      log(`  without the indexes ${cfg.dropIndexes.join(", ")}`);
    }
    const r = await childProjector("projector");
    const writes = await tableWrites(schema);
    const fp = await fingerprint(schema);
    results.projector = { ...r, readModel: fp, tableWrites: writes };
    log(`  ${r.eventsPerSecond.toLocaleString("en")} events/s (${r.seconds} s); RSS ${r.rss.minMiB}–${r.rss.maxMiB} MiB`);
  }

  // --- 2. PostgreSQL ceiling and naive apply ---------------------------------------------------------
  if (cfg.steps.has("2")) {
    const target = `${schema}_ceiling`;
    schemas.push(target);
    log(`step 2a: ceiling: final rows → fresh tables, set-based batches of ${cfg.ceilingBatch}, ${cfg.concurrency} connections`);
    const c = await ceiling(schema, target, usersService.projection, N);
    results.ceiling = c;
    log(
      `  ${c.rows.toLocaleString("en")} rows in ${round(c.seconds, 2)} s = ${Math.round(c.rowsPerSecond).toLocaleString("en")} rows/s ≙ ${Math.round(c.eventsPerSecondEquivalent).toLocaleString("en")} events/s`,
    );
    const naiveTarget = `${schema}_naive`;
    schemas.push(naiveTarget);
    log(`step 2b: naive: ${naiveSample.length.toLocaleString("en")} events, one statement each, transactions of ${cfg.naiveTx}`);
    const n = await naive(schema, naiveTarget, usersService.projection, naiveSample);
    results.naive = n;
    log(`  ${Math.round(n.eventsPerSecond).toLocaleString("en")} events/s (${round(n.seconds, 2)} s)`);
    log("step 2c: stream floor: every record fetched (kafkajs, the projector's settings) and decoded as the applier does, no fold");
    const f = await fetchAndDecode(topic, ends);
    const floor = { fetchAndDecode: f, eventsPerSecond: Math.round(N / (f.seconds + c.seconds)) };
    results.floor = floor;
    log(
      `  fetch + decode ${f.eventsPerSecond.toLocaleString("en")} events/s (${round(f.seconds, 2)} s); floor with the final-row write ${floor.eventsPerSecond.toLocaleString("en")} events/s`,
    );
  }

  // --- 3. full rebuild ----------------------------------------------------------------------------------
  if (cfg.steps.has("3")) {
    log("step 3: full rebuild through the admin API (shadow schema from offset 0, then switch) while the service serves and consumes");
    const r = await operatedRebuild(schema, topic, N);
    if (r.oldSchema) schemas.push(r.oldSchema);
    const fp = await fingerprint(schema);
    const before = (results.projector as { readModel?: { md5: string } } | undefined)?.readModel;
    results.rebuild = { ...r, readModel: fp, sameRowsAsStep1: before ? before.md5 === fp.md5 : undefined };
    log(`  ${r.seconds} s (${r.eventsPerSecond.toLocaleString("en")} events/s); queries during it: ${r.queries.sent} sent, ${r.queries.failed} not 200`);
  }

  // --- 4. query API ---------------------------------------------------------------------------------
  if (cfg.steps.has("4")) {
    log("step 4: query API under fixed request rates");
    results.api = await apiBenchmark(schema, topic);
  }

  // --- 5. Kafka adapters side by side, in-process ----------------------------------------------------
  if (cfg.steps.has("5")) {
    const runs: InProcessResult[] = [];
    const reference = (results.rebuild ?? results.projector) as { readModel?: { md5: string } } | undefined;
    for (const adapter of cfg.adapters) {
      const s = `${schema}_${adapter}`;
      schemas.push(s);
      log(`step 5: in-process Projector with the ${adapter} adapter`);
      const r = await inProcessProjector(adapter, topic, ends, s);
      const fp = await fingerprint(s);
      runs.push(r);
      (r as InProcessResult & { sameRows?: boolean }).sameRows = reference?.readModel ? reference.readModel.md5 === fp.md5 : undefined;
      log(
        `  ${adapter}: ${r.eventsPerSecond.toLocaleString("en")} events/s (${round(r.seconds, 2)} s); rows identical: ${(r as { sameRows?: boolean }).sameRows}`,
      );
      if (!cfg.keep) await dropSchema(s);
    }
    results.adapters = runs;
  }

  // --- 6. freshness -------------------------------------------------------------------------------------
  if (cfg.steps.has("6")) {
    log(`step 6: freshness at ${cfg.freshRates.join(" and ")} events/s, ${cfg.freshSeconds} s each (publish → GET with X-Min-Position answers 200)`);
    results.freshness = await freshness(cfg.freshRates, cfg.freshSeconds);
  }
} finally {
  if (!cfg.keep) {
    for (const s of schemas) await dropSchema(s).catch(() => {});
    await deleteTopic(topic).catch((err) => log(`could not delete ${topic}: ${(err as Error).message}`));
  }
  await admin.close();
}

results.summary = markdownTable(results, N);
mkdirSync(new URL("./results", import.meta.url), { recursive: true });
writeFileSync(new URL("./results/latest.json", import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(`\n${results.summary as string}\n`);
process.exit(0);
