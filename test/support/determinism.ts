// Determinism: for random valid histories, the read model after live processing (random batch
// boundaries), after one replay from the start, after live processing with a suffix published twice, and
// after catching up through the write-behind window (random batch boundaries, flushed every few rows)
// must be identical. Runs through the real apply path against real PostgreSQL.
import type { EventToPublish } from "@idp/producer";
import type { ServiceDefinition } from "@idp/runtime";
import fc from "fast-check";
import { expect } from "vitest";
import { type ProjectionSpec, projectionSpec } from "./projection-spec.ts";

export interface DeterminismOptions {
  numRuns?: number;
  seed?: number;
}

/** Every row of every table of the spec's schema that belongs to instances starting with `prefix`. */
export async function dumpTables(spec: ProjectionSpec, prefix: string): Promise<Record<string, unknown[]>> {
  const { rows: tables } = await spec.pool.query(
    `SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
     WHERE c.table_schema = $1 AND c.column_name = 'instance_id' AND t.table_type = 'BASE TABLE'
       AND c.table_name NOT IN ('projector_aggregate_sequences', 'projector_parked_events', 'projector_instance_partitions')
     ORDER BY 1`,
    [spec.schema],
  );
  const out: Record<string, unknown[]> = {};
  for (const { table_name } of tables) {
    const { rows } = await spec.pool.query(`SELECT * FROM ${table_name} WHERE instance_id LIKE $1 || '%'`, [prefix]);
    // Instances are renamed per run; strip the prefix so the three runs compare equal, then order by the
    // whole row (the first columns alone can tie: two tokens of one user's method type).
    const stripped = rows.map((row) => JSON.stringify(row).replaceAll(prefix, "")).sort();
    out[table_name] = stripped.map((row) => JSON.parse(row));
  }
  return out;
}

const withPrefix = (events: EventToPublish[], prefix: string): EventToPublish[] =>
  events.map((e) => ({
    ...e,
    instanceId: prefix + e.instanceId,
    aggregateId: e.aggregateId === e.instanceId ? prefix + e.aggregateId : e.aggregateId,
    resourceOwner: e.resourceOwner === e.instanceId ? prefix + e.resourceOwner : e.resourceOwner,
  }));

/** Splits a list at the given cut points (sorted, deduplicated, within bounds). */
const chunks = <T>(xs: T[], cuts: number[]): T[][] => {
  const points = [...new Set(cuts.map((c) => c % (xs.length + 1)))].sort((a, b) => a - b);
  const out: T[][] = [];
  let from = 0;
  for (const p of [...points, xs.length]) {
    if (p > from) out.push(xs.slice(from, p));
    from = Math.max(from, p);
  }
  return out;
};

export async function checkDeterminism(def: ServiceDefinition, histories: fc.Arbitrary<EventToPublish[]>, opts: DeterminismOptions = {}): Promise<void> {
  const spec = await projectionSpec(def);
  let run = 0;
  try {
    await fc.assert(
      fc.asyncProperty(histories, fc.array(fc.nat(), { maxLength: 8 }), fc.nat(), async (history, cuts, suffixStart) => {
        run++;
        const live = `L${run}live.`;
        const replay = `R${run}replay.`;
        const dup = `D${run}dup.`;
        const behind = `W${run}behind.`;
        // Live: the stream arrives in batches with random boundaries.
        for (const batch of chunks(withPrefix(history, live), cuts)) await spec.given(...batch);
        // Replay: everything again from the start, in one batch.
        if (history.length) await spec.given(...withPrefix(history, replay));
        // Producer retries: a suffix of the stream is delivered a second time after the live run.
        const d = withPrefix(history, dup);
        for (const batch of chunks(d, cuts)) await spec.given(...batch);
        const from = history.length ? suffixStart % history.length : 0;
        if (history.length) await spec.given(...d.slice(from));

        // Catching up: batches folded into the write-behind window, written when it fills and at the end.
        for (const batch of chunks(withPrefix(history, behind), cuts)) await spec.givenBehind(...batch);
        await spec.flush();

        const [a, b, c, w] = await Promise.all([dumpTables(spec, live), dumpTables(spec, replay), dumpTables(spec, dup), dumpTables(spec, behind)]);
        expect(b).toEqual(a);
        expect(c).toEqual(a);
        expect(w).toEqual(a);
      }),
      { numRuns: opts.numRuns ?? 30, ...(opts.seed === undefined ? {} : { seed: opts.seed }) },
    );
  } finally {
    await spec.close();
  }
}
