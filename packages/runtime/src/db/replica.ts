// The query API may read from a streaming replica (DATABASE_URL_QUERY). Its rows and the applied offsets
// replicate together, so read-your-writes positions read there are exactly what the replica shows; what
// readiness needs besides is whether the replica keeps up with the WAL it has received.
import type { Queryable } from "./pool.ts";

export interface ReplicaLag {
  /** The query database is a standby (in recovery). */
  replica: boolean;
  /** WAL received from the primary and not yet replayed. */
  behindBytes: number;
  /** How long replay has been behind without catching up (0 when it is not behind). */
  behindForMs: number;
  replayPaused: boolean;
}

const SAMPLE = `SELECT pg_is_in_recovery() AS replica,
  CASE WHEN pg_is_in_recovery() THEN coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0) ELSE 0 END::float8 AS behind,
  CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS paused`;

/** Samples the query database's replay state; remembers since when it has been behind. */
export class ReplicaLagProbe {
  private behindSince: number | undefined;
  private readonly db: Queryable;

  constructor(db: Queryable) {
    this.db = db;
  }

  /** True when the query database is a standby (checked once at start: the projector's local commits are not yet visible there). */
  async isReplica(): Promise<boolean> {
    return (await this.sample()).replica;
  }

  async sample(now = Date.now()): Promise<ReplicaLag> {
    const { rows } = await this.db.query(SAMPLE);
    const r = rows[0] as { replica: boolean; behind: number; paused: boolean };
    if (r.behind > 0) this.behindSince ??= now;
    else this.behindSince = undefined;
    return { replica: r.replica, behindBytes: r.behind, behindForMs: this.behindSince === undefined ? 0 : now - this.behindSince, replayPaused: r.paused };
  }
}
