// Reads for one tenant: the query role, the instance and the token's org set in the same round trip as
// the query, so row-level security applies even to a query that forgets its instance or org filter.
import type pg from "pg";
import type { Tenant } from "../http/auth.ts";

const queryRole = () => process.env.QUERY_DB_ROLE ?? "idp_query";

/** What the policies read: the instance, and the org of a token restricted to one (absent: the whole instance). */
export type TenantScope = Pick<Tenant, "instanceId" | "orgId">;

/**
 * Switch to the query role (row-level security applies: not the owner, no BYPASSRLS) and set the tenant.
 * app.org_id is always set, '' when the token has no org restriction, so nothing is inherited.
 */
function tenantSettings(client: pg.PoolClient, tenant: TenantScope, role: string | undefined): string {
  const settings = [
    role && `set_config('role', ${client.escapeLiteral(role)}, true)`,
    `set_config('app.instance_id', ${client.escapeLiteral(tenant.instanceId)}, true)`,
    `set_config('app.org_id', ${client.escapeLiteral(tenant.orgId ?? "")}, true)`,
  ];
  return `SELECT ${settings.filter(Boolean).join(", ")}`;
}

/**
 * Runs `fn` on a pooled client. After an error the client is rolled back, or discarded when that fails
 * or when its session state is unknown (`discardOnError`).
 */
async function onClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, discardOnError = false): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    return await fn(client);
  } catch (err) {
    broken =
      discardOnError ||
      (await client.query("ROLLBACK").then(
        () => false,
        () => true,
      ));
    throw err;
  } finally {
    client.release(broken);
  }
}

/**
 * Runs read-only queries for one tenant. In the same statement the transaction switches to the query role
 * and sets the instance and org the policies read, so even a query that forgets its instance or org
 * filter sees only this tenant's rows.
 */
export async function withTenant<T>(
  pool: pg.Pool,
  tenant: TenantScope,
  fn: (db: pg.PoolClient) => Promise<T>,
  role: string | undefined = queryRole(),
): Promise<T> {
  return onClient(pool, async (client) => {
    // One round trip: a simple-query string (no parameters), so the values go in as escaped literals.
    await client.query(`BEGIN READ ONLY; ${tenantSettings(client, tenant, role)}`);
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  });
}

export interface TenantStatement {
  text: string;
  values: readonly unknown[];
  /** Statements of a fixed shape (get by id) are prepared once per pooled connection under this name. */
  name?: string;
}

/** Names of the statements each pooled connection has prepared (they live as long as the connection). */
const preparedOn = new WeakMap<pg.PoolClient, Set<string>>();

/**
 * One read for one tenant in ONE round trip: set read-only, role and tenant, prepare (a named statement
 * only on first use on this connection), execute, as one simple-query string with the values as escaped
 * literals. PostgreSQL runs the statements of one such string as one implicit transaction, so the
 * settings (is_local) end with it: the guarantees of `withTenant` without BEGIN, COMMIT and its three
 * round trips. `Row` describes the statement's select list as pg returns it; it is the caller's word,
 * not checked at run time.
 */
export async function tenantRows<Row extends object = Record<string, unknown>>(
  pool: pg.Pool,
  tenant: TenantScope,
  statement: TenantStatement,
  role: string | undefined = queryRole(),
): Promise<Row[]> {
  return onClient(
    pool,
    async (client) => {
      const prepared = preparedOn.get(client) ?? new Set<string>();
      const name = client.escapeIdentifier(statement.name ? `tenant_${statement.name}` : "tenant_once");
      const args = statement.values.map((v) => sqlLiteral(client, v));
      const parts = [`${tenantSettings(client, tenant, role)}, set_config('transaction_read_only', 'on', true)`];
      if (!prepared.has(name)) parts.push(`PREPARE ${name} AS ${statement.text}`);
      const execute = parts.push(`EXECUTE ${name}${args.length ? `(${args.join(", ")})` : ""}`) - 1;
      if (!statement.name) parts.push(`DEALLOCATE ${name}`);
      const results = (await client.query(parts.join("; "))) as unknown as pg.QueryResult[];
      if (statement.name) preparedOn.set(client, prepared.add(name));
      return (results[execute] as pg.QueryResult<Row & pg.QueryResultRow>).rows;
    },
    true, // after a failure this client's prepared statements are unknown: discard it
  );
}

/** A parameter as an SQL literal, for the simple-query protocol (which has no parameters). */
function sqlLiteral(client: pg.PoolClient, v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "string") return client.escapeLiteral(v);
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Date) return client.escapeLiteral(v.toISOString());
  // An array goes as the text form of an array literal ('{"a","b"}'), typed by its parameter's cast.
  if (Array.isArray(v) && v.every((x) => typeof x === "string" || (typeof x === "number" && Number.isFinite(x)))) {
    return client.escapeLiteral(`{${v.map((x) => `"${String(x).replace(/["\\]/g, "\\$&")}"`).join(",")}}`);
  }
  throw new TypeError(`tenantRows: unsupported parameter ${JSON.stringify(v)?.slice(0, 40)}`);
}
