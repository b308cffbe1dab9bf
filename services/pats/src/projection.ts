// Personal access tokens read model (ZITADEL personal_access_tokens3): one row per token with its user,
// expiration and scopes. The events carry no token material, so none (and no hash of it) is stored.
// Cascades: user removed → the user's tokens go; org removed → the org's tokens go; instance removed →
// everything of the instance goes. Expired tokens stay (the API hides them on request), as in ZITADEL.
import * as ev from "@idp/events";
import { aggregateColumns, col, created, ownerTombstones, type ProjectedEvent, Projection, type RowOf, removeRow, tombstone } from "@idp/runtime";

export const pats = new Projection("pats");

export const patsTable = pats.table({
  name: "personal_access_tokens",
  key: ["instance_id", "id"],
  columns: {
    ...aggregateColumns,
    user_id: col.text,
    expiration: col.timestamptz,
    scopes: col.textArray.nullable,
  },
});
export type PatRow = RowOf<typeof patsTable>;

// A token is keyed by its own id (from the payload), not by the user aggregate that carries it.
const tokenKey = (e: ProjectedEvent<{ tokenId: string }>) => [e.instanceId, e.payload.tokenId];

// Multi-topic mode: a removal of the instance, the org or the user may be applied before a late
// "token added" of another topic; the tombstones make that add a no-op, so no stale token appears.
const removedOwners = (e: ev.EventEnvelope) => [...ownerTombstones(e), tombstone("user", e.instanceId, e.aggregateId)];

pats.onRow(
  ev.userPatAdded,
  patsTable,
  (row, e) =>
    // An existing token id is a duplicate add: ZITADEL's INSERT would fail, so the first one stays.
    row
      ? undefined
      : {
          ...created(patsTable, e),
          id: e.payload.tokenId,
          user_id: e.aggregateId,
          expiration: new Date(e.payload.expiration),
          scopes: e.payload.scopes ?? null,
        },
  { key: tokenKey, unlessRemoved: removedOwners },
);

// As in ZITADEL the token is deleted by its id.
pats.onRow(ev.userPatRemoved, patsTable, removeRow, { key: tokenKey });

// --- cascades ----------------------------------------------------------------------------------------

pats.onSql(ev.userRemoved, (e) => [
  { text: "DELETE FROM personal_access_tokens WHERE instance_id = $1 AND user_id = $2", values: [e.instanceId, e.aggregateId] },
]);
pats.onSql(ev.orgRemoved, (e) => [
  { text: "DELETE FROM personal_access_tokens WHERE instance_id = $1 AND resource_owner = $2", values: [e.instanceId, e.aggregateId] },
]);
pats.markRemoved(ev.userRemoved, "user").markRemoved(ev.orgRemoved, "org").cascadeInstanceRemoval();
