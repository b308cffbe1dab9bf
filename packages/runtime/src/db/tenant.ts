import type pg from "pg";

/**
 * Runs read-only queries for one tenant: the instance is set as a transaction-local setting that the
 * row-level security policies read, so even a query that forgets its instance filter sees one tenant.
 */
export async function withTenant<T>(pool: pg.Pool, instanceId: string, fn: (db: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query("BEGIN READ ONLY");
    await client.query("SELECT set_config('app.instance_id', $1, true)", [instanceId]);
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
