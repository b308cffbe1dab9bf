// How kafkajs' log entries are read: the pino level each one gets, and which ones tell the consumer that
// the log under it may have been replaced.
import { logLevel } from "kafkajs";

interface Entry {
  message?: unknown;
  error?: unknown;
}

const text = (e: Entry) => `${String(e.message ?? "")} ${String(e.error ?? "")}`;

// Retries kafkajs reports at error level although they are part of a normal start or rebalance: the
// group coordinator still loading or not yet elected, a topic being created by another process, its
// leader not yet elected. Each is retried; a real outage shows in readiness (broker unreachable, stalled).
const BENIGN_RETRIES = [
  /group coordinator is not available/i,
  /coordinator is loading/i,
  /not the correct coordinator/i,
  /topic with this name already exists/i,
  /no leader for this topic-partition/i,
  /does not host this topic-partition/i,
  /group is rebalancing/i,
];

/** The pino level of a kafkajs log entry: benign retries go below error. */
export function kafkaLogLevel(level: number, entry: Entry): "error" | "warn" | "debug" {
  if (level > logLevel.ERROR) return level >= logLevel.DEBUG ? "debug" : "warn";
  return BENIGN_RETRIES.some((re) => re.test(text(entry))) ? "warn" : "error";
}

// What kafkajs reports when the log under the consumer may have been replaced: a topic-partition the broker
// no longer knows (topic deleted), an offset out of range, a lost connection (a broker restarted, maybe
// with empty storage).
const MAY_HAVE_CHANGED = /does not host this topic-partition|not within the range of offsets|offset out of range|connection error|ECONNREFUSED|disconnected/i;

/** True for an entry that says the log may have been replaced. */
export function logMayHaveChanged(entry: Entry): boolean {
  return MAY_HAVE_CHANGED.test(text(entry));
}
