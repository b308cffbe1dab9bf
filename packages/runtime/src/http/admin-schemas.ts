// Response schemas of the admin API (admin.ts), for its OpenAPI document. Names (`id`) make them
// components; dates are ISO strings, Kafka offsets decimal strings.
import { z } from "zod";

const offset = z.string().describe("Kafka offset (decimal string)");
const date = z.string().describe("RFC 3339");

const progress = z.object({
  applied: z.number().describe("events of the relevant partitions committed in the shadow schema"),
  read: z.number().describe("events read so far, committed or still in the write-behind window (ahead of applied while catching up)"),
  target: z.number(),
  ratio: z.number(),
  eventsPerSecond: z.number(),
  etaSeconds: z.number().nullable(),
});

export const rebuildStatusSchema = z
  .object({
    id: z.string().describe("the job's id; a refused second rebuild names it"),
    kind: z.enum(["full", "instance"]),
    instanceId: z.string().optional(),
    dryRun: z.boolean(),
    state: z.enum(["running", "switching", "done", "failed"]),
    shadowSchema: z.string(),
    startedAt: date,
    finishedAt: date.optional(),
    progress,
    oldSchema: z.string().optional().describe("full rebuild: the previous live schema, kept for rollback"),
    diff: z.array(z.object({ table: z.string(), added: z.number(), changed: z.number(), removed: z.number() })).optional(),
    error: z.string().optional(),
  })
  .meta({ id: "RebuildStatus" });

export const projectionStatusSchema = z
  .object({
    projection: z.string(),
    consuming: z.boolean(),
    paused: z.boolean(),
    rebuild: rebuildStatusSchema.nullable(),
    shadows: z.array(z.string()).describe("shadow schemas of an interrupted rebuild"),
    oldSchemas: z.array(z.string()).describe("old schemas kept for rollback"),
    partitions: z.array(
      z.object({
        topic: z.string(),
        partition: z.number(),
        nextOffset: offset,
        endOffset: offset.nullable(),
        lag: z.number().nullable(),
        appliedEvents: z.string(),
        updatedAt: date,
        logMismatch: z.string().nullable().describe("why the partition is stopped; null when it is not"),
      }),
    ),
    parkedEvents: z.number(),
  })
  .meta({ id: "ProjectionStatus" });

export const instanceLagSchema = z
  .object({ instanceId: z.string(), topics: z.array(z.object({ topic: z.string(), partition: z.number(), lag: z.number() })) })
  .meta({ id: "InstanceLag" });

export const pausedSchema = z.object({ paused: z.boolean() }).meta({ id: "PauseState" });

export const replayResultSchema = z
  .object({ moved: z.array(z.object({ topic: z.string(), partition: z.number(), from: offset.nullable(), to: offset })) })
  .meta({ id: "ReplayResult" });

export const rollbackResultSchema = z.object({ restored: z.string(), keptAs: z.string() }).meta({ id: "RollbackResult" });
export const droppedSchema = z.object({ dropped: z.string() });

export const retryResultSchema = z
  .object({
    applied: z.array(z.number()).describe("parked events applied, in stream order"),
    duplicates: z.array(z.number()).describe("parked events already applied meanwhile"),
    failed: z.object({ id: z.number(), error: z.string() }).optional().describe("the event that failed again"),
  })
  .meta({ id: "ParkedRetryResult" });

const parkedFields = {
  id: z.number(),
  topic: z.string(),
  partition: z.number(),
  offset,
  instance_id: z.string().nullable(),
  aggregate_type: z.string().nullable(),
  aggregate_id: z.string().nullable(),
  aggregate_sequence: z.number().nullable(),
  event_type: z.string().nullable(),
  error: z.string().describe("the first error"),
  last_error: z.string().nullable().describe("the latest error (a replay or a retry)"),
  attempts: z.number(),
  blocked_by: z.number().nullable().describe("the earlier parked event of the aggregate this one waits behind"),
  blocking: z.boolean(),
  status: z.enum(["parked", "applied", "skipped"]),
  parked_at: date,
  resolved_at: date.nullable(),
};

export const parkedEventSchema = z.object(parkedFields).meta({ id: "ParkedEvent" });
export const parkedEventDetailSchema = z
  .object({
    ...parkedFields,
    headers: z.record(z.string(), z.unknown()).describe("the record's headers, as text"),
    header_bytes: z
      .array(z.tuple([z.string(), z.string()]))
      .nullable()
      .describe("[name, base64 value] pairs in wire order; null for events parked before the bytes were kept"),
    record_key_base64: z.string().nullable().describe("the record's key, base64"),
  })
  .meta({ id: "ParkedEventWithHeaders" });
export const parkedListSchema = z.object({ result: z.array(parkedEventSchema) });

export const skippedSchema = z.object({
  skipped: z.object({
    id: z.number(),
    instance_id: z.string().nullable(),
    aggregate_type: z.string().nullable(),
    aggregate_id: z.string().nullable(),
    aggregate_sequence: z.number().nullable(),
  }),
});

export const auditListSchema = z.object({
  result: z.array(
    z.object({ id: z.number(), at: date, actor: z.string(), action: z.string(), params: z.unknown(), outcome: z.unknown() }).meta({ id: "AuditEntry" }),
  ),
});
