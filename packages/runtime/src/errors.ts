// Transient errors (the database or network is away) are retried forever with backoff and never skip an
// event; anything else is a deterministic failure of the data, counted and eventually parked.
export type ErrorKind = "transient" | "deterministic";

const TRANSIENT_NODE_CODES = new Set([
  "OFFSET_CONFLICT", // the batch raced a schema switch or an operator replay: retry it
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "ENOTFOUND",
]);

// SQLSTATE classes: 08 connection, 53 insufficient resources, 57 operator intervention (admin
// shutdown, pg_terminate_backend), 58 system error; 40001/40P01 serialization failure and deadlock.
const TRANSIENT_SQLSTATE = /^(08|53|57|58)|^40001$|^40P01$|^55P03$/;

export function classifyError(err: unknown): ErrorKind {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === "string" ? e.code : undefined;
  if (code && (TRANSIENT_NODE_CODES.has(code) || (/^[0-9A-Z]{5}$/.test(code) && TRANSIENT_SQLSTATE.test(code)))) {
    return "transient";
  }
  const message = typeof e?.message === "string" ? e.message : "";
  if (
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(message)
  ) {
    return "transient";
  }
  return "deterministic";
}

/**
 * A refused operation, in the runtime's own terms (the HTTP edge maps the kind to a status code):
 * conflict with the current state, an invalid argument, or something that does not exist.
 */
export class DomainError extends Error {
  override readonly name = "DomainError";
  readonly kind: "conflict" | "invalid" | "not_found";
  /** Stable machine-readable reason, e.g. rebuild_running. */
  readonly reason: string;

  constructor(kind: "conflict" | "invalid" | "not_found", reason: string, message: string) {
    super(message);
    this.kind = kind;
    this.reason = reason;
  }
}
