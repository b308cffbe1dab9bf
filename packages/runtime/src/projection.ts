// How a service declares its read model: tables, and per event type either a row reducer (pure:
// row before → row after) or a set-based SQL statement for reactions that touch many rows.
import type { AvroField, AvroRecordValue, EventDefinition, EventEnvelope, Position } from "@idp/events";
import { instanceRemoved } from "@idp/events";
import { type AnyTable, type BaseRow, type Column, type ColumnsOf, defineTable, type RowOfColumns, type Table, type TableSpec } from "./columns.ts";
import { quoteIdent } from "./fold.ts";
import { anyRemoved, type TombstoneKind, type TombstoneRow, tombstoneRow, tombstonesTable } from "./tombstones.ts";

export * from "./columns.ts";
export type { Position };

export interface ProjectedEvent<P = Record<string, unknown>> extends EventEnvelope {
  readonly payload: P;
  readonly position: Position;
}

export type KeyValues = readonly (string | number)[];

/** `undefined`: no change; `null`: delete the row; a row: insert or replace. */
export type RowResult<Row> = Row | null | undefined;

/** A row of another table a reducer needs (a lookup or tombstone fed by the same stream). */
export interface RowRef {
  readonly table: AnyTable;
  readonly key: KeyValues;
}

/** What a reducer may read besides its own row: only rows it declared in `reads`, as of this point in the stream. */
export interface FoldContext {
  get<R extends BaseRow>(table: Table<R>, key: KeyValues): R | undefined;
}

export interface RowHandler<Row extends BaseRow = BaseRow> {
  readonly kind: "row";
  readonly table: Table<Row>;
  readonly key: (e: ProjectedEvent) => KeyValues;
  readonly reads?: (e: ProjectedEvent) => RowRef[];
  readonly apply: (row: Row | undefined, e: ProjectedEvent, ctx: FoldContext) => RowResult<Row>;
}

export interface RowOptions<E> {
  /** The row's key; default the event's aggregate: [instance id, aggregate id]. */
  key?: (e: E) => KeyValues;
  /** Rows of other tables the reducer reads through `ctx.get` (loaded with the segment, in bulk). */
  reads?: (e: E) => RowRef[];
  /**
   * Tombstones that make the event a no-op when any exists (e.g. its instance or org was removed before
   * this late event arrived). They are read and checked by the runtime, so the reducer never sees them.
   */
  unlessRemoved?: (e: E) => RowRef[];
}

export interface SqlStatement {
  readonly text: string;
  readonly values: readonly unknown[];
}

/**
 * A set-based reaction (e.g. "org removed → delete the org's rows"). The fold defers it with the rows it
 * holds of the tables it touches (all tables, unless it names them) and runs it, after writing those rows,
 * before anything reads those tables again: sequential apply's order, with rows of other tables still
 * folded in memory across it.
 */
export interface SqlHandler {
  readonly kind: "sql";
  readonly statements: (e: ProjectedEvent) => SqlStatement[];
  /** Every table the statements read or write (the fold refuses a statement naming another). */
  readonly touches?: readonly string[];
}

export interface SqlOptions {
  /** Every table the statements read or write: lets the reaction run inside a fold segment that uses none of them. */
  touches?: readonly Pick<Table<never>, "name">[];
}

export type Handler = RowHandler<never> | SqlHandler;

/**
 * The event of one definition, or of any of a list: its payload is the union of the listed payloads, so
 * a reducer can use the fields they share (with their types) and no other without narrowing.
 */
export type EventOf<D> = D extends EventDefinition<string, infer F> ? ProjectedEvent<Payload<F>> : never;
/** The payload of an event with these Avro fields; a definition of unknown fields gives a plain record. */
type Payload<F extends readonly AvroField[]> = readonly AvroField[] extends F ? Record<string, unknown> : AvroRecordValue<F>;

/** The key of the event's own aggregate row: (instance_id, aggregate id). */
export const aggregateKey = (e: EventEnvelope): KeyValues => [e.instanceId, e.aggregateId];

/** The row with `patch` applied, stamped with the event's change date and aggregate sequence (one copy). */
export function touched<Row extends BaseRow>(row: Row, e: EventEnvelope, patch?: Partial<Row>): Row {
  return { ...row, ...patch, change_date: e.createdAt, sequence: e.aggregateSequence };
}

type CreatedColumns<Row> = Pick<Row, Extract<keyof Row, keyof BaseRow | "creation_date">>;

/**
 * The base columns of a row the event creates, and its creation date where the table has one. Given the
 * row that already exists (a second "added" of the aggregate), its creation date is kept: a row is
 * created once (its tenant keys are guarded by the database).
 */
export function created<Row extends BaseRow>(table: Table<Row>, e: EventEnvelope, existing?: Row): CreatedColumns<Row> {
  const base = { instance_id: e.instanceId, resource_owner: e.resourceOwner, change_date: e.createdAt, sequence: e.aggregateSequence };
  if (!("creation_date" in table.columns)) return base as CreatedColumns<Row>;
  const kept = (existing as { creation_date?: unknown } | undefined)?.creation_date;
  return { ...base, creation_date: kept ?? e.createdAt } as unknown as CreatedColumns<Row>;
}

/** Reducer of a removal: deletes the row if it exists. */
export const removeRow = <Row>(row: Row | undefined): RowResult<Row> => (row ? null : undefined);

/** Empty strings (and 0) are stored as NULL: the events use them for "not set". */
export const nullIfEmpty = <T>(v: T | null | undefined): T | null => (v ? v : null);

export class Projection {
  private readonly handlers = new Map<string, Handler[]>();
  readonly tables: Table[] = [];

  readonly name: string;

  constructor(name: string) {
    this.name = name;
  }

  /** Declares a table of this read model (row type inferred from the columns). */
  table<const C extends ColumnsOf<BaseRow> & Readonly<Record<string, Column<unknown>>>>(spec: TableSpec<C>): Table<RowOfColumns<C> & BaseRow> {
    const t = defineTable(spec);
    this.tables.push(t as unknown as Table);
    return t;
  }

  /**
   * Reduce events into one row of `table` each (keyed by `key`, default the event's aggregate). The
   * payload is typed from the definitions' Avro schemas (for a list: the fields they all share).
   */
  onRow<D extends EventDefinition, Row extends BaseRow>(
    events: readonly D[],
    table: Table<Row>,
    apply: (row: Row | undefined, e: EventOf<D>, ctx: FoldContext) => RowResult<Row>,
    opts?: RowOptions<EventOf<D>>,
  ): this;
  onRow<F extends readonly AvroField[], Row extends BaseRow>(
    events: EventDefinition<string, F>,
    table: Table<Row>,
    apply: (row: Row | undefined, e: ProjectedEvent<Payload<F>>, ctx: FoldContext) => RowResult<Row>,
    opts?: RowOptions<ProjectedEvent<Payload<F>>>,
  ): this;
  onRow(
    events: EventDefinition | readonly EventDefinition[],
    table: Table<never>,
    apply: (row: never, e: never, ctx: FoldContext) => unknown,
    options?: RowOptions<never>,
  ): this {
    // Handlers are stored untyped (one list per event type); the overloads above checked the types.
    const opts = (options ?? {}) as RowOptions<ProjectedEvent>;
    const reduce = apply as unknown as RowHandler["apply"];
    const { unlessRemoved, reads } = opts;
    const guarded: typeof reduce = unlessRemoved ? (row, e, ctx) => (anyRemoved(ctx, unlessRemoved(e)) ? undefined : reduce(row, e, ctx)) : reduce;
    const allReads = unlessRemoved ? (e: ProjectedEvent) => [...unlessRemoved(e), ...(reads?.(e) ?? [])] : reads;
    const handler = { kind: "row", table, key: opts.key ?? aggregateKey, reads: allReads, apply: guarded } as unknown as Handler;
    for (const d of asList(events)) this.add(d, handler);
    return this;
  }

  /** React with set-based SQL (unqualified table names: the service schema is on the search_path). */
  onSql<F extends readonly AvroField[]>(
    event: EventDefinition<string, F>,
    statements: (e: ProjectedEvent<Payload<F>>) => SqlStatement[],
    opts?: SqlOptions,
  ): this;
  onSql<D extends EventDefinition>(events: readonly D[], statements: (e: EventOf<D>) => SqlStatement[], opts?: SqlOptions): this;
  onSql(events: EventDefinition | readonly EventDefinition[], statements: (e: never) => SqlStatement[], opts?: SqlOptions): this {
    const touches = opts?.touches?.map((t) => t.name);
    const handler = { kind: "sql", statements, ...(touches ? { touches } : {}) } as unknown as Handler;
    for (const d of asList(events)) this.add(d, handler);
    return this;
  }

  /** Records a tombstone when `event` is applied (id defaults to the event's aggregate id). */
  markRemoved<F extends readonly AvroField[]>(event: EventDefinition<string, F>, kind: TombstoneKind, id?: (e: ProjectedEvent<Payload<F>>) => string): this {
    const idOf = (id ?? ((e: EventEnvelope) => e.aggregateId)) as unknown as (e: ProjectedEvent) => string;
    const handler: RowHandler<TombstoneRow> = {
      kind: "row",
      table: tombstonesTable,
      key: (e) => [e.instanceId, kind, idOf(e)],
      apply: (_row, e) => tombstoneRow(e, kind, idOf(e)),
    };
    this.add(event, handler as unknown as Handler);
    return this;
  }

  /**
   * instance.removed deletes the instance's rows of every table of this projection (the list is read
   * when the event is applied, so tables declared later are covered too) and records the tombstone.
   */
  cascadeInstanceRemoval(): this {
    this.markRemoved(instanceRemoved, "instance");
    const statements = (e: ProjectedEvent) =>
      this.tables.map((t) => ({ text: `DELETE FROM ${quoteIdent(t.name)} WHERE instance_id = $1`, values: [e.instanceId] }));
    this.add(instanceRemoved, { kind: "sql", statements });
    return this;
  }

  handlersFor(eventType: string): readonly Handler[] | undefined {
    return this.handlers.get(eventType);
  }

  /** Event types (including v1 aliases) this projection reads; every other record is skipped undecoded. */
  eventTypes(): string[] {
    return [...this.handlers.keys()];
  }

  private add(d: EventDefinition, handler: Handler) {
    for (const type of [d.type, ...d.aliases]) {
      const list = this.handlers.get(type) ?? [];
      list.push(handler);
      this.handlers.set(type, list);
    }
  }
}

const asList = (x: EventDefinition | readonly EventDefinition[]): readonly EventDefinition[] => (Array.isArray(x) ? x : [x as EventDefinition]);
