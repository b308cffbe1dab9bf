// Project aggregate events (aggregate type `project`, owner = the project's org), limited to the fields
// the read models need (user grants: project owner, project grants and their roles, role removal), with
// ZITADEL's names from internal/repository/project. More optional fields can be appended as versions.
import { field, optional } from "../avro.ts";
import { defineEvent } from "../define.ts";

const roleKeys = optional("roleKeys", { type: "array", items: "string" });

// v2: the project's name (shown with user grants).
export const projectAdded = defineEvent({ type: "project.added", aggregateType: "project", previousVersions: [[]], fields: [optional("name", "string")] });
export const projectRemoved = defineEvent({ type: "project.removed", aggregateType: "project", fields: [] });

export const projectRoleAdded = defineEvent({
  type: "project.role.added",
  aggregateType: "project",
  fields: [field("key", "string")],
});
export const projectRoleRemoved = defineEvent({
  type: "project.role.removed",
  aggregateType: "project",
  fields: [field("key", "string")],
});

// A project granted to another org (`grantedOrgId`) with a subset of the project's roles.
export const projectGrantAdded = defineEvent({
  type: "project.grant.added",
  aggregateType: "project",
  fields: [field("grantId", "string"), field("grantedOrgId", "string"), roleKeys],
});
export const projectGrantChanged = defineEvent({
  type: "project.grant.changed",
  aggregateType: "project",
  fields: [field("grantId", "string"), roleKeys],
});
export const projectGrantCascadeChanged = defineEvent({
  type: "project.grant.cascade.changed",
  aggregateType: "project",
  fields: [field("grantId", "string"), roleKeys],
});
export const projectGrantRemoved = defineEvent({
  type: "project.grant.removed",
  aggregateType: "project",
  fields: [field("grantId", "string")],
});

export const projectEvents = [
  projectAdded,
  projectRemoved,
  projectRoleAdded,
  projectRoleRemoved,
  projectGrantAdded,
  projectGrantChanged,
  projectGrantCascadeChanged,
  projectGrantRemoved,
] as const;
