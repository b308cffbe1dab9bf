// User grants read model (ZITADEL user_grants5): one row per user grant, plus small lookup tables fed by
// the same stream for what the API shows from other aggregates (the user's org and names, the project's
// org, the project grant's granted org). ZITADEL reads the event store at reduce time for these owners;
// lookups joined at query time stay right whatever order the owner's and the grant's events arrive in.
import * as ev from "@idp/events";
import {
  type BaseRow,
  type FoldContext,
  Projection,
  type ProjectedEvent,
  type RowRef,
  type Table,
  type TombstoneKind,
  type TombstoneRow,
  anyRemoved,
  markRemoved,
  tombstone,
  tombstonesTable,
  touched,
} from "@idp/runtime";

export const GrantState = { active: 1, inactive: 2 } as const;

export interface UserGrantRow extends BaseRow {
  id: string;
  creation_date: Date;
  state: number;
  user_id: string;
  project_id: string;
  /** Project grant id; '' for a grant on the org's own project (as in ZITADEL). */
  grant_id: string;
  roles: string[];
}

/** resource_owner = the user's org. */
export interface LookupUserRow extends BaseRow {
  user_id: string;
  username: string;
  display_name: string | null;
}

/** resource_owner = the project's org. */
export interface LookupProjectRow extends BaseRow {
  project_id: string;
}

/** resource_owner = the project's org (owner of the project aggregate). */
export interface LookupProjectGrantRow extends BaseRow {
  grant_id: string;
  project_id: string;
  granted_org: string;
  role_keys: string[];
}

export const grants = new Projection("grants");

const base = { instance_id: "text", resource_owner: "text", change_date: "timestamptz", sequence: "int8" } as const;

export const userGrantsTable = grants.table<UserGrantRow>({
  name: "user_grants",
  key: ["instance_id", "id"],
  columns: {
    ...base,
    id: "text",
    creation_date: "timestamptz",
    state: "int2",
    user_id: "text",
    project_id: "text",
    grant_id: "text",
    roles: "text[]",
  },
});

export const lookupUsersTable = grants.table<LookupUserRow>({
  name: "lookup_users",
  key: ["instance_id", "user_id"],
  columns: { ...base, user_id: "text", username: "text", display_name: "text" },
});

export const lookupProjectsTable = grants.table<LookupProjectRow>({
  name: "lookup_projects",
  key: ["instance_id", "project_id"],
  columns: { ...base, project_id: "text" },
});

export const lookupProjectGrantsTable = grants.table<LookupProjectGrantRow>({
  name: "lookup_project_grants",
  key: ["instance_id", "grant_id"],
  columns: { ...base, grant_id: "text", project_id: "text", granted_org: "text", role_keys: "text[]" },
});

const text = (v: string | null | undefined) => (v ? v : null);
const lookupRef = <R extends BaseRow>(table: Table<R>, key: (string | number)[]): RowRef => ({ table: table as unknown as Table<never>, key });

// Project ids never contain '/' (idSchema), so "<project>/<role key>" identifies a project role.
export const projectRoleId = (projectId: string, key: string) => `${projectId}/${key}`;

// --- multi-topic convergence ---------------------------------------------------------------------------
// A removal can be applied before a late add from another topic. Adds skip when a tombstone covers them:
// the instance, an owning org, or the user/project/project grant itself. An org removal also tombstones
// the users, projects and project grants of that org it knows (see the org.removed cascade), and a late
// user/project/project grant created in an already removed org gets its own tombstone here, so a grant
// that references it by id is skipped even though the org is not named in the grant's events.

const orgRefs = (e: ProjectedEvent, orgs: string[]) => [
  tombstone("instance", e.instanceId, e.instanceId),
  ...orgs.map((o) => tombstone("org", e.instanceId, o)),
];

function tombstoneWhenOrgRemoved<E extends ProjectedEvent>(
  events: readonly ev.EventDefinition[],
  kind: TombstoneKind,
  id: (e: E) => string,
  orgs: (e: E) => string[],
) {
  grants.onRow(
    events,
    tombstonesTable,
    (row, e, ctx): TombstoneRow | undefined =>
      row || !anyRemoved(ctx, orgRefs(e, orgs(e as E))) ? undefined : { instance_id: e.instanceId, kind, id: id(e as E), resource_owner: e.resourceOwner, change_date: e.createdAt, sequence: e.aggregateSequence },
    { key: (e) => [e.instanceId, kind, id(e as E)], reads: (e) => orgRefs(e, orgs(e as E)) },
  );
}

// --- user grants -----------------------------------------------------------------------------------------

type GrantAdded = ProjectedEvent<ev.PayloadOf<typeof ev.userGrantAdded>>;

function grantAddedTombstones(e: GrantAdded): RowRef[] {
  const p = e.payload;
  return [
    ...orgRefs(e, [e.resourceOwner]),
    tombstone("user", e.instanceId, p.userId),
    tombstone("project", e.instanceId, p.projectId),
    ...(p.grantId ? [tombstone("project_grant", e.instanceId, p.grantId)] : []),
  ];
}
const roleRefs = (e: GrantAdded) => (e.payload.roleKeys ?? []).map((k) => tombstone("project_role", e.instanceId, projectRoleId(e.payload.projectId, k)));
const projectGrantRef = (e: GrantAdded) => (e.payload.grantId ? [lookupRef(lookupProjectGrantsTable, [e.instanceId, e.payload.grantId])] : []);

function grantAdded(_row: UserGrantRow | undefined, e: GrantAdded, ctx: FoldContext): UserGrantRow | undefined {
  if (anyRemoved(ctx, grantAddedTombstones(e))) return undefined;
  const p = e.payload;
  // Roles removed from the project, or not (any more) granted by the project grant, before this add was
  // applied (possible only across topics; in one ordered stream ZITADEL's command already excludes them).
  const projectGrant = p.grantId ? ctx.get(lookupProjectGrantsTable, [e.instanceId, p.grantId]) : undefined;
  const roles = (p.roleKeys ?? []).filter(
    (k) => !anyRemoved(ctx, [tombstone("project_role", e.instanceId, projectRoleId(p.projectId, k))]) && (!projectGrant || projectGrant.role_keys.includes(k)),
  );
  return {
    instance_id: e.instanceId,
    id: e.aggregateId,
    resource_owner: e.resourceOwner,
    creation_date: e.createdAt,
    change_date: e.createdAt,
    sequence: e.aggregateSequence,
    state: GrantState.active,
    user_id: p.userId,
    project_id: p.projectId,
    grant_id: p.grantId ?? "",
    roles,
  };
}
grants.onRow(ev.userGrantAdded, userGrantsTable, grantAdded, {
  reads: (e) => [...grantAddedTombstones(e), ...roleRefs(e), ...projectGrantRef(e)],
});

const update = (patch: (e: ProjectedEvent) => Partial<UserGrantRow>) => (row: UserGrantRow | undefined, e: ProjectedEvent) =>
  row ? touched(row, e, patch(e)) : undefined;

grants.onRow([ev.userGrantChanged, ev.userGrantCascadeChanged], userGrantsTable, update((e) => ({ roles: (e.payload as { roleKeys?: string[] | null }).roleKeys ?? [] })));
grants.onRow(ev.userGrantDeactivated, userGrantsTable, update(() => ({ state: GrantState.inactive })));
grants.onRow(ev.userGrantReactivated, userGrantsTable, update(() => ({ state: GrantState.active })));
grants.onRow([ev.userGrantRemoved, ev.userGrantCascadeRemoved], userGrantsTable, (row) => (row ? null : undefined));

// --- lookup: users (the user's org and names) -----------------------------------------------------------

const userAdds = [ev.userHumanAdded, ev.userHumanSelfRegistered, ev.userMachineAdded] as const;
grants.onRow(
  userAdds,
  lookupUsersTable,
  (_row, e, ctx) => {
    if (anyRemoved(ctx, orgRefs(e, [e.resourceOwner]))) return undefined;
    const p = e.payload as { userName: string; displayName?: string | null };
    return {
      instance_id: e.instanceId,
      user_id: e.aggregateId,
      resource_owner: e.resourceOwner,
      change_date: e.createdAt,
      sequence: e.aggregateSequence,
      username: p.userName,
      // ZITADEL shows the human's display name; machines have none in user_grants.
      display_name: e.eventType === ev.userMachineAdded.type ? null : text(p.displayName),
    };
  },
  { key: (e) => [e.instanceId, e.aggregateId], reads: (e) => orgRefs(e, [e.resourceOwner]) },
);
tombstoneWhenOrgRemoved(userAdds, "user", (e) => e.aggregateId, (e) => [e.resourceOwner]);

grants.onRow([ev.userUsernameChanged, ev.userDomainClaimed], lookupUsersTable, (row, e) =>
  row ? touched(row, e, { username: (e.payload as { userName: string }).userName }) : undefined,
);
grants.onRow(ev.userHumanProfileChanged, lookupUsersTable, (row, e) =>
  row && e.payload.displayName != null ? touched(row, e, { display_name: text(e.payload.displayName) }) : undefined,
);

// user.removed → the user's grants go (and the lookup); the tombstone stops late grants of the user.
grants.onSql(ev.userRemoved, (e) => [
  {
    text: `WITH lookup AS (DELETE FROM lookup_users WHERE instance_id = $1 AND user_id = $2)
           DELETE FROM user_grants WHERE instance_id = $1 AND user_id = $2`,
    values: [e.instanceId, e.aggregateId],
  },
]);
markRemoved(grants, ev.userRemoved, "user");

// --- lookup: projects and project grants ----------------------------------------------------------------

grants.onRow(
  ev.projectAdded,
  lookupProjectsTable,
  (_row, e, ctx) =>
    anyRemoved(ctx, orgRefs(e, [e.resourceOwner]))
      ? undefined
      : { instance_id: e.instanceId, project_id: e.aggregateId, resource_owner: e.resourceOwner, change_date: e.createdAt, sequence: e.aggregateSequence },
  { reads: (e) => orgRefs(e, [e.resourceOwner]) },
);
tombstoneWhenOrgRemoved([ev.projectAdded], "project", (e) => e.aggregateId, (e) => [e.resourceOwner]);

grants.onSql(ev.projectRemoved, (e) => [
  {
    text: `WITH project AS (DELETE FROM lookup_projects WHERE instance_id = $1 AND project_id = $2),
                project_grants AS (DELETE FROM lookup_project_grants WHERE instance_id = $1 AND project_id = $2)
           DELETE FROM user_grants WHERE instance_id = $1 AND project_id = $2`,
    values: [e.instanceId, e.aggregateId],
  },
]);
markRemoved(grants, ev.projectRemoved, "project");

// A role key can be added again after its removal: from then on grants may carry it again.
grants.onRow(ev.projectRoleAdded, tombstonesTable, (row) => (row ? null : undefined), {
  key: (e) => [e.instanceId, "project_role", projectRoleId(e.aggregateId, e.payload.key)],
});
// No change date / sequence on the grants, as in ZITADEL (the grant aggregate did not change).
grants.onSql(ev.projectRoleRemoved, (e) => [
  {
    text: "UPDATE user_grants SET roles = array_remove(roles, $3) WHERE instance_id = $1 AND project_id = $2 AND $3 = ANY(roles)",
    values: [e.instanceId, e.aggregateId, e.payload.key],
  },
]);
markRemoved(grants, ev.projectRoleRemoved, "project_role", (e) => projectRoleId(e.aggregateId, (e.payload as { key: string }).key));

type ProjectGrantAdded = ProjectedEvent<ev.PayloadOf<typeof ev.projectGrantAdded>>;
const projectGrantOwners = (e: ProjectGrantAdded) => [e.resourceOwner, e.payload.grantedOrgId];
grants.onRow(
  ev.projectGrantAdded,
  lookupProjectGrantsTable,
  (_row, e, ctx) =>
    anyRemoved(ctx, orgRefs(e, projectGrantOwners(e)))
      ? undefined
      : {
          instance_id: e.instanceId,
          grant_id: e.payload.grantId,
          resource_owner: e.resourceOwner,
          change_date: e.createdAt,
          sequence: e.aggregateSequence,
          project_id: e.aggregateId,
          granted_org: e.payload.grantedOrgId,
          role_keys: e.payload.roleKeys ?? [],
        },
  { key: (e) => [e.instanceId, e.payload.grantId], reads: (e) => orgRefs(e, projectGrantOwners(e)) },
);
tombstoneWhenOrgRemoved([ev.projectGrantAdded], "project_grant", (e: ProjectGrantAdded) => e.payload.grantId, projectGrantOwners);

// The project grant's roles changed: its user grants keep only roles still granted (order preserved).
grants.onSql([ev.projectGrantChanged, ev.projectGrantCascadeChanged], (e) => {
  const p = e.payload as { grantId: string; roleKeys?: string[] | null };
  return [
    {
      text: `WITH lookup AS (UPDATE lookup_project_grants SET role_keys = $3, change_date = $4, sequence = $5
                             WHERE instance_id = $1 AND grant_id = $2)
             UPDATE user_grants SET roles = ARRAY(SELECT r FROM unnest(roles) WITH ORDINALITY AS x(r, i) WHERE r = ANY($3::text[]) ORDER BY i)
             WHERE instance_id = $1 AND grant_id = $2`,
      values: [e.instanceId, p.grantId, p.roleKeys ?? [], e.createdAt, e.aggregateSequence],
    },
  ];
});

grants.onSql(ev.projectGrantRemoved, (e) => [
  {
    text: `WITH lookup AS (DELETE FROM lookup_project_grants WHERE instance_id = $1 AND grant_id = $2)
           DELETE FROM user_grants WHERE instance_id = $1 AND grant_id = $2`,
    values: [e.instanceId, e.payload.grantId],
  },
]);
markRemoved(grants, ev.projectGrantRemoved, "project_grant", (e) => (e.payload as { grantId: string }).grantId);

// --- org and instance cascades ---------------------------------------------------------------------------

// ZITADEL's "delete 4 ways": grants owned by the org, of the org's users, of the org's projects, and
// under project grants given to (or by) the org. One statement: the lookups are deleted and what they
// held is used for the grant delete and for tombstones of the removed users, projects and project grants.
grants.onSql(ev.orgRemoved, (e) => [
  {
    text: `WITH users_gone AS (
             DELETE FROM lookup_users WHERE instance_id = $1 AND resource_owner = $2 RETURNING user_id),
           projects_gone AS (
             DELETE FROM lookup_projects WHERE instance_id = $1 AND resource_owner = $2 RETURNING project_id),
           project_grants_gone AS (
             DELETE FROM lookup_project_grants WHERE instance_id = $1 AND (resource_owner = $2 OR granted_org = $2) RETURNING grant_id),
           grants_gone AS (
             DELETE FROM user_grants WHERE instance_id = $1 AND (resource_owner = $2
               OR user_id IN (SELECT user_id FROM users_gone)
               OR project_id IN (SELECT project_id FROM projects_gone)
               OR grant_id IN (SELECT grant_id FROM project_grants_gone)))
           INSERT INTO projector_tombstones (instance_id, kind, id, resource_owner, change_date, sequence)
           SELECT $1::text, gone.kind, gone.id, $2::text, $3::timestamptz, $4::bigint FROM (
             SELECT 'user'::text AS kind, user_id AS id FROM users_gone
             UNION ALL SELECT 'project', project_id FROM projects_gone
             UNION ALL SELECT 'project_grant', grant_id FROM project_grants_gone) gone
           ON CONFLICT (instance_id, kind, id) DO NOTHING`,
    values: [e.instanceId, e.aggregateId, e.createdAt, e.aggregateSequence],
  },
]);
markRemoved(grants, ev.orgRemoved, "org");

grants.onSql(ev.instanceRemoved, (e) =>
  ["user_grants", "lookup_users", "lookup_projects", "lookup_project_grants"].map((t) => ({
    text: `DELETE FROM ${t} WHERE instance_id = $1`,
    values: [e.instanceId],
  })),
);
markRemoved(grants, ev.instanceRemoved, "instance");
