// User grant aggregate events (aggregate type `usergrant`, owner = org owning the grant), fields as in
// ZITADEL's internal/repository/usergrant. `grantId` is the project grant (absent for a direct grant);
// `roleKeys` is omitempty in ZITADEL, so absent means "no roles".
import { field, optional } from "../avro.ts";
import { defineEvent } from "../define.ts";

const roleKeys = optional("roleKeys", { type: "array", items: "string" });

export const userGrantAdded = defineEvent({
  type: "user.grant.added",
  aggregateType: "usergrant",
  fields: [field("userId", "string"), field("projectId", "string"), optional("grantId", "string"), roleKeys],
});
export const userGrantChanged = defineEvent({
  type: "user.grant.changed",
  aggregateType: "usergrant",
  fields: [optional("userId", "string"), roleKeys],
});
export const userGrantCascadeChanged = defineEvent({
  type: "user.grant.cascade.changed",
  aggregateType: "usergrant",
  fields: [roleKeys],
});
export const userGrantRemoved = defineEvent({
  type: "user.grant.removed",
  aggregateType: "usergrant",
  fields: [optional("userId", "string"), optional("projectId", "string"), optional("grantId", "string")],
});
export const userGrantCascadeRemoved = defineEvent({ type: "user.grant.cascade.removed", aggregateType: "usergrant", fields: [] });
export const userGrantDeactivated = defineEvent({ type: "user.grant.deactivated", aggregateType: "usergrant", fields: [] });
export const userGrantReactivated = defineEvent({ type: "user.grant.reactivated", aggregateType: "usergrant", fields: [] });

export const userGrantEvents = [
  userGrantAdded,
  userGrantChanged,
  userGrantCascadeChanged,
  userGrantRemoved,
  userGrantCascadeRemoved,
  userGrantDeactivated,
  userGrantReactivated,
] as const;
