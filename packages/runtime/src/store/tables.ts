// Which tables of a service schema hold tenant rows: what a single-instance rebuild swaps and what a
// dry-run diff compares. Bookkeeping tables are the runtime's (projector_*); parked events are kept out
// of a swap, since they belong to the live stream, not to a replay.
import type { Queryable } from "../db/pool.ts";

const SEQUENCES = "projector_aggregate_sequences";

const isBookkeeping = (table: string) => table.startsWith("projector_");

/** Base tables with an instance_id column: read-model tables, tombstones and aggregate sequences. */
export async function tenantTables(db: Queryable, schema: string): Promise<string[]> {
  const { rows } = await db.query(
    `SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
     WHERE c.table_schema = $1 AND c.column_name = 'instance_id' AND t.table_type = 'BASE TABLE'
       AND c.table_name NOT IN ('projector_parked_events') ORDER BY 1`,
    [schema],
  );
  return rows.map((r) => r.table_name as string);
}

/** The read-model tables only (what a diff reports). */
export async function readModelTables(db: Queryable, schema: string): Promise<string[]> {
  return (await tenantTables(db, schema)).filter((t) => !isBookkeeping(t));
}

/** Selects one instance's rows of a tenant table; the aggregate sequences are per projection too. */
export function instanceRows(table: string, instanceId: string, projection: string): { where: string; args: string[] } {
  return table === SEQUENCES
    ? { where: "instance_id = $1 AND projection = $2", args: [instanceId, projection] }
    : { where: "instance_id = $1", args: [instanceId] };
}
