// Applies decoded events to the read model with few round trips: consecutive row events form a segment;
// a segment loads every row it touches in one query per table, folds the events over those rows in
// memory (pure reducers, in event order), then writes the final rows with one DELETE and one UPSERT per
// table. A set-based SQL handler ends the segment, so the order of all effects equals sequential apply,
// unless it declared the tables it touches and the segment uses none of them (then it commutes with
// the rows pending in the segment and runs at once).

import type { BaseRow, Table } from "./columns.ts";
import type { Queryable } from "./db/pool.ts";
import type { FoldContext, KeyValues, ProjectedEvent, Projection, RowHandler, RowRef } from "./projection.ts";

/** A reducer (or key function) threw for this event: a deterministic failure of that one event. */
export class EventApplyError extends Error {
  override readonly name = "EventApplyError";
  readonly event: ProjectedEvent;
  override readonly cause: unknown;

  constructor(event: ProjectedEvent, cause: unknown) {
    super(`${event.eventType} ${event.aggregateId}@${event.aggregateSequence}: ${(cause as Error)?.message ?? cause}`);
    this.event = event;
    this.cause = cause;
  }
}

export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

interface TableSql {
  load: string;
  remove: string;
  upsert: string;
}
const sqlCache = new WeakMap<Table, TableSql>();

function tableSql(t: Table): TableSql {
  const cached = sqlCache.get(t);
  if (cached) return cached;
  const cols = Object.keys(t.columns);
  const recordDef = (names: readonly string[]) => names.map((c) => `${quoteIdent(c)} ${t.columns[c as keyof typeof t.columns]}`).join(", ");
  const keyJoin = (alias: string) => t.key.map((k) => `t.${quoteIdent(k)} = ${alias}.${quoteIdent(k)}`).join(" AND ");
  const name = quoteIdent(t.name);
  const nonKey = cols.filter((c) => !t.key.includes(c as never));
  const sql: TableSql = {
    load: `SELECT t.* FROM ${name} t JOIN jsonb_to_recordset($1::jsonb) AS k(${recordDef(t.key)}) ON ${keyJoin("k")}`,
    remove: `DELETE FROM ${name} t USING jsonb_to_recordset($1::jsonb) AS k(${recordDef(t.key)}) WHERE ${keyJoin("k")}`,
    upsert:
      `INSERT INTO ${name} (${cols.map(quoteIdent).join(", ")}) ` +
      `SELECT ${cols.map(quoteIdent).join(", ")} FROM jsonb_to_recordset($1::jsonb) AS r(${recordDef(cols)}) ` +
      `ON CONFLICT (${t.key.map(quoteIdent).join(", ")}) DO ` +
      (nonKey.length ? `UPDATE SET ${nonKey.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(", ")}` : "NOTHING"),
  };
  sqlCache.set(t, sql);
  return sql;
}

interface Slot {
  keyValues: KeyValues;
  row: BaseRow | undefined;
  dirty: boolean;
  /** A step deleted the row in this segment (a row there at the end was created again). */
  deleted: boolean;
}

interface Step {
  event: ProjectedEvent;
  handler: RowHandler;
  key: string;
  keyValues: KeyValues;
  reads: RowRef[];
}

export interface FoldStats {
  statements: number;
}

export async function applyEvents(db: Queryable, projection: Projection, events: readonly ProjectedEvent[]): Promise<FoldStats> {
  const stats: FoldStats = { statements: 0 };
  let segment: Step[] = [];
  /** Tables the pending segment writes or reads. */
  const used = new Set<string>();
  for (const event of events) {
    for (const handler of projection.handlersFor(event.eventType) ?? []) {
      if (handler.kind === "row") {
        const h = handler as unknown as RowHandler;
        let keyValues: KeyValues;
        let reads: RowRef[];
        try {
          keyValues = h.key(event);
          reads = h.reads?.(event) ?? [];
        } catch (err) {
          throw new EventApplyError(event, err);
        }
        segment.push({ event, handler: h, key: JSON.stringify(keyValues), keyValues, reads });
        used.add(h.table.name);
        for (const r of reads) used.add(r.table.name);
      } else {
        const { touches } = handler;
        if (!touches || touches.some((t) => used.has(t))) {
          await flushSegment(db, segment, stats);
          segment = [];
          used.clear();
        }
        let statements: ReturnType<typeof handler.statements>;
        try {
          statements = handler.statements(event);
        } catch (err) {
          throw new EventApplyError(event, err);
        }
        for (const s of statements) {
          if (touches) assertTouchesOnly(s.text, touches);
          await db.query(s.text, s.values as unknown[]);
          stats.statements++;
        }
      }
    }
  }
  await flushSegment(db, segment, stats);
  return stats;
}

/** Holds a reaction to the tables it declared: a statement naming another table could reorder effects. */
function assertTouchesOnly(sql: string, touches: readonly string[]): void {
  for (const m of sql.matchAll(/\b(?:FROM|JOIN|INTO|UPDATE|USING)\s+"?([A-Za-z_][A-Za-z0-9_]*)/gi)) {
    const name = m[1] as string;
    if (!touches.includes(name) && !/^(?:jsonb?_|unnest|select|lateral)/i.test(name)) {
      throw new Error(`a set-based reaction declared it touches ${touches.join(", ")} but its statement names ${name}: ${sql}`);
    }
  }
}

async function flushSegment(db: Queryable, steps: readonly Step[], stats: FoldStats): Promise<void> {
  if (steps.length === 0) return;
  const slots = new Map<Table, Map<string, Slot>>();
  const want = (table: Table, keyValues: KeyValues, key = JSON.stringify(keyValues)) => {
    const bucket = slots.get(table) ?? new Map<string, Slot>();
    slots.set(table, bucket);
    if (!bucket.has(key)) bucket.set(key, { keyValues, row: undefined, dirty: false, deleted: false });
  };
  for (const s of steps) {
    want(s.handler.table, s.keyValues, s.key);
    for (const ref of s.reads) want(ref.table as unknown as Table, ref.key);
  }

  for (const [table, bucket] of slots) {
    const keys = [...bucket.values()].map((slot) => keyObject(table, slot.keyValues));
    const { rows } = await db.query(tableSql(table).load, [JSON.stringify(keys)]);
    stats.statements++;
    for (const row of rows as BaseRow[]) {
      const k = JSON.stringify(table.key.map((c) => (row as unknown as Record<string, unknown>)[c]));
      const slot = bucket.get(k);
      if (slot) slot.row = row;
    }
  }

  for (const s of steps) {
    const slot = slots.get(s.handler.table)?.get(s.key) as Slot;
    const ctx = s.reads.length === 0 ? noReads : readContext(s.reads, slots);
    let result: BaseRow | null | undefined;
    try {
      result = s.handler.apply(slot.row, s.event, ctx);
      if (result) assertKeyUnchanged(s.handler.table, slot.keyValues, result);
    } catch (err) {
      throw new EventApplyError(s.event, err);
    }
    if (result === undefined) continue;
    slot.row = result ?? undefined;
    slot.dirty = true;
    if (result === null) slot.deleted = true;
  }

  for (const [table, bucket] of slots) {
    const removed: Record<string, unknown>[] = [];
    const written: BaseRow[] = [];
    for (const slot of bucket.values()) {
      if (!slot.dirty) continue;
      if (slot.row) written.push(slot.row);
      // Deleted and created again in this segment: delete, then insert (as applying one by one would), so
      // the new row takes its own tenant keys and creation date instead of updating the old row.
      if (!slot.row || slot.deleted) removed.push(keyObject(table, slot.keyValues));
    }
    const sql = tableSql(table);
    if (removed.length) {
      await db.query(sql.remove, [JSON.stringify(removed)]);
      stats.statements++;
    }
    if (written.length) {
      await db.query(sql.upsert, [rowsJson(written)]);
      stats.statements++;
    }
  }
}

/**
 * Rows as the JSON jsonb_to_recordset reads. A Buffer (a bytea column) becomes PostgreSQL's hex text form
 * (`\x…`), which the record's bytea column parses back; JSON.stringify alone would write `{type, data}`.
 */
const rowsJson = (rows: readonly BaseRow[]) =>
  JSON.stringify(rows, function (this: Record<string, unknown>, key: string, value: unknown) {
    const raw = this[key];
    return Buffer.isBuffer(raw) ? `\\x${raw.toString("hex")}` : value;
  });

const undeclared = (table: { name: string }, key: KeyValues) => new Error(`reducer read ${table.name} ${JSON.stringify(key)} without declaring it in reads`);

/** Most reducers read nothing but their own row: one shared context, no allocation per event. */
const noReads: FoldContext = {
  get: (table, key) => {
    throw undeclared(table, key);
  },
};

function readContext(reads: readonly RowRef[], slots: Map<Table, Map<string, Slot>>): FoldContext {
  const declared = new Set(reads.map((r) => `${(r.table as unknown as Table).name}\u0000${JSON.stringify(r.key)}`));
  return {
    get: (table, key) => {
      const k = JSON.stringify(key);
      if (!declared.has(`${table.name}\u0000${k}`)) throw undeclared(table, key);
      return slots.get(table as unknown as Table)?.get(k)?.row as never;
    },
  };
}

function keyObject(table: Table, values: KeyValues): Record<string, unknown> {
  return Object.fromEntries(table.key.map((c, i) => [c, values[i]]));
}

function assertKeyUnchanged(table: Table, keyValues: KeyValues, row: BaseRow) {
  table.key.forEach((c, i) => {
    if ((row as unknown as Record<string, unknown>)[c] !== keyValues[i]) {
      throw new Error(`reducer changed key column ${table.name}.${c} (tenant keys are immutable)`);
    }
  });
}
