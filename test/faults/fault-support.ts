// Shared checks of the fault tests (test/faults/*.test.ts): the users read model against the independent
// reference, the exactly-once count (sum of applied_events, written in the same transaction as the rows),
// and the one-line FAULT summary quoted in reports.
import type { EventToPublish } from "@idp/producer";
import type pg from "pg";
import { expect } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { REF_COLUMNS, type RefUser, referenceUsers } from "../support/users-reference.ts";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const handled = new Set(usersService.projection.eventTypes());

/** Events of the history the users projection reads: each must be applied exactly once. */
export const relevantCount = (history: EventToPublish[]) => history.filter((e) => handled.has(e.eventType)).length;

/** Sum of applied_events of the users projection; 0 while the service has not created its schema yet. */
export async function appliedEvents(pool: pg.Pool): Promise<number> {
  try {
    const { rows } = await pool.query("SELECT coalesce(sum(applied_events), 0)::int AS n FROM projector_offsets WHERE projection = 'users'");
    return rows[0].n as number;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "42P01" || code === "3F000") return 0; // relation / schema does not exist yet
    throw err;
  }
}

/** Polls until applied_events grows above `before`; throws after the deadline (the projector is stuck). */
export async function waitForProgress(pool: pg.Pool, before: number, timeoutMs = 60_000, what = "projector"): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await appliedEvents(pool);
    if (now > before) return now;
    if (Date.now() > deadline) throw new Error(`${what} made no progress within ${timeoutMs} ms (applied_events stuck at ${now})`);
    await sleep(5);
  }
}

const byKey = (a: RefUser, b: RefUser) => a.instance_id.localeCompare(b.instance_id) || a.id.localeCompare(b.id);

/** The users table equals the reference computed from `history`, row for row and column for column. */
export async function expectUsersMatchReference(pool: pg.Pool, history: EventToPublish[], minRows: number) {
  const rows = (await pool.query(`SELECT ${REF_COLUMNS} FROM users ORDER BY instance_id, id`)).rows;
  const ref = [...referenceUsers(history).values()].sort(byKey);
  expect(ref.length).toBeGreaterThan(minRows); // the history is big enough to mean something
  expect(rows.length).toBe(ref.length);
  expect(rows).toEqual(ref);
}

/** Prints `FAULT <name>: produced=… applied=… lost=… doubleApplied=…` (extra key=values appended). */
export function faultLine(name: string, produced: number, applied: number, extra: Record<string, string | number> = {}): string {
  const tail = Object.entries(extra)
    .map(([k, v]) => ` ${k}=${v}`)
    .join("");
  const line = `FAULT ${name}: produced=${produced} applied=${applied} lost=${Math.max(0, produced - applied)} doubleApplied=${Math.max(0, applied - produced)}${tail}`;
  console.log(line);
  return line;
}

/** Resolves with the promise's value, or rejects after `ms` (cleanup must never hang a test file). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Splits a list into `n` consecutive chunks of near-equal size. */
export function chunksOf<T>(xs: T[], n: number): T[][] {
  const size = Math.ceil(xs.length / n);
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}
