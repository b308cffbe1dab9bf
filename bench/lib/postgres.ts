// PostgreSQL-only reference points for the projector's figure, no Kafka involved:
//  - ceiling: the final read-model rows written set-based in batches (the fold's INSERT … SELECT FROM
//    jsonb_to_recordset … ON CONFLICT DO UPDATE), into fresh tables with the same indexes;
//  - naive: one statement per event (reducer in memory, then one INSERT … ON CONFLICT or DELETE
//    round trip per event), in transactions of BENCH_NAIVE_TX events, on a sample of the events.
import {
  type BaseRow,
  type FoldContext,
  type KeyValues,
  type ProjectedEvent,
  type Projection,
  quoteIdent,
  type RowHandler,
  type Table,
  tombstonesTable,
} from "@idp/runtime";
import type pg from "pg";
import { cfg, now, schemaPool, withClient } from "./common.ts";
import { cpuMs } from "./cpu.ts";

export interface CpuCost {
  /** CPU of this (Node.js) process while writing, ms. */
  nodeCpuMs: number;
  /** CPU of the PostgreSQL backends that wrote, ms. */
  pgCpuMs: number;
}

/** Measures CPU of this process and of the given clients' PostgreSQL backends around `fn`. */
async function measured<T>(clients: pg.PoolClient[], fn: () => Promise<T>): Promise<{ value: T; cpu: CpuCost }> {
  const pids = await Promise.all(clients.map(async (c) => Number((await c.query("SELECT pg_backend_pid() AS pid")).rows[0].pid)));
  const pg0 = pids.reduce((s, pid) => s + (cpuMs(pid) ?? 0), 0);
  const node0 = process.cpuUsage();
  const value = await fn();
  const node = process.cpuUsage(node0);
  const pgCpuMs = pids.reduce((s, pid) => s + (cpuMs(pid) ?? 0), 0) - pg0;
  return { value, cpu: { nodeCpuMs: Math.round((node.user + node.system) / 1000), pgCpuMs: Math.round(pgCpuMs) } };
}

/** Fresh copies (LIKE … INCLUDING ALL: same columns, keys and indexes) of the projection's tables. */
export async function cloneTables(from: string, to: string, tables: readonly Table[]) {
  await withClient(async (c) => {
    await c.query(`DROP SCHEMA IF EXISTS ${to} CASCADE`);
    await c.query(`CREATE SCHEMA ${to}`);
    for (const t of tables) await c.query(`CREATE TABLE ${to}.${quoteIdent(t.name)} (LIKE ${from}.${quoteIdent(t.name)} INCLUDING ALL)`);
  });
}

const recordDef = (t: Table, names: readonly string[]) => names.map((c) => `${quoteIdent(c)} ${t.columns[c as keyof typeof t.columns]}`).join(", ");

/** The same statement shape as packages/runtime/src/fold.ts writes a segment's final rows with. */
export function setUpsertSql(t: Table): string {
  const cols = Object.keys(t.columns);
  const nonKey = cols.filter((c) => !t.key.includes(c as never));
  return (
    `INSERT INTO ${quoteIdent(t.name)} (${cols.map(quoteIdent).join(", ")}) ` +
    `SELECT ${cols.map(quoteIdent).join(", ")} FROM jsonb_to_recordset($1::jsonb) AS r(${recordDef(t, cols)}) ` +
    `ON CONFLICT (${t.key.map(quoteIdent).join(", ")}) DO ` +
    (nonKey.length ? `UPDATE SET ${nonKey.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(", ")}` : "NOTHING")
  );
}

function rowUpsertSql(t: Table): string {
  const cols = Object.keys(t.columns);
  const nonKey = cols.filter((c) => !t.key.includes(c as never));
  return (
    `INSERT INTO ${quoteIdent(t.name)} (${cols.map(quoteIdent).join(", ")}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(", ")}) ` +
    `ON CONFLICT (${t.key.map(quoteIdent).join(", ")}) DO ` +
    (nonKey.length ? `UPDATE SET ${nonKey.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(", ")}` : "NOTHING")
  );
}

async function inParallel<T>(items: T[], workers: number, fn: (item: T, worker: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, workers) }, async (_, w) => {
      while (next < items.length) {
        const item = items[next++] as T;
        await fn(item, w);
      }
    }),
  );
}

export interface CeilingResult {
  rows: number;
  batches: number;
  seconds: number;
  rowsPerSecond: number;
  /** N events / seconds: the event rate a projector would have if writing the final rows were all it did. */
  eventsPerSecondEquivalent: number;
  perTable: Record<string, number>;
  cpu: CpuCost;
}

/** Reads the final rows from `source` and writes them set-based into fresh tables in `target`. */
export async function ceiling(source: string, target: string, projection: Projection, events: number): Promise<CeilingResult> {
  const tables = projection.tables;
  await cloneTables(source, target, tables);
  const read = schemaPool(source, 1);
  const perTable: Record<string, number> = {};
  const work: { table: Table; rows: BaseRow[] }[] = [];
  for (const t of tables) {
    const { rows } = await read.query(`SELECT * FROM ${quoteIdent(t.name)} ORDER BY ${t.key.map(quoteIdent).join(", ")}`);
    perTable[t.name] = rows.length;
    for (let i = 0; i < rows.length; i += cfg.ceilingBatch) work.push({ table: t, rows: rows.slice(i, i + cfg.ceilingBatch) });
  }
  await read.end();
  const pool = schemaPool(target, cfg.concurrency);
  // Connections are opened before the clock starts (the projector's pool is warm too).
  const warm = await Promise.all(Array.from({ length: cfg.concurrency }, () => pool.connect()));
  let seconds = 0;
  const { cpu } = await measured(warm, async () => {
    for (const c of warm) c.release();
    const t0 = now();
    // One statement per batch is its own (autocommit) transaction, as one projector batch is one transaction.
    await inParallel(work, cfg.concurrency, async ({ table, rows }) => {
      await pool.query(setUpsertSql(table), [JSON.stringify(rows)]);
    });
    seconds = (now() - t0) / 1000;
  });
  await pool.end();
  const rows = Object.values(perTable).reduce((a, b) => a + b, 0);
  return { rows, batches: work.length, seconds, rowsPerSecond: rows / seconds, eventsPerSecondEquivalent: events / seconds, perTable, cpu };
}

export interface NaiveResult {
  events: number;
  statements: number;
  /** Events whose reducer changed nothing (no statement issued; still counted as events). */
  noops: number;
  seconds: number;
  eventsPerSecond: number;
  cpu: CpuCost;
}

/**
 * Naive apply: per event, the reducer runs against an in-memory copy of the row (so no SELECT is needed:
 * generous to the naive approach) and the result is written with ONE statement. Events are split by
 * instance over BENCH_CONCURRENCY connections, like partitions; each connection commits every
 * BENCH_NAIVE_TX events. No aggregate-sequence bookkeeping (also generous).
 */
export async function naive(source: string, target: string, projection: Projection, events: ProjectedEvent[]): Promise<NaiveResult> {
  await cloneTables(source, target, [...projection.tables, tombstonesTable as unknown as Table]);
  const state = new Map<Table, Map<string, BaseRow>>();
  const bucket = (t: Table) => {
    const b = state.get(t) ?? new Map<string, BaseRow>();
    state.set(t, b);
    return b;
  };
  const ctx: FoldContext = { get: (table, key) => bucket(table as unknown as Table).get(JSON.stringify(key)) as never };
  const sqlFor = new Map<Table, string>();
  const deleteFor = (t: Table) => `DELETE FROM ${quoteIdent(t.name)} WHERE ${t.key.map((k, i) => `${quoteIdent(k)} = $${i + 1}`).join(" AND ")}`;

  // Lanes = partitions: an instance's events stay in one lane, in stream order.
  const lanes: ProjectedEvent[][] = Array.from({ length: cfg.concurrency }, () => []);
  for (const e of events) {
    let h = 0;
    for (let i = 0; i < e.instanceId.length; i++) h = (h * 31 + e.instanceId.charCodeAt(i)) | 0;
    (lanes[Math.abs(h) % lanes.length] as ProjectedEvent[]).push(e);
  }

  const pool = schemaPool(target, cfg.concurrency);
  const result = { statements: 0, noops: 0 };
  const clients: pg.PoolClient[] = await Promise.all(lanes.map(() => pool.connect()));
  const runLane = async (lane: ProjectedEvent[], client: pg.PoolClient) => {
    try {
      for (let i = 0; i < lane.length; i += cfg.naiveTx) {
        await client.query("BEGIN");
        for (const e of lane.slice(i, i + cfg.naiveTx)) {
          let wrote = false;
          for (const handler of projection.handlersFor(e.eventType) ?? []) {
            if (handler.kind === "sql") {
              for (const s of handler.statements(e)) {
                await client.query(s.text, s.values as unknown[]);
                result.statements++;
                wrote = true;
              }
              continue;
            }
            const h = handler as unknown as RowHandler;
            const key: KeyValues = h.key(e);
            const k = JSON.stringify(key);
            const rows = bucket(h.table);
            const next = h.apply(rows.get(k), e, ctx);
            if (next === undefined) continue;
            if (next === null) {
              rows.delete(k);
              await client.query(deleteFor(h.table), [...key]);
            } else {
              rows.set(k, next);
              const sql = sqlFor.get(h.table) ?? rowUpsertSql(h.table);
              sqlFor.set(h.table, sql);
              await client.query(
                sql,
                Object.keys(h.table.columns).map((c) => (next as unknown as Record<string, unknown>)[c] ?? null),
              );
            }
            result.statements++;
            wrote = true;
          }
          if (!wrote) result.noops++;
        }
        await client.query("COMMIT");
      }
    } finally {
      client.release();
    }
  };
  let seconds = 0;
  const { cpu } = await measured(clients, async () => {
    const t0 = now();
    await Promise.all(lanes.map((lane, i) => runLane(lane, clients[i] as pg.PoolClient)));
    seconds = (now() - t0) / 1000;
  });
  await pool.end();
  return { events: events.length, ...result, seconds, eventsPerSecond: events.length / seconds, cpu };
}
