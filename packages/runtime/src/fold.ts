// Applies decoded events to the read model with few round trips: the rows the events touch are loaded in
// one query per table, the events folded over them in memory (pure reducers, in event order), and the
// final rows written with one DELETE and one UPSERT per table. A set-based SQL reaction is deferred: the
// rows held of the tables it touches (all tables, unless it declared which) are set aside with it, and
// both are written, in stream order, before anything reads those tables again or at the write, so the
// order of all effects equals sequential apply. The rows live in a RowCache: one per batch, or, with
// write-behind, one per window of many batches (write-behind.ts).

import type { QueryConfig } from "pg";
import type { BaseRow, Table } from "./columns.ts";
import { prepared, type Queryable } from "./db/pool.ts";
import type { FoldContext, KeyValues, ProjectedEvent, Projection, RowHandler, RowRef, SqlStatement } from "./projection.ts";

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
  /** Rows by key, as a join (many keys: the planner may hash the table). */
  load: string;
  /** The same with one index probe per key (LATERAL … LIMIT 1 is never turned into a join), for FEW_KEYS or fewer. */
  loadFew: string;
  remove: string;
  upsert: string;
}
const sqlCache = new WeakMap<Table, TableSql>();

/**
 * Up to this many keys, rows and aggregate states are read with one index probe per key: a join is
 * what the planner picks otherwise, and while a table still has an empty table's statistics it hashes
 * the whole table for a batch of one event (more than all the batch's other statements together).
 * Above it (a write-behind window's loads) the join is cheaper than that many probes (measured: 300k
 * events caught up ≈ 25 % slower with probes only).
 */
export const FEW_KEYS = 1000;

/**
 * A statement over `count` keys or rows: for few, `few` as a prepared statement (a batch's statements are
 * planned once per connection); for many (a window's), `many` (the same text by default) planned for its
 * own values, as one-off.
 */
export function keyedStatement(count: number, values: unknown[], few: string, many = few): QueryConfig {
  return count <= FEW_KEYS ? prepared(few, values) : { text: many, values };
}

function tableSql(t: Table): TableSql {
  const cached = sqlCache.get(t);
  if (cached) return cached;
  const cols = Object.keys(t.columns);
  const recordDef = (names: readonly string[]) => names.map((c) => `${quoteIdent(c)} ${t.columns[c as keyof typeof t.columns]}`).join(", ");
  const keyJoin = (alias: string) => t.key.map((k) => `t.${quoteIdent(k)} = ${alias}.${quoteIdent(k)}`).join(" AND ");
  const name = quoteIdent(t.name);
  const nonKey = cols.filter((c) => !t.key.includes(c as never));
  const sql: TableSql = {
    load: `SELECT ${cols.map((c) => `t.${quoteIdent(c)}`).join(", ")} FROM ${name} t JOIN jsonb_to_recordset($1::jsonb) AS k(${recordDef(t.key)}) ON ${keyJoin("k")}`,
    loadFew:
      `SELECT t.* FROM jsonb_to_recordset($1::jsonb) AS k(${recordDef(t.key)}) ` +
      `CROSS JOIN LATERAL (SELECT ${cols.map(quoteIdent).join(", ")} FROM ${name} t WHERE ${keyJoin("k")} LIMIT 1) t`,
    remove: `DELETE FROM ${name} t USING jsonb_to_recordset($1::jsonb) AS k(${recordDef(t.key)}) WHERE ${keyJoin("k")}`,
    upsert:
      `INSERT INTO ${name} (${cols.map(quoteIdent).join(", ")}) ` +
      `SELECT ${cols.map(quoteIdent).join(", ")} FROM json_to_recordset($1::json) AS r(${recordDef(cols)}) ` +
      `ON CONFLICT (${t.key.map(quoteIdent).join(", ")}) DO ` +
      (nonKey.length ? `UPDATE SET ${nonKey.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(", ")}` : "NOTHING"),
  };
  sqlCache.set(t, sql);
  return sql;
}

interface Slot {
  keyValues: KeyValues;
  row: BaseRow | undefined;
  /** The row was read from the database (or found absent there). */
  loaded: boolean;
  dirty: boolean;
  /** A step deleted the row since it was loaded (a row there at the end was created again). */
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

/** A reaction of the batch, in its place among the steps. */
interface PlannedReaction {
  touches: readonly string[] | undefined;
  statements: SqlStatement[];
}

/** A reaction waiting to run, with the rows it must see written first. */
interface DeferredReaction {
  rows: [Table, Map<string, Slot>][];
  statements: SqlStatement[];
  /** Table names; undefined: it did not declare them (every table). */
  touches: readonly string[] | undefined;
}

/**
 * The rows of a write-behind window whose transaction is still committing: a later window folds over
 * them instead of reading the database, where they are not visible yet.
 */
export interface CommittingRows {
  /** Its row under this key, when it holds one (row undefined: known to be absent). */
  held(table: Table, key: string): { row: BaseRow | undefined } | undefined;
  /** Whether its transaction changed rows of the table beyond those it holds (a reaction did). */
  changedBeyondHeld(table: Table): boolean;
  /** Settles when its transaction committed; rejects when it did not. */
  readonly committed: Promise<void>;
}

function rowStep(h: RowHandler, event: ProjectedEvent): Step {
  try {
    const keyValues = h.key(event);
    return { event, handler: h, key: JSON.stringify(keyValues), keyValues, reads: h.reads?.(event) ?? [] };
  } catch (err) {
    throw new EventApplyError(event, err);
  }
}

export async function applyEvents(db: Queryable, projection: Projection, events: readonly ProjectedEvent[]): Promise<FoldStats> {
  const stats: FoldStats = { statements: 0 };
  const rows = new RowCache();
  await rows.apply(db, projection, events, stats);
  await rows.write(db, stats);
  return stats;
}

const touchesTable = (touches: readonly string[] | undefined, table: Table) => touches === undefined || touches.includes(table.name);

/** Tables touched so far, with a reaction's added ("all": one did not declare them). */
function withTouched(touched: Set<string> | "all", touches: readonly string[] | undefined): Set<string> | "all" {
  if (touches === undefined) return "all";
  if (touched !== "all") for (const t of touches) touched.add(t);
  return touched;
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

/**
 * Rows folded in memory and written with one DELETE and one UPSERT per table. A fold segment uses one
 * for a single batch; write-behind keeps one across batches, so a row changed by many events is loaded
 * and written once per flush.
 */
export class RowCache {
  private readonly slots = new Map<Table, Map<string, Slot>>();
  /** Slots wanted since the last load, per table. */
  private readonly unloaded = new Map<Table, Slot[]>();
  private deferred: DeferredReaction[] = [];
  /** Tables a reaction has touched so far ("all": one did not declare them). */
  private reacted: Set<string> | "all" = new Set();
  /** Rows held (loaded, absent or changed), including those set aside with deferred reactions. */
  size = 0;
  /** The window still committing before this one (write-behind); its rows come before the database's. */
  predecessor: CommittingRows | undefined;

  /**
   * Applies events in stream order: row events are folded over the rows held (loading those not held
   * yet); a set-based reaction takes the held rows of the tables it touches (all, if it did not declare
   * them) with it and waits (deferred): later events that need those tables run it first, after writing
   * its rows, so it sees and changes them as sequential apply would. Rows of other tables stay held.
   */
  async apply(db: Queryable, projection: Projection, events: readonly ProjectedEvent[], stats: FoldStats): Promise<void> {
    const plan: (Step | PlannedReaction)[] = [];
    let reactedHere: Set<string> | "all" = new Set();
    for (const event of events) {
      for (const handler of projection.handlersFor(event.eventType) ?? []) {
        if (handler.kind === "row") {
          plan.push(rowStep(handler as unknown as RowHandler, event));
          continue;
        }
        let statements: ReturnType<typeof handler.statements>;
        try {
          statements = handler.statements(event);
        } catch (err) {
          throw new EventApplyError(event, err);
        }
        const { touches } = handler;
        if (touches) for (const s of statements) assertTouchesOnly(s.text, touches);
        plan.push({ touches, statements });
        reactedHere = withTouched(reactedHere, touches);
      }
    }
    if (reactedHere !== "all" && reactedHere.size > 0) await this.prefetch(db, plan, reactedHere, stats);
    let steps: Step[] = [];
    for (const item of plan) {
      if ("handler" in item) {
        steps.push(item);
        continue;
      }
      await this.fold(db, steps, stats);
      steps = [];
      this.defer(item.touches, item.statements);
    }
    await this.fold(db, steps, stats);
  }

  /**
   * Loads, before the first segment, the rows of every table no reaction of the batch touches: each
   * reaction ends a segment and each segment loads what it needs, so a batch with many reactions (users
   * removed) would otherwise read its rows in as many small queries.
   */
  private async prefetch(db: Queryable, plan: readonly (Step | PlannedReaction)[], reactedHere: ReadonlySet<string>, stats: FoldStats): Promise<void> {
    const steps = plan.filter((item): item is Step => "handler" in item);
    this.wantRows(steps, (table) => !reactedHere.has(table.name));
    await this.loadWanted(db, stats);
  }

  private async fold(db: Queryable, steps: readonly Step[], stats: FoldStats): Promise<void> {
    if (steps.length === 0) return;
    this.wantRows(steps);
    await this.loadWanted(db, stats);
    for (const s of steps) {
      const slot = this.slots.get(s.handler.table)?.get(s.key) as Slot;
      const ctx = s.reads.length === 0 ? noReads : readContext(s.reads, this.slots);
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
  }

  /** Wants the rows the steps change and read (of the tables `include` accepts). */
  private wantRows(steps: readonly Step[], include = (_table: Table) => true): void {
    for (const s of steps) {
      if (include(s.handler.table)) this.want(s.handler.table, s.keyValues, s.key);
      for (const ref of s.reads) if (include(ref.table as unknown as Table)) this.want(ref.table as unknown as Table, ref.key);
    }
  }

  /** Loads the rows wanted since the last load, after the deferred reactions that touch their tables. */
  private async loadWanted(db: Queryable, stats: FoldStats): Promise<void> {
    if ([...this.unloaded.keys()].some((t) => this.deferred.some((d) => touchesTable(d.touches, t)))) await this.runDeferred(db, stats);
    await this.load(db, stats);
  }

  /** Runs the deferred reactions, then writes the changed rows; the cache is empty afterwards. */
  async write(db: Queryable, stats: FoldStats): Promise<void> {
    await this.runDeferred(db, stats);
    await this.writeRows(db, [...this.slots], stats);
    this.slots.clear();
  }

  /** Sets a reaction aside with the held rows of the tables it touches (they are let go). */
  private defer(touches: readonly string[] | undefined, statements: SqlStatement[]): void {
    const rows: DeferredReaction["rows"] = [];
    for (const [table, bucket] of this.slots) {
      if (!touchesTable(touches, table)) continue;
      rows.push([table, bucket]);
      this.slots.delete(table);
      this.unloaded.delete(table);
    }
    this.deferred.push({ rows, statements, touches });
    this.reacted = withTouched(this.reacted, touches);
  }

  /** Deferred reactions in stream order, each after writing the rows it took. A later window writes nothing before its predecessor committed. */
  private async runDeferred(db: Queryable, stats: FoldStats): Promise<void> {
    if (this.deferred.length === 0) return;
    await this.committedPredecessor();
    for (const d of this.deferred.splice(0)) {
      await this.writeRows(db, d.rows, stats);
      for (const s of d.statements) {
        await db.query(s.text, s.values as unknown[]);
        stats.statements++;
      }
    }
  }

  /** Writes the changed rows of these tables (held rows are no longer counted). */
  private async writeRows(db: Queryable, buckets: readonly [Table, Map<string, Slot>][], stats: FoldStats): Promise<void> {
    for (const [table, bucket] of buckets) {
      const removed: Record<string, unknown>[] = [];
      const written: BaseRow[] = [];
      for (const slot of bucket.values()) {
        if (!slot.dirty) continue;
        if (slot.row) written.push(slot.row);
        // Deleted and created again: delete, then insert (as applying one by one would), so the new row
        // takes its own tenant keys and creation date instead of updating the old row.
        if (!slot.row || slot.deleted) removed.push(keyObject(table, slot.keyValues));
      }
      const sql = tableSql(table);
      if (removed.length) {
        await db.query(keyedStatement(removed.length, [JSON.stringify(removed)], sql.remove));
        stats.statements++;
      }
      if (written.length) {
        await db.query(keyedStatement(written.length, [rowsJson(written)], sql.upsert));
        stats.statements++;
      }
      this.size -= bucket.size;
    }
  }

  /** Waits for the predecessor's commit; the database is then the truth. */
  private async committedPredecessor(): Promise<void> {
    if (!this.predecessor) return;
    await this.predecessor.committed;
    this.predecessor = undefined;
  }

  /** What a later window folds over while this one's transaction commits (see CommittingRows). */
  committing(committed: Promise<void>): CommittingRows {
    const slots = new Map(this.slots);
    const reacted = this.reacted === "all" ? "all" : new Set(this.reacted);
    return {
      held: (table, key) => {
        const slot = slots.get(table)?.get(key);
        return slot && (slot.loaded || slot.dirty) ? { row: slot.row } : undefined;
      },
      changedBeyondHeld: (table) => reacted === "all" || reacted.has(table.name),
      committed,
    };
  }

  clear(): void {
    this.slots.clear();
    this.unloaded.clear();
    this.deferred = [];
    this.size = 0;
  }

  private want(table: Table, keyValues: KeyValues, key = JSON.stringify(keyValues)) {
    let bucket = this.slots.get(table);
    if (!bucket) {
      bucket = new Map<string, Slot>();
      this.slots.set(table, bucket);
    }
    if (bucket.has(key)) return;
    // Not for a table a reaction of this cache touched: the predecessor's rows precede that reaction.
    const inherited = this.reacted === "all" || this.reacted.has(table.name) ? undefined : this.predecessor?.held(table, key);
    const slot: Slot = { keyValues, row: inherited?.row, loaded: inherited !== undefined, dirty: false, deleted: false };
    bucket.set(key, slot);
    this.size++;
    if (inherited) return;
    // Only the rows new since the last load are loaded: a window holds many more than a batch touches.
    const unloaded = this.unloaded.get(table);
    if (unloaded) unloaded.push(slot);
    else this.unloaded.set(table, [slot]);
  }

  private async load(db: Queryable, stats: FoldStats) {
    for (const [table, missing] of this.unloaded) {
      this.unloaded.delete(table);
      const bucket = this.slots.get(table);
      if (!bucket) continue;
      // What the committing window changed there beyond its rows is visible once it committed.
      if (this.predecessor?.changedBeyondHeld(table)) await this.committedPredecessor();
      const sql = tableSql(table);
      const keys = JSON.stringify(missing.map((slot) => keyObject(table, slot.keyValues)));
      const { rows } = await db.query(keyedStatement(missing.length, [keys], sql.loadFew, sql.load));
      stats.statements++;
      for (const slot of missing) slot.loaded = true;
      for (const row of rows as BaseRow[]) {
        const slot = bucket.get(JSON.stringify(table.key.map((c) => (row as unknown as Record<string, unknown>)[c])));
        if (slot) slot.row = row;
      }
    }
  }
}

/**
 * Rows as the JSON json_to_recordset reads (the upsert: cheaper than jsonb's for whole rows, measured). A Buffer (a bytea column) becomes PostgreSQL's hex text form
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
