// One rebuild at a time per service, across processes: a PostgreSQL session advisory lock, held by a
// connection of its own for the whole job. A crashed process loses its session and with it the lock,
// so nothing needs cleaning up. The holder's application_name carries the job id, so a refused caller
// can say which job is running.
import { createHash } from "node:crypto";
import pg from "pg";
import type { Queryable } from "../db/pool.ts";
import { DomainError } from "../errors.ts";

// Namespace of the two-key advisory locks this runtime takes (the first key), so they cannot collide
// with single-key locks of other software on the same database.
const LOCK_NAMESPACE = 0x1d9_0001;
const APP_PREFIX = "idp-rebuild:";

/** The second key: 31 bits of a hash of the live schema name (one lock per service schema). */
const schemaKey = (schema: string) => createHash("sha1").update(`rebuild:${schema}`).digest().readInt32BE(0) & 0x7fffffff;

export class RebuildRunningError extends DomainError {
  readonly jobId: string | null;

  constructor(jobId: string | null) {
    super("conflict", "rebuild_running", `a rebuild of this service is already running${jobId ? ` (job ${jobId})` : ""}`);
    this.jobId = jobId;
  }
}

export class RebuildLock {
  private lost?: (err: Error) => void;
  private released = false;

  private readonly client: pg.Client;

  private constructor(client: pg.Client) {
    this.client = client;
    client.on("error", (err) => {
      if (!this.released) this.lost?.(err);
    });
    client.on("end", () => {
      if (!this.released) this.lost?.(new Error("the rebuild lock's connection closed"));
    });
  }

  /** Takes the service's rebuild lock for `jobId`, or throws RebuildRunningError naming the holder's job. */
  static async acquire(databaseUrl: string, schema: string, jobId: string): Promise<RebuildLock> {
    const client = new pg.Client({ connectionString: databaseUrl, application_name: `${APP_PREFIX}${jobId}`.slice(0, 63) });
    client.on("error", () => {}); // replaced by the lock's handler once taken
    await client.connect();
    try {
      const { rows } = await client.query("SELECT pg_try_advisory_lock($1, $2) AS ok", [LOCK_NAMESPACE, schemaKey(schema)]);
      if (!rows[0].ok) throw new RebuildRunningError(await holder(client, schema));
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    return new RebuildLock(client);
  }

  /** Called once if the lock's session dies while held (the lock is then free for others). */
  onLost(fn: (err: Error) => void): void {
    this.lost = fn;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    // Closing the session releases the lock; no unlock statement can be forgotten on an error path.
    await this.client.end().catch(() => {});
  }
}

/** The job id of the session holding the lock (null if it was released meanwhile or is not visible). */
async function holder(db: pg.Client, schema: string): Promise<string | null> {
  const { rows } = await db.query(
    `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::int::oid AND l.objid = $2::int::oid AND l.objsubid = 2`,
    [LOCK_NAMESPACE, schemaKey(schema)],
  );
  const name = rows[0]?.application_name as string | undefined;
  return name?.startsWith(APP_PREFIX) ? name.slice(APP_PREFIX.length) : null;
}

/** Serialises operator replays of the pool's schema across processes, until the transaction ends. */
export async function lockReplays(db: Queryable): Promise<void> {
  await db.query("SELECT pg_advisory_xact_lock($1, hashtext('replay:' || current_schema()))", [LOCK_NAMESPACE]);
}
