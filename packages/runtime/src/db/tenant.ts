import type pg from "pg";

/**
 * Runs read-only queries for one tenant. In the same statement the transaction switches to the query role
 * (subject to row-level security: not the owner, no BYPASSRLS) and sets the instance the policies read,
 * so even a query that forgets its instance filter sees only this tenant's rows.
 */
export async function withTenant<T>(
  pool: pg.Pool,
  instanceId: string,
  fn: (db: pg.PoolClient) => Promise<T>,
  role: string | undefined = process.env.QUERY_DB_ROLE ?? "idp_query",
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    // One round trip: a simple-query string (no parameters), so the values go in as escaped literals.
    const settings = [role && `set_config('role', ${client.escapeLiteral(role)}, true)`, `set_config('app.instance_id', ${client.escapeLiteral(instanceId)}, true)`];
    await client.query(`BEGIN READ ONLY; SELECT ${settings.filter(Boolean).join(", ")}`);
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
