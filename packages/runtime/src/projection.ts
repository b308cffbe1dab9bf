// How a service declares its read model: tables, and per event type either a row reducer (pure:
// row before → row after) or a set-based SQL statement for reactions that touch many rows.
import type { AvroField, AvroRecordValue, EventDefinition, EventEnvelope, Position } from "@idp/events";

export type { Position };

export type ColumnType = "text" | "text[]" | "int2" | "int4" | "int8" | "bool" | "timestamptz" | "jsonb";

/** Columns every read-model row carries (DESIGN §4). */
export interface BaseRow {
  instance_id: string;
  resource_owner: string;
  change_date: Date;
  sequence: number;
}

export interface Table<Row extends BaseRow = BaseRow> {
  readonly name: string;
  /** Primary key columns; the first is always instance_id. Key columns are never updated. */
  readonly key: readonly (keyof Row & string)[];
  readonly columns: { readonly [K in keyof Row & string]: ColumnType };
}

export function defineTable<Row extends BaseRow>(t: Table<Row>): Table<Row> {
  if (t.key[0] !== "instance_id") throw new Error(`table ${t.name}: primary key must start with instance_id`);
  return t;
}

export interface ProjectedEvent<P = Record<string, unknown>> extends EventEnvelope {
  readonly payload: P;
  readonly position: Position;
}

export type KeyValues = readonly (string | number)[];

/** `undefined`: no change; `null`: delete the row; a row: insert or replace. */
export type RowResult<Row> = Row | null | undefined;

/** A row of another table a reducer needs (a lookup or tombstone fed by the same stream). */
export interface RowRef {
  readonly table: Table<never>;
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
  reads?: (e: E) => { table: Table<never>; key: KeyValues }[];
}

export interface SqlStatement {
  readonly text: string;
  readonly values: readonly unknown[];
}

/** A set-based reaction (e.g. "org removed → delete the org's rows"); it ends the current fold segment. */
export interface SqlHandler {
  readonly kind: "sql";
  readonly statements: (e: ProjectedEvent) => SqlStatement[];
}

export type Handler = RowHandler<never> | SqlHandler;

/** The key of the event's own aggregate row: (instance_id, aggregate id). */
export const aggregateKey = (e: ProjectedEvent): KeyValues => [e.instanceId, e.aggregateId];

/** The row with `patch` applied, stamped with the event's change date and aggregate sequence (one copy). */
export function touched<Row extends BaseRow>(row: Row, e: ProjectedEvent, patch?: Partial<Row>): Row {
  return { ...row, ...patch, change_date: e.createdAt, sequence: e.aggregateSequence };
}

export class Projection {
  private readonly handlers = new Map<string, Handler[]>();
  readonly tables: Table[] = [];

  constructor(readonly name: string) {}

  table<Row extends BaseRow>(t: Table<Row>): Table<Row> {
    this.tables.push(defineTable(t) as unknown as Table);
    return t;
  }

  /**
   * Reduce events into one row of `table` each (keyed by `key`, default the event's aggregate). With one
   * event definition the payload is typed from its Avro schema; with a list it is a plain record.
   */
  onRow<F extends readonly AvroField[], Row extends BaseRow>(
    event: EventDefinition<string, F>,
    table: Table<Row>,
    apply: (row: Row | undefined, e: ProjectedEvent<AvroRecordValue<F>>, ctx: FoldContext) => RowResult<Row>,
    opts?: RowOptions<ProjectedEvent<AvroRecordValue<F>>>,
  ): this;
  onRow<Row extends BaseRow>(
    events: readonly EventDefinition[],
    table: Table<Row>,
    apply: (row: Row | undefined, e: ProjectedEvent, ctx: FoldContext) => RowResult<Row>,
    opts?: RowOptions<ProjectedEvent>,
  ): this;
  onRow(
    events: EventDefinition | readonly EventDefinition[],
    table: Table<never>,
    apply: (row: never, e: never, ctx: FoldContext) => unknown,
    opts: RowOptions<never> = {},
  ): this {
    const handler = { kind: "row", table, key: opts.key ?? aggregateKey, reads: opts.reads, apply } as unknown as Handler;
    for (const d of asList(events)) this.add(d, handler);
    return this;
  }

  /** React with set-based SQL (unqualified table names: the service schema is on the search_path). */
  onSql<F extends readonly AvroField[]>(
    event: EventDefinition<string, F>,
    statements: (e: ProjectedEvent<AvroRecordValue<F>>) => SqlStatement[],
  ): this;
  onSql(events: readonly EventDefinition[], statements: (e: ProjectedEvent) => SqlStatement[]): this;
  onSql(events: EventDefinition | readonly EventDefinition[], statements: (e: never) => SqlStatement[]): this {
    const handler = { kind: "sql", statements } as unknown as Handler;
    for (const d of asList(events)) this.add(d, handler);
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

const asList = (x: EventDefinition | readonly EventDefinition[]): readonly EventDefinition[] =>
  Array.isArray(x) ? x : [x as EventDefinition];
