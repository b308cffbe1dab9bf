// Personal access tokens read model (ZITADEL personal_access_tokens3): one row per token with its user,
// expiration and scopes. The events carry no token material, so none (and no hash of it) is stored.
// Cascades: user removed → the user's tokens go; org removed → the org's tokens go; instance removed →
// everything of the instance goes. Expired tokens stay (the API hides them on request), as in ZITADEL.
import * as ev from "@idp/events";
import { type BaseRow, type FoldContext, Projection, type ProjectedEvent, anyRemoved, markRemoved, tombstone } from "@idp/runtime";

export interface PatRow extends BaseRow {
  id: string;
  creation_date: Date;
  user_id: string;
  expiration: Date;
  scopes: string[] | null;
}

export const pats = new Projection("pats");

export const patsTable = pats.table<PatRow>({
  name: "personal_access_tokens",
  key: ["instance_id", "id"],
  columns: {
    instance_id: "text",
    id: "text",
    resource_owner: "text",
    creation_date: "timestamptz",
    change_date: "timestamptz",
    sequence: "int8",
    user_id: "text",
    expiration: "timestamptz",
    scopes: "text[]",
  },
});

// A token is keyed by its own id (from the payload), not by the user aggregate that carries it.
const tokenKey = (e: ProjectedEvent<{ tokenId: string }>) => [e.instanceId, e.payload.tokenId];

// Multi-topic mode: a removal of the instance, the org or the user may be applied before a late
// "token added" of another topic; the tombstones make that add a no-op, so no stale token appears.
const ownerRefs = (e: ProjectedEvent) => [
  tombstone("instance", e.instanceId, e.instanceId),
  tombstone("org", e.instanceId, e.resourceOwner),
  tombstone("user", e.instanceId, e.aggregateId),
];

pats.onRow(
  ev.userPatAdded,
  patsTable,
  (row, e, ctx: FoldContext) => {
    // An existing token id is a duplicate add: ZITADEL's INSERT would fail, so the first one stays.
    if (row || anyRemoved(ctx, ownerRefs(e))) return undefined;
    return {
      instance_id: e.instanceId,
      id: e.payload.tokenId,
      resource_owner: e.resourceOwner,
      creation_date: e.createdAt,
      change_date: e.createdAt,
      sequence: e.aggregateSequence,
      user_id: e.aggregateId,
      expiration: new Date(e.payload.expiration),
      scopes: e.payload.scopes ?? null,
    };
  },
  { key: tokenKey, reads: ownerRefs },
);

// As in ZITADEL the token is deleted by its id.
pats.onRow(ev.userPatRemoved, patsTable, (row) => (row ? null : undefined), { key: tokenKey });

// --- cascades ----------------------------------------------------------------------------------------

pats.onSql(ev.userRemoved, (e) => [
  { text: "DELETE FROM personal_access_tokens WHERE instance_id = $1 AND user_id = $2", values: [e.instanceId, e.aggregateId] },
]);
pats.onSql(ev.orgRemoved, (e) => [
  { text: "DELETE FROM personal_access_tokens WHERE instance_id = $1 AND resource_owner = $2", values: [e.instanceId, e.aggregateId] },
]);
pats.onSql(ev.instanceRemoved, (e) => [{ text: "DELETE FROM personal_access_tokens WHERE instance_id = $1", values: [e.instanceId] }]);
markRemoved(pats, ev.userRemoved, "user");
markRemoved(pats, ev.orgRemoved, "org");
markRemoved(pats, ev.instanceRemoved, "instance");
