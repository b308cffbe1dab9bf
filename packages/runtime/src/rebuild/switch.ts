// Schema switches of a rebuild, each one transaction. Full: the shadow schema is renamed into the live
// name (the old live schema is kept for rollback). Single instance: the tenant's rows are swapped under
// the lock of the live partitions' offsets, while the other tenants keep flowing.
import type pg from "pg";
import { withTransaction } from "../db/pool.ts";
import { classifyError, DomainError } from "../errors.ts";
import { quoteIdent as q } from "../fold.ts";
import type { TopicPartition } from "../kafka/port.ts";
import { copyAuditLog } from "../store/audit.ts";
import { lockOffsets, offsetMap, touchOffsets } from "../store/offsets.ts";
import { instanceRows, tenantTables } from "../store/tables.ts";

/** A name for a schema that stops being live now: `<live>_old_<UTC timestamp>[suffix]`. */
const oldName = (live: string, suffix = "") => `${live}_old_${new Date().toISOString().replace(/\D/g, "").slice(0, 14)}${suffix}`;

export function assertOldSchema(live: string, schema: string): void {
  if (!schema.startsWith(`${live}_old_`)) throw new DomainError("invalid", "invalid_argument", `${schema} is not an old schema of ${live}`);
}

/**
 * Swaps the shadow in for the live schema by renaming both; returns the old schema's new name. Batches
 * blocked on the offsets lock resume after the commit against the new schema, whose own offsets
 * (compare-and-set) decide what they still apply.
 */
export async function switchFull(pool: pg.Pool, live: string, shadow: string): Promise<string> {
  const old = oldName(live);
  await withTransaction(pool, async (db) => {
    await lockOffsets(db, live);
    await copyAuditLog(db, live, shadow, "fresh");
    await db.query(`ALTER SCHEMA ${q(live)} RENAME TO ${q(old)}`);
    await db.query(`ALTER SCHEMA ${q(shadow)} RENAME TO ${q(live)}`);
  });
  return old;
}

/** Puts an old schema back in place of the live one, which is kept as old (suffix r). */
export async function switchBack(pool: pg.Pool, live: string, oldSchema: string): Promise<string> {
  assertOldSchema(live, oldSchema);
  const keptAs = oldName(live, "r");
  await withTransaction(pool, async (db) => {
    const exists = await db.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [oldSchema]);
    if (!exists.rowCount) throw new DomainError("not_found", "not_found", `schema ${oldSchema} not found`);
    await lockOffsets(db, live); // as in switchFull
    await copyAuditLog(db, live, oldSchema, "merge");
    await db.query(`ALTER SCHEMA ${q(live)} RENAME TO ${q(keptAs)}`);
    await db.query(`ALTER SCHEMA ${q(oldSchema)} RENAME TO ${q(live)}`);
  });
  return keptAs;
}

export interface InstanceSwitch {
  live: string;
  shadow: string;
  projection: string;
  instanceId: string;
  /** The live partitions holding the instance's events. */
  parts: TopicPartition[];
  /** Brings the shadow up to the live offsets (applying only this tenant's events). */
  catchUp: () => Promise<void>;
}

/** Replaces one instance's rows with the shadow's, while its live partitions are locked. */
export async function switchInstance(pool: pg.Pool, s: InstanceSwitch): Promise<void> {
  const tables = await tenantTables(pool, s.live);
  const key = (p: TopicPartition) => `${p.topic}/${p.partition}`;
  for (let attempt = 0; ; attempt++) {
    // A live projector's write-behind window may hold locks on the tenant's rows while this waits on them
    // and it waits on the offsets locked here: PostgreSQL breaks the deadlock, and the loser tries again.
    const swapped = await withTransaction(pool, async (db): Promise<boolean | "retry"> => {
      const liveOffsets = await offsetMap(db, s.projection, { schema: s.live, lock: true });
      const shadowOffsets = await offsetMap(db, s.projection, { schema: s.shadow });
      // The live projection moved on meanwhile: nothing is written, the shadow catches up first.
      if (s.parts.some((p) => (shadowOffsets.get(key(p)) ?? 0n) < (liveOffsets.get(key(p)) ?? 0n))) return false;
      // Events the shadow applied beyond the live position are dropped later by the live projector's
      // aggregate-sequence guard, because the sequences are swapped too.
      for (const t of tables) {
        const { where, args } = instanceRows(t, s.instanceId, s.projection);
        await db.query(`DELETE FROM ${q(s.live)}.${q(t)} WHERE ${where}`, args);
        await db.query(`INSERT INTO ${q(s.live)}.${q(t)} SELECT * FROM ${q(s.shadow)}.${q(t)} WHERE ${where}`, args);
      }
      // Rows a live projector folded but has not written yet would overwrite the swapped ones: its flush now starts over.
      await touchOffsets(db, s.projection, s.parts, s.live);
      return true;
    }).catch((err) => {
      if (classifyError(err) !== "transient" || attempt > 20) throw err;
      return "retry" as const;
    });
    if (swapped === true) return;
    if (attempt > 20) throw new Error("the shadow could not catch up with the live partition");
    if (swapped === false) await s.catchUp();
  }
}
