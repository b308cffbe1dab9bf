// Keyset pagination, declared once per list: the sortable fields, the tie-breaker that makes the order
// total, the select list and FROM clause. The list builds the SQL (select list plus the key columns,
// keyset condition, ORDER BY, LIMIT) and encodes and checks the cursor; routes only add their filters.
import type pg from "pg";
import { z } from "zod";
import type { Tenant } from "../http/auth.ts";
import { type CursorKeys, decodeCursor, encodeCursor, invalidCursor } from "./cursor.ts";
import { pageQuery } from "./params.ts";
import { tenantRows } from "./tenant-read.ts";
import type { Param, SqlWhere } from "./where.ts";

/** How a key value travels in a cursor (always as text) and is compared in SQL. */
export type KeyKind = "text" | "int" | "timestamp";

/** A key column: a NON-NULL SQL expression (keyset comparison needs a total order) and its kind. */
export interface KeyColumn {
  readonly sql: string;
  readonly kind: KeyKind;
}

export interface KeysetSpec<S extends string> {
  /** Names the list in its cursors: a cursor of one list is never valid for another. */
  name: string;
  /** The select list, without SELECT. */
  columns: string;
  /** The FROM clause (tables and joins), without FROM. */
  from: string;
  sorts: Readonly<Record<S, KeyColumn>>;
  /** Columns after the sort value that make the order total: the row's key within its tenant. */
  tieBreaker: readonly [KeyColumn, ...KeyColumn[]];
}

export interface PageParams<S extends string> {
  sort: S;
  order: "asc" | "desc";
  limit: number;
  cursor?: string | undefined;
}

export interface Page<Row> {
  rows: Row[];
  nextCursor: string | null;
}

// Timestamps as text in UTC with microseconds: exact, and independent of the session's time zone.
const TIMESTAMP_TEXT = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;
const asText: Record<KeyKind, (sql: string) => string> = {
  text: (sql) => `(${sql})::text`,
  int: (sql) => `(${sql})::int8::text`,
  timestamp: (sql) => `to_char((${sql}) AT TIME ZONE 'UTC', ${TIMESTAMP_TEXT})`,
};
const bound: Record<KeyKind, (p: Param, v: string) => string> = {
  text: (p, v) => `${p(v)}::text`,
  int: (p, v) => `${p(v)}::int8`,
  timestamp: (p, v) => `${p(v)}::timestamptz`,
};

const INT8 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{6}Z$/;

/** Whether a decoded key value is one PostgreSQL accepts for its kind: a forged value is a 400, never an SQL error. */
export function validKeyValue(kind: KeyKind, v: string): boolean {
  if (kind === "text") return !v.includes("\u0000");
  if (kind === "int") return /^-?\d{1,19}$/.test(v) && BigInt(v) >= INT8.min && BigInt(v) <= INT8.max;
  const m = TIMESTAMP.exec(v);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day); // not Date.UTC, which reads years 0 to 99 as 1900 to 1999
  d.setUTCHours(hour, minute, second);
  // Year 1 to 9999, and a real calendar time (no 13th month, no 30 February, no 25th hour).
  return (
    year >= 1 &&
    d.getUTCFullYear() === year &&
    d.getUTCMonth() === month - 1 &&
    d.getUTCDate() === day &&
    d.getUTCHours() === hour &&
    d.getUTCMinutes() === minute &&
    d.getUTCSeconds() === second
  );
}

type KeyValues = { [k: `keyset_${number}`]: string };

export class Keyset<S extends string> {
  readonly sortNames: [S, ...S[]];

  readonly spec: KeysetSpec<S>;

  constructor(spec: KeysetSpec<S>) {
    this.spec = spec;
    this.sortNames = Object.keys(spec.sorts) as [S, ...S[]];
  }

  /** The list's query parameters: `sort` (with this default), `limit`, `cursor`, `order`. */
  params(defaultSort: S) {
    return { sort: z.enum(this.sortNames).default(defaultSort), ...pageQuery };
  }

  /** Reads pages from this pool, with cursors signed by these keys. */
  reader(db: pg.Pool, cursorKeys: CursorKeys) {
    return <Row extends object>(tenant: Tenant, q: PageParams<S> & Record<string, unknown>, where: SqlWhere) =>
      this.read<Row>(db, cursorKeys, tenant, q, where);
  }

  /**
   * One page of the list for the tenant: `where` holds the tenant scope and the route's filters (`q` has
   * them too: a cursor is only valid with the filters that produced it).
   */
  async read<Row extends object>(
    db: pg.Pool,
    cursorKeys: CursorKeys,
    tenant: Tenant,
    q: PageParams<S> & Record<string, unknown>,
    where: SqlWhere,
  ): Promise<Page<Row>> {
    const { name, columns, from, sorts, tieBreaker } = this.spec;
    const keys = [sorts[q.sort], ...tieBreaker];
    const ctx = { list: name, sort: q.sort, order: q.order, tenant, query: q };
    if (q.cursor) {
      const values = decodeCursor(cursorKeys, q.cursor, ctx);
      // Signed by us, so well-formed unless a key leaked: checked anyway, nothing unchecked reaches SQL.
      if (values.length !== keys.length || keys.some((k, i) => !validKeyValue(k.kind, values[i] as string))) throw invalidCursor("cursor is malformed");
      const cmp = q.order === "asc" ? ">" : "<";
      where.add((p) => `(${keys.map((k) => k.sql).join(", ")}) ${cmp} (${keys.map((k, i) => bound[k.kind](p, values[i] as string)).join(", ")})`);
    }
    const keyColumns = keys.map((k, i) => `${asText[k.kind](k.sql)} AS keyset_${i}`).join(", ");
    const orderBy = keys.map((k) => `${k.sql} ${q.order}`).join(", ");
    const text = `SELECT ${columns}, ${keyColumns} FROM ${from}${where.sql()} ORDER BY ${orderBy} LIMIT ${q.limit + 1}`;
    const rows = await tenantRows<Row & KeyValues>(db, tenant, { text, values: where.values });
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    const nextCursor =
      rows.length > q.limit && last
        ? encodeCursor(
            cursorKeys,
            ctx,
            keys.map((_, i) => last[`keyset_${i}`] ?? ""),
          )
        : null;
    return { rows: page, nextCursor };
  }
}

/** The body of a list response: one page of items and the cursor of the next page (null on the last). */
export const pageSchema = <T extends z.ZodType>(item: T) => z.object({ result: z.array(item), nextCursor: z.string().nullable() });

/** Declares a keyset-paginated list. */
export const keyset = <S extends string>(spec: KeysetSpec<S>) => new Keyset(spec);
