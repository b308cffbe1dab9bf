// Tombstones: "this instance/org/user/project was removed". With several topics Kafka orders events only
// within a topic, so a removal can be applied before a late add of the same entity; reducers of adds
// declare the tombstones they depend on (`unlessRemoved`) and skip the add when one exists.
import type { EventEnvelope } from "@idp/events";
import { baseColumns, col, defineTable, type RowOf } from "./columns.ts";
import type { FoldContext, RowRef } from "./projection.ts";

export type TombstoneKind = "instance" | "org" | "user" | "project" | "project_role" | "project_grant";

export const tombstonesTable = defineTable({
  name: "projector_tombstones",
  key: ["instance_id", "kind", "id"],
  columns: { ...baseColumns, kind: col.text, id: col.text },
});
export type TombstoneRow = RowOf<typeof tombstonesTable>;

export const tombstone = (kind: TombstoneKind, instanceId: string, id: string): RowRef => ({
  table: tombstonesTable,
  key: [instanceId, kind, id],
});

/** The tombstone of the event's instance. */
export const instanceTombstone = (e: EventEnvelope): RowRef[] => [tombstone("instance", e.instanceId, e.instanceId)];

/** The tombstones of the event's instance and of its resource owner (the org). */
export const ownerTombstones = (e: EventEnvelope): RowRef[] => [...instanceTombstone(e), tombstone("org", e.instanceId, e.resourceOwner)];

/** The tombstone row recording that `id` of `kind` was removed by `e`. */
export const tombstoneRow = (e: EventEnvelope, kind: TombstoneKind, id: string): TombstoneRow => ({
  instance_id: e.instanceId,
  kind,
  id,
  resource_owner: e.resourceOwner,
  change_date: e.createdAt,
  sequence: e.aggregateSequence,
});

/** True when any of the referenced entities has a tombstone (as of this point in the stream). */
export const anyRemoved = (ctx: FoldContext, refs: RowRef[]) => refs.some((r) => ctx.get(tombstonesTable, r.key) !== undefined);
