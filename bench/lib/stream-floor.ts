// The stream floor: what any consumer of the topic has to do before it folds a single event. Every
// record is fetched with the projector's client and settings (the configured adapter behind the port, same
// concurrency and fetch size, a fresh group from offset 0) and checked and decoded exactly as the
// applier does (`decodeRecord`); nothing is folded or written. The floor's rate adds the time the
// PostgreSQL ceiling (step 2) took to write the final rows once: N ÷ (fetch-and-decode + final-row write).
import { catalog } from "@idp/events";
import { createConsumer, createLogger, loadConfig, type PartitionOffsets } from "@idp/runtime";
import { decodeRecord } from "@idp/runtime/src/record-contract.ts";
import { cfg, cpuPer1k, now, stamp } from "./common.ts";
import { brokerPid, cpuMs } from "./cpu.ts";

export interface FetchDecodeResult {
  events: number;
  /** First assignment → last record decoded. */
  seconds: number;
  eventsPerSecond: number;
  /** CPU per 1,000 events over the same window: this process, and the local broker when its pid is known. */
  cpu: { nodeMsPer1kEvents: number; brokerMsPer1kEvents: number | undefined };
}

export async function fetchAndDecode(topic: string, ends: PartitionOffsets[]): Promise<FetchDecodeResult> {
  const total = ends.reduce((s, p) => s + Number(p.high), 0);
  const consumer = createConsumer(loadConfig("users", 0, { ...process.env, AUTH_MODE: "dev" }).kafkaClient, {
    brokers: cfg.brokers,
    clientId: "bench-floor",
    groupId: `bench_floor_${stamp}`,
    partitionsConsumedConcurrently: cfg.concurrency,
    maxBytesPerPartition: cfg.maxBytesPerPartition,
    sessionTimeoutMs: 30_000,
    logger: createLogger("bench-floor", "warn"),
  });
  const broker = brokerPid();
  let decoded = 0;
  let failed = 0;
  let start: { at: number; cpu: NodeJS.CpuUsage; brokerMs: number | undefined } | undefined;
  let resolve: (at: number) => void = () => {};
  const done = new Promise<number>((r) => {
    resolve = r;
  });
  await consumer.start([topic], {
    onAssigned: async (assigned) => {
      start ??= { at: now(), cpu: process.cpuUsage(), brokerMs: broker === undefined ? undefined : cpuMs(broker) };
      return assigned.map((tp) => ({ ...tp, offset: "0" }));
    },
    onBatch: async (batch) => {
      for (const record of batch.records) {
        try {
          decodeRecord(catalog, record);
          decoded++;
        } catch {
          failed++;
        }
      }
      const last = batch.records.at(-1);
      if (decoded + failed >= total) resolve(now());
      return { kind: "done", nextOffset: last ? String(BigInt(last.offset) + 1n) : batch.fetchedOffset };
    },
  });
  try {
    const doneAt = await done;
    const cpu = process.cpuUsage(start?.cpu);
    const brokerEnd = broker === undefined ? undefined : cpuMs(broker);
    if (failed > 0) throw new Error(`stream floor: ${failed} records did not decode`);
    const seconds = (doneAt - (start?.at ?? doneAt)) / 1000;
    const { nodeMsPer1kEvents, brokerMsPer1kEvents } = cpuPer1k({
      total: decoded,
      firstConsumed: 0,
      nodeCpuMs: (cpu.user + cpu.system) / 1000,
      brokerCpuMs: brokerEnd === undefined || start?.brokerMs === undefined ? undefined : brokerEnd - start.brokerMs,
    });
    return { events: decoded, seconds, eventsPerSecond: Math.round(decoded / seconds), cpu: { nodeMsPer1kEvents, brokerMsPer1kEvents } };
  } finally {
    await consumer.stop();
  }
}
