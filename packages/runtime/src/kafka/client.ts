// One kafkajs client as the runtime configures it: retries, timeouts, and its log through pino (benign
// retries below error).
import "./kafkajs-records.ts"; // every kafkajs client is made here: its record decoder replaced first (see there)
import { Kafka, logLevel } from "kafkajs";
import type { Logger } from "pino";
import { kafkaLogLevel } from "./log.ts";

export interface KafkaJsOptions {
  brokers: string[];
  clientId: string;
  logger?: Logger;
  /** Retries of one request; unset: practically forever (a broker restart must not kill the process). */
  retries?: number;
  requestTimeoutMs?: number;
  /** Every entry kafkajs logs at warn or error, before it is mapped (the consumer watches for signs of a replaced log). */
  onLogEntry?: (entry: { message?: unknown; error?: unknown }) => void;
}

export function client(opts: KafkaJsOptions): Kafka {
  const log = opts.logger;
  return new Kafka({
    clientId: opts.clientId,
    brokers: opts.brokers,
    connectionTimeout: 3000,
    ...(opts.requestTimeoutMs === undefined ? {} : { requestTimeout: opts.requestTimeoutMs }),
    // Broker restarts must not kill the process: keep retrying with backoff (capped at 5 s).
    retry: { initialRetryTime: 200, maxRetryTime: 5000, retries: opts.retries ?? 1_000_000 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => {
      opts.onLogEntry?.(entry.log);
      if (!log) return;
      const { message, ...rest } = entry.log;
      log[kafkaLogLevel(entry.level, entry.log)]({ kafka: entry.namespace, ...rest }, message);
    },
  });
}

/** What a broker answers for a topic it has not learned of yet: KRaft spreads a new topic to brokers asynchronously. */
export const TOPIC_NOT_YET_KNOWN = new Set(["UNKNOWN_TOPIC_OR_PARTITION", "LEADER_NOT_AVAILABLE"]);

/**
 * Runs `call` again while a broker says it does not know the topic yet, for at most `timeoutMs`; then the
 * broker's error is thrown with what was waited for. kafkajs retries this answer on produce and fetch, but
 * not on subscribe: a service started right after its topic was created would fail to start.
 */
export async function whileTopicUnknown<T>(
  call: () => Promise<T>,
  what: string,
  opts: { timeoutMs?: number; pauseMs?: number; onRetry?: (err: unknown) => void } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!TOPIC_NOT_YET_KNOWN.has((err as { type?: string }).type ?? "")) throw err;
      if (Date.now() >= deadline) throw new Error(`${what}: the brokers still do not know the topic after ${opts.timeoutMs ?? 30_000} ms`, { cause: err });
      opts.onRetry?.(err);
      await new Promise((r) => setTimeout(r, opts.pauseMs ?? 250));
    }
  }
}
