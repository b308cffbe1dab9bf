// Versioned SQL migrations per service schema: checksummed, recorded, applied once each, in order.
// An applied migration whose file was edited or deleted stops the service: schema drift must be loud.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type pg from "pg";
import { assertIdentifier, withTransaction } from "./pool.ts";

export interface Migration {
  /** Unique id, e.g. "runtime/001_offsets" or "users/001_users". */
  id: string;
  sql: string;
}

export class MigrationError extends Error {
  override readonly name = "MigrationError";
}

/** Reads `NNN_name.sql` files of a folder, in order, with ids prefixed by `source`. */
export function loadMigrations(source: string, dir: string): Migration[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort();
  const seen = new Set<string>();
  return files.map((f) => {
    const m = /^(\d{3,})_[a-z0-9_]+\.sql$/.exec(f);
    if (!m) throw new MigrationError(`${dir}/${f}: migration files must be named NNN_snake_case.sql`);
    if (seen.has(m[1] as string)) throw new MigrationError(`${dir}: two migrations numbered ${m[1]}`);
    seen.add(m[1] as string);
    return { id: `${source}/${f.replace(/\.sql$/, "")}`, sql: readFileSync(join(dir, f), "utf8") };
  });
}

const checksum = (sql: string) => createHash("sha256").update(sql).digest("hex");

export interface MigrateResult {
  applied: string[];
  alreadyApplied: number;
}

/**
 * Applies pending migrations into `schema` (created if missing). `{{schema}}` in a migration is replaced
 * by the schema name (for grants and policies that must name it).
 */
export async function migrate(pool: pg.Pool, schema: string, migrations: Migration[]): Promise<MigrateResult> {
  assertIdentifier(schema, "schema name");
  return withTransaction(pool, async (db) => {
    // One migrator per schema at a time, across processes.
    await db.query("SELECT pg_advisory_xact_lock(hashtext('idp-migrate'), hashtext($1))", [schema]);
    await db.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await db.query(`SET LOCAL search_path TO ${schema}, public`);
    await db.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await db.query("SELECT id, checksum FROM schema_migrations ORDER BY id");
    const known = new Map(migrations.map((m) => [m.id, m]));
    for (const r of rows as { id: string; checksum: string }[]) {
      const m = known.get(r.id);
      if (!m) throw new MigrationError(`migration ${r.id} is applied in schema ${schema} but missing from the code`);
      if (checksum(m.sql) !== r.checksum) {
        throw new MigrationError(`migration ${r.id} was edited after it was applied (checksum mismatch); add a new migration instead`);
      }
    }
    const done = new Set((rows as { id: string }[]).map((r) => r.id));
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      await db.query(m.sql.replaceAll("{{schema}}", schema));
      await db.query("INSERT INTO schema_migrations (id, checksum) VALUES ($1, $2)", [m.id, checksum(m.sql)]);
      applied.push(m.id);
    }
    return { applied, alreadyApplied: done.size };
  });
}
