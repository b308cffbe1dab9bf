// Tombstones: "this instance/org/user/project was removed". With several topics Kafka orders events only
// within a topic, so a removal can be applied before a late add of the same entity; reducers of adds
// declare the tombstones they depend on (`reads`) and skip the add when one exists.
import type { EventDefinition } from "@idp/events";
import { type BaseRow, type FoldContext, type ProjectedEvent, type Projection, type RowRef, defineTable } from "./projection.ts";

export type TombstoneKind = "instance" | "org" | "user" | "project" | "project_role" | "project_grant";

export interface TombstoneRow extends BaseRow {
  kind: string;
  id: string;
}

export const tombstonesTable = defineTable<TombstoneRow>({
  name: "projector_tombstones",
  key: ["instance_id", "kind", "id"],
  columns: {
    instance_id: "text",
    kind: "text",
    id: "text",
    resource_owner: "text",
    change_date: "timestamptz",
    sequence: "int8",
  },
});

export const tombstone = (kind: TombstoneKind, instanceId: string, id: string): RowRef => ({
  table: tombstonesTable as never,
  key: [instanceId, kind, id],
});

/** Records a tombstone when `event` is applied (id defaults to the event's aggregate id). */
export function markRemoved(
  projection: Projection,
  event: EventDefinition,
  kind: TombstoneKind,
  id: (e: ProjectedEvent) => string = (e) => e.aggregateId,
): void {
  projection.onRow(
    [event],
    tombstonesTable,
    (_row, e) => ({
      instance_id: e.instanceId,
      kind,
      id: id(e),
      resource_owner: e.resourceOwner,
      change_date: e.createdAt,
      sequence: e.aggregateSequence,
    }),
    { key: (e) => [e.instanceId, kind, id(e)] },
  );
}

/** True when any of the referenced entities has a tombstone (as of this point in the stream). */
export const anyRemoved = (ctx: FoldContext, refs: RowRef[]) =>
  refs.some((r) => ctx.get(tombstonesTable, r.key) !== undefined);
