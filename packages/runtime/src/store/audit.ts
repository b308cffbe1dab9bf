// projector_audit_log: who did which operator action, with what outcome. A rebuild switch carries the log
// over into the schema that becomes live, so it survives rebuilds and rollbacks.
import type { Queryable } from "../db/pool.ts";
import { quoteIdent } from "../fold.ts";

export interface AuditEntry {
  actor: string;
  action: string;
  params: unknown;
  outcome: unknown;
}

export async function writeAudit(db: Queryable, e: AuditEntry): Promise<void> {
  await db.query("INSERT INTO projector_audit_log (actor, action, params, outcome) VALUES ($1, $2, $3, $4)", [
    e.actor,
    e.action,
    JSON.stringify(e.params ?? {}),
    JSON.stringify(e.outcome ?? {}),
  ]);
}

/** Newest first. */
export async function listAudit(db: Queryable, limit: number): Promise<Record<string, unknown>[]> {
  const { rows } = await db.query("SELECT id, at, actor, action, params, outcome FROM projector_audit_log ORDER BY id DESC LIMIT $1", [limit]);
  return rows;
}

/**
 * Copies the log of one schema into another before they are swapped. "fresh": the target is a new
 * shadow with an empty log, whose id sequence is then moved past the copied ids; "merge": the target (an
 * old schema being restored) already holds the older part of the log, and the entries it has are kept.
 */
export async function copyAuditLog(db: Queryable, from: string, to: string, mode: "fresh" | "merge"): Promise<void> {
  const source = `${quoteIdent(from)}.projector_audit_log`;
  const target = `${quoteIdent(to)}.projector_audit_log`;
  if (mode === "merge") {
    await db.query(`INSERT INTO ${target} SELECT * FROM ${source} ON CONFLICT (id) DO NOTHING`);
    return;
  }
  await db.query(`INSERT INTO ${target} SELECT * FROM ${source}`);
  await db.query(`SELECT setval(pg_get_serial_sequence($1, 'id'), coalesce((SELECT max(id) FROM ${target}), 1))`, [`${to}.projector_audit_log`]);
}
