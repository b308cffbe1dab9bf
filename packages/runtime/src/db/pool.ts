import { createHash } from "node:crypto";
import pg from "pg";

/** What a query needs: a pool or a client inside a transaction. */
export interface Queryable {
  query(text: string | pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult>;
}

const statementNames = new Map<string, string>();

/**
 * A statement of fixed text as a named prepared statement: parsed and planned once per connection
 * instead of on every call (planning was most of a small batch's statement time). Only for texts from a
 * bounded set (each stays prepared on every pooled connection), and only with explicit result columns
 * (`SELECT *` would fail once a migration adds a column under a live connection).
 */
export function prepared(text: string, values: unknown[]): { name: string; text: string; values: unknown[] } {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = createHash("sha1").update(text).digest("base64url");
    statementNames.set(text, name);
  }
  return { name, text, values };
}

const INT8_OID = 20;
// Read-model sequences are int8 but far below 2^53; converting them keeps rows JSON-friendly. Kafka
// offsets are also int8 but are always selected as ::text by the runtime, never through this parser.
const types = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === INT8_OID) {
      return (v: string) => {
        const n = Number(v);
        if (!Number.isSafeInteger(n)) throw new Error(`int8 value ${v} exceeds 2^53; select it as text`);
        return n;
      };
    }
    return pg.types.getTypeParser(oid, format as "text");
  }) as typeof pg.types.getTypeParser,
};

export interface PoolOptions {
  connectionString: string;
  /** Every connection gets this search_path: the service's own schema first. */
  schema?: string;
  max?: number;
  /** Connections kept open when idle (by default every idle connection closes after 10 s). */
  min?: number;
  applicationName?: string;
}

export function createPool(opts: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max ?? 10,
    min: opts.min ?? 0,
    application_name: opts.applicationName ?? "idp-projector",
    types,
    ...(opts.schema ? { options: `-c search_path=${opts.schema},public` } : {}),
  });
  // A connection the server drops (pg_terminate_backend, restart) emits 'error': on the pool when idle, on
  // the client while checked out (pg-pool detaches its listener then). Unhandled, either would exit the
  // process; handled, the next query fails ("not queryable"), which is transient and retried.
  pool.on("error", () => {});
  pool.on("connect", (client) => client.on("error", () => {}));
  return pool;
}

export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query("BEGIN");
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    broken = await client.query("ROLLBACK").then(
      () => false,
      () => true,
    );
    throw err;
  } finally {
    client.release(broken);
  }
}

/** Schema names are interpolated into DDL, so they are restricted to plain identifiers. */
export function assertIdentifier(name: string, what = "identifier"): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid ${what} ${JSON.stringify(name)}: use [a-z_][a-z0-9_]*`);
  return name;
}
