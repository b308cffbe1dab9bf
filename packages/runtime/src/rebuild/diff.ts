// Dry-run rebuilds: how the rebuilt rows differ from the live ones, per read-model table, by primary key.
import type pg from "pg";
import { quoteIdent as q } from "../fold.ts";
import { readModelTables } from "../store/tables.ts";

export interface TableDiff {
  table: string;
  added: number;
  changed: number;
  removed: number;
}

/** Rows added, changed and removed per read-model table if the shadow replaced the live rows (of one instance, if given). */
export async function diffSchemas(pool: pg.Pool, live: string, shadow: string, instanceId?: string): Promise<TableDiff[]> {
  const out: TableDiff[] = [];
  for (const table of await readModelTables(pool, live)) {
    const { rows: pk } = await pool.query(
      `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
       WHERE i.indrelid = $1::regclass AND i.indisprimary`,
      [`${q(live)}.${q(table)}`],
    );
    const key = pk.map((r) => q(r.attname)).join(", ");
    const scope = instanceId === undefined ? "" : " WHERE instance_id = $1";
    const args = instanceId === undefined ? [] : [instanceId];
    const s = `(SELECT * FROM ${q(shadow)}.${q(table)}${scope})`;
    const l = `(SELECT * FROM ${q(live)}.${q(table)}${scope})`;
    const { rows } = await pool.query(
      `SELECT
         (SELECT count(*) FROM ${s} n WHERE (${key}) NOT IN (SELECT ${key} FROM ${l} o))::int AS added,
         (SELECT count(*) FROM ${l} o WHERE (${key}) NOT IN (SELECT ${key} FROM ${s} n))::int AS removed,
         (SELECT count(*) FROM (SELECT * FROM ${s} x EXCEPT SELECT * FROM ${l} y) d WHERE (${key}) IN (SELECT ${key} FROM ${l} o))::int AS changed`,
      args,
    );
    out.push({ table, added: rows[0].added, changed: rows[0].changed, removed: rows[0].removed });
  }
  return out;
}
