// A read-model table is declared once, here in TypeScript: each column's PostgreSQL type and nullability,
// and the primary key. The row type is inferred from the columns, the fold's SQL is generated from them,
// and a test compares them with the migrated schema, so the three cannot drift apart.

export type ColumnType = "text" | "text[]" | "int2" | "int4" | "int8" | "bool" | "timestamptz" | "jsonb" | "bytea";

declare const valueType: unique symbol;

/** One column: its PostgreSQL type, whether it may be NULL, and (type-level only) its TypeScript value. */
export interface Column<T> {
  readonly sqlType: ColumnType;
  readonly notNull: boolean;
  readonly [valueType]?: T;
}

/** A NOT NULL column; `.nullable` is the same type allowing NULL. */
export interface RequiredColumn<T> extends Column<T> {
  readonly nullable: Column<T | null>;
}

const column = <T>(sqlType: ColumnType): RequiredColumn<T> => ({ sqlType, notNull: true, nullable: { sqlType, notNull: false } });

export const col = {
  text: column<string>("text"),
  textArray: column<string[]>("text[]"),
  int2: column<number>("int2"),
  int4: column<number>("int4"),
  /** Parsed as a JS number by the pool (read-model values stay below 2^53). */
  int8: column<number>("int8"),
  bool: column<boolean>("bool"),
  timestamptz: column<Date>("timestamptz"),
  jsonb: <T>() => column<T>("jsonb"),
  /** Buffers in rows; the fold writes them as PostgreSQL's hex text form inside its JSON. */
  bytea: column<Buffer>("bytea"),
};

/** Columns every read-model row carries. */
export interface BaseRow {
  instance_id: string;
  resource_owner: string;
  change_date: Date;
  sequence: number;
}

export const baseColumns = {
  instance_id: col.text,
  resource_owner: col.text,
  change_date: col.timestamptz,
  sequence: col.int8,
} as const;

/** The base columns of a row that stands for one aggregate: its id and creation date besides. */
export const aggregateColumns = { ...baseColumns, id: col.text, creation_date: col.timestamptz } as const;

export type ColumnsOf<Row> = { readonly [K in keyof Row]: Column<Row[K]> };
export type RowOfColumns<C> = { -readonly [K in keyof C]: C[K] extends Column<infer V> ? V : never };

declare const rowType: unique symbol;

export interface Table<Row extends BaseRow = BaseRow> {
  readonly name: string;
  /** Primary key columns; the first is always instance_id. Key columns are never updated. */
  readonly key: readonly (keyof Row & string)[];
  /** PostgreSQL type of each column (what the fold's jsonb_to_recordset declares). */
  readonly columns: { readonly [K in keyof Row & string]: ColumnType };
  /** Columns that may be NULL; every other column is NOT NULL. */
  readonly nullable: readonly (keyof Row & string)[];
  // Type-level only: carries the row type for RowOf (a method, so tables of any row fit Table<never>).
  [rowType]?(row: Row): void;
}

/** A table of any row type (what code that handles every table takes). */
export type AnyTable = Table<never>;

/** The row type of a declared table: `type UserRow = RowOf<typeof usersTable>`. */
export type RowOf<T> = T extends Table<infer Row> ? Row : never;

export interface TableSpec<C> {
  readonly name: string;
  readonly key: readonly (keyof C & string)[];
  readonly columns: C;
}

export function defineTable<const C extends ColumnsOf<BaseRow> & Readonly<Record<string, Column<unknown>>>>(
  spec: TableSpec<C>,
): Table<RowOfColumns<C> & BaseRow> {
  if (spec.key[0] !== "instance_id") throw new Error(`table ${spec.name}: primary key must start with instance_id`);
  const entries = Object.entries(spec.columns) as [string, Column<unknown>][];
  return {
    name: spec.name,
    key: spec.key,
    columns: Object.fromEntries(entries.map(([name, c]) => [name, c.sqlType])),
    nullable: entries.filter(([, c]) => !c.notNull).map(([name]) => name),
  } as unknown as Table<RowOfColumns<C> & BaseRow>;
}
