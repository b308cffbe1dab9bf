// User grants read model (ZITADEL user_grants5): one row per user grant, plus small lookup tables fed by
// the same stream for what the API shows from other aggregates (the user's org and names, the project's
// org, the project grant's granted org). ZITADEL reads the event store at reduce time for these owners;
// lookups joined at query time stay right whatever order the owner's and the grant's events arrive in.
import * as ev from "@idp/events";
import {
  aggregateColumns,
  anyRemoved,
  baseColumns,
  col,
  created,
  declareLoginNameInputs,
  type FoldContext,
  nullIfEmpty,
  type ProjectedEvent,
  Projection,
  type RowOf,
  type RowRef,
  removeRow,
  type TombstoneKind,
  type TombstoneRow,
  tombstone,
  tombstoneRow,
  tombstonesTable,
  touched,
} from "@idp/runtime";

export const GrantState = { active: 1, inactive: 2 } as const;

export const grants = new Projection("grants");

export const userGrantsTable = grants.table({
  name: "user_grants",
  key: ["instance_id", "id"],
  columns: {
    ...aggregateColumns,
    state: col.int2,
    user_id: col.text,
    project_id: col.text,
    /** Project grant id; '' for a grant on the org's own project (as in ZITADEL). */
    grant_id: col.text,
    roles: col.textArray,
  },
});
export type UserGrantRow = RowOf<typeof userGrantsTable>;

export const LookupUserType = { human: 1, machine: 2 } as const;

/**
 * resource_owner = the user's org. type, names, e-mail and avatar came later (migration 011): NULL on
 * rows projected before it until the next rebuild.
 */
export const lookupUsersTable = grants.table({
  name: "lookup_users",
  key: ["instance_id", "user_id"],
  columns: {
    ...baseColumns,
    user_id: col.text,
    username: col.text,
    display_name: col.text.nullable,
    type: col.int2.nullable,
    first_name: col.text.nullable,
    last_name: col.text.nullable,
    email: col.text.nullable,
    avatar_key: col.text.nullable,
  },
});
export type LookupUserRow = RowOf<typeof lookupUsersTable>;

/** resource_owner = the project's org; name from project.added v2 / project.changed (NULL if never given). */
export const lookupProjectsTable = grants.table({
  name: "lookup_projects",
  key: ["instance_id", "project_id"],
  columns: { ...baseColumns, project_id: col.text, name: col.text.nullable },
});

/** An org's name (resource_owner = org_id = the org). */
export const lookupOrgsTable = grants.table({
  name: "lookup_orgs",
  key: ["instance_id", "org_id"],
  columns: { ...baseColumns, org_id: col.text, name: col.text },
});
export type LookupProjectRow = RowOf<typeof lookupProjectsTable>;

/** resource_owner = the project's org (owner of the project aggregate). */
export const lookupProjectGrantsTable = grants.table({
  name: "lookup_project_grants",
  key: ["instance_id", "grant_id"],
  columns: { ...baseColumns, grant_id: col.text, project_id: col.text, granted_org: col.text, role_keys: col.textArray },
});
export type LookupProjectGrantRow = RowOf<typeof lookupProjectGrantsTable>;

// Project ids never contain '/' (idSchema), so "<project>/<role key>" identifies a project role.
export const projectRoleId = (projectId: string, key: string) => `${projectId}/${key}`;

// --- multi-topic convergence ---------------------------------------------------------------------------
// A removal can be applied before a late add from another topic. Adds skip when a tombstone covers them:
// the instance, an owning org, or the user/project/project grant itself. An org removal also tombstones
// the users, projects and project grants of that org it knows (see the org.removed cascade), and a late
// user/project/project grant created in an already removed org gets its own tombstone here, so a grant
// that references it by id is skipped even though the org is not named in the grant's events.

const orgRefs = (e: ev.EventEnvelope, orgs: string[]) => [
  tombstone("instance", e.instanceId, e.instanceId),
  ...orgs.map((o) => tombstone("org", e.instanceId, o)),
];
const ownOrgRefs = (e: ev.EventEnvelope) => orgRefs(e, [e.resourceOwner]);

/** Reducer and options recording a tombstone for an entity created in an org that is already removed. */
function tombstoneWhenOrgRemoved<E extends ev.EventEnvelope>(kind: TombstoneKind, id: (e: E) => string, orgs: (e: E) => string[]) {
  return [
    (row: TombstoneRow | undefined, e: E, ctx: FoldContext) => (row || !anyRemoved(ctx, orgRefs(e, orgs(e))) ? undefined : tombstoneRow(e, kind, id(e))),
    { key: (e: E) => [e.instanceId, kind, id(e)], reads: (e: E) => orgRefs(e, orgs(e)) },
  ] as const;
}

// --- user grants -----------------------------------------------------------------------------------------

type GrantAdded = ProjectedEvent<ev.PayloadOf<typeof ev.userGrantAdded>>;

function grantAddedTombstones(e: GrantAdded): RowRef[] {
  const p = e.payload;
  return [
    ...ownOrgRefs(e),
    tombstone("user", e.instanceId, p.userId),
    tombstone("project", e.instanceId, p.projectId),
    ...(p.grantId ? [tombstone("project_grant", e.instanceId, p.grantId)] : []),
  ];
}
const roleRefs = (e: GrantAdded) => (e.payload.roleKeys ?? []).map((k) => tombstone("project_role", e.instanceId, projectRoleId(e.payload.projectId, k)));
const projectGrantRef = (e: GrantAdded): RowRef[] => (e.payload.grantId ? [{ table: lookupProjectGrantsTable, key: [e.instanceId, e.payload.grantId] }] : []);

function grantAdded(row: UserGrantRow | undefined, e: GrantAdded, ctx: FoldContext): UserGrantRow {
  const p = e.payload;
  // Roles removed from the project, or not (any more) granted by the project grant, before this add was
  // applied (possible only across topics; in one ordered stream ZITADEL's command already excludes them).
  const projectGrant = p.grantId ? ctx.get(lookupProjectGrantsTable, [e.instanceId, p.grantId]) : undefined;
  const roles = (p.roleKeys ?? []).filter(
    (k) => !anyRemoved(ctx, [tombstone("project_role", e.instanceId, projectRoleId(p.projectId, k))]) && (!projectGrant || projectGrant.role_keys.includes(k)),
  );
  return {
    ...created(userGrantsTable, e, row),
    id: e.aggregateId,
    state: GrantState.active,
    user_id: p.userId,
    project_id: p.projectId,
    grant_id: p.grantId ?? "",
    roles,
  };
}
grants.onRow(ev.userGrantAdded, userGrantsTable, grantAdded, {
  unlessRemoved: grantAddedTombstones,
  reads: (e) => [...roleRefs(e), ...projectGrantRef(e)],
});

const update =
  <E extends ev.EventEnvelope>(patch: (e: E) => Partial<UserGrantRow>) =>
  (row: UserGrantRow | undefined, e: E) =>
    row ? touched(row, e, patch(e)) : undefined;

grants.onRow(
  [ev.userGrantChanged, ev.userGrantCascadeChanged],
  userGrantsTable,
  update((e) => ({ roles: e.payload.roleKeys ?? [] })),
);
grants.onRow(
  ev.userGrantDeactivated,
  userGrantsTable,
  update(() => ({ state: GrantState.inactive })),
);
grants.onRow(
  ev.userGrantReactivated,
  userGrantsTable,
  update(() => ({ state: GrantState.active })),
);
grants.onRow([ev.userGrantRemoved, ev.userGrantCascadeRemoved], userGrantsTable, removeRow);

// --- lookup: users (the user's org and names) -----------------------------------------------------------

const lookupUser = (e: ev.EventEnvelope, type: number, username: string): LookupUserRow => ({
  ...created(lookupUsersTable, e),
  user_id: e.aggregateId,
  username,
  display_name: null,
  type,
  first_name: null,
  last_name: null,
  email: null,
  avatar_key: null,
});
grants.onRow(
  [ev.userHumanAdded, ev.userHumanSelfRegistered],
  lookupUsersTable,
  (_row, e) => {
    const p = e.payload;
    return {
      ...lookupUser(e, LookupUserType.human, p.userName),
      display_name: nullIfEmpty(p.displayName),
      first_name: nullIfEmpty(p.firstName),
      last_name: nullIfEmpty(p.lastName),
      email: nullIfEmpty(p.email),
    };
  },
  { unlessRemoved: ownOrgRefs },
);
// ZITADEL shows names, e-mail and avatar of humans only; machines have none in user_grants.
grants.onRow(ev.userMachineAdded, lookupUsersTable, (_row, e) => lookupUser(e, LookupUserType.machine, e.payload.userName), { unlessRemoved: ownOrgRefs });
grants.onRow(
  [ev.userHumanAdded, ev.userHumanSelfRegistered, ev.userMachineAdded],
  tombstonesTable,
  ...tombstoneWhenOrgRemoved(
    "user",
    (e) => e.aggregateId,
    (e) => [e.resourceOwner],
  ),
);

grants.onRow([ev.userUsernameChanged, ev.userDomainClaimed], lookupUsersTable, (row, e) =>
  row ? touched(row, e, { username: e.payload.userName }) : undefined,
);
// Absent fields are unchanged; empty first/last names are ignored, as the users read model does.
grants.onRow(ev.userHumanProfileChanged, lookupUsersTable, (row, e) => {
  if (!row) return undefined;
  const p = e.payload;
  const patch: Partial<LookupUserRow> = {};
  if (p.firstName) patch.first_name = p.firstName;
  if (p.lastName) patch.last_name = p.lastName;
  if (p.displayName != null) patch.display_name = nullIfEmpty(p.displayName);
  return Object.keys(patch).length ? touched(row, e, patch) : undefined;
});
grants.onRow(ev.userHumanEmailChanged, lookupUsersTable, (row, e) => (row ? touched(row, e, { email: nullIfEmpty(e.payload.email) }) : undefined));
grants.onRow(ev.userHumanAvatarAdded, lookupUsersTable, (row, e) => (row ? touched(row, e, { avatar_key: e.payload.storeKey }) : undefined));
grants.onRow(ev.userHumanAvatarRemoved, lookupUsersTable, (row, e) => (row ? touched(row, e, { avatar_key: null }) : undefined));

// --- lookup: login-name inputs (the preferred login name is computed at query time) ---------------------

const loginNameInputs = declareLoginNameInputs(grants, ownOrgRefs);
export const grantOrgDomainsTable = loginNameInputs.orgDomains;
export const grantDomainPoliciesTable = loginNameInputs.domainPolicies;

// user.removed → the user's grants go (and the lookup); the tombstone stops late grants of the user.
grants.onSql(ev.userRemoved, (e) => [
  {
    text: `WITH lookup AS (DELETE FROM lookup_users WHERE instance_id = $1 AND user_id = $2)
           DELETE FROM user_grants WHERE instance_id = $1 AND user_id = $2`,
    values: [e.instanceId, e.aggregateId],
  },
]);
grants.markRemoved(ev.userRemoved, "user");

// --- lookup: projects and project grants ----------------------------------------------------------------

grants.onRow(
  ev.projectAdded,
  lookupProjectsTable,
  (_row, e) => ({ ...created(lookupProjectsTable, e), project_id: e.aggregateId, name: nullIfEmpty(e.payload.name) }),
  { unlessRemoved: ownOrgRefs },
);
grants.onRow(ev.projectChanged, lookupProjectsTable, (row, e) => (row && e.payload.name ? touched(row, e, { name: e.payload.name }) : undefined));
grants.onRow(
  ev.projectAdded,
  tombstonesTable,
  ...tombstoneWhenOrgRemoved(
    "project",
    (e) => e.aggregateId,
    (e) => [e.resourceOwner],
  ),
);

grants.onSql(ev.projectRemoved, (e) => [
  {
    text: `WITH project AS (DELETE FROM lookup_projects WHERE instance_id = $1 AND project_id = $2),
                project_grants AS (DELETE FROM lookup_project_grants WHERE instance_id = $1 AND project_id = $2)
           DELETE FROM user_grants WHERE instance_id = $1 AND project_id = $2`,
    values: [e.instanceId, e.aggregateId],
  },
]);
grants.markRemoved(ev.projectRemoved, "project");

// A role key can be added again after its removal: from then on grants may carry it again.
grants.onRow(ev.projectRoleAdded, tombstonesTable, removeRow, {
  key: (e) => [e.instanceId, "project_role", projectRoleId(e.aggregateId, e.payload.key)],
});
// No change date / sequence on the grants, as in ZITADEL (the grant aggregate did not change).
grants.onSql(ev.projectRoleRemoved, (e) => [
  {
    text: "UPDATE user_grants SET roles = array_remove(roles, $3) WHERE instance_id = $1 AND project_id = $2 AND $3 = ANY(roles)",
    values: [e.instanceId, e.aggregateId, e.payload.key],
  },
]);
grants.markRemoved(ev.projectRoleRemoved, "project_role", (e) => projectRoleId(e.aggregateId, e.payload.key));

type ProjectGrantAdded = ProjectedEvent<ev.PayloadOf<typeof ev.projectGrantAdded>>;
const projectGrantOwners = (e: ProjectGrantAdded) => [e.resourceOwner, e.payload.grantedOrgId];
grants.onRow(
  ev.projectGrantAdded,
  lookupProjectGrantsTable,
  (_row, e) => ({
    ...created(lookupProjectGrantsTable, e),
    grant_id: e.payload.grantId,
    project_id: e.aggregateId,
    granted_org: e.payload.grantedOrgId,
    role_keys: e.payload.roleKeys ?? [],
  }),
  { key: (e) => [e.instanceId, e.payload.grantId], unlessRemoved: (e) => orgRefs(e, projectGrantOwners(e)) },
);
grants.onRow(
  ev.projectGrantAdded,
  tombstonesTable,
  ...tombstoneWhenOrgRemoved("project_grant", (e: ProjectGrantAdded) => e.payload.grantId, projectGrantOwners),
);

// The project grant's roles changed: its user grants keep only roles still granted (order preserved).
grants.onSql([ev.projectGrantChanged, ev.projectGrantCascadeChanged], (e) => {
  const p = e.payload;
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
grants.markRemoved(ev.projectGrantRemoved, "project_grant", (e) => e.payload.grantId);

// --- lookup: org names ---------------------------------------------------------------------------------

grants.onRow(ev.orgAdded, lookupOrgsTable, (_row, e) => ({ ...created(lookupOrgsTable, e), org_id: e.aggregateId, name: e.payload.name }), {
  unlessRemoved: ownOrgRefs,
});
grants.onRow(ev.orgChanged, lookupOrgsTable, (row, e) => (row ? touched(row, e, { name: e.payload.name }) : undefined));

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
  ...loginNameInputs.orgRemovedStatements(e),
  { text: "DELETE FROM lookup_orgs WHERE instance_id = $1 AND org_id = $2", values: [e.instanceId, e.aggregateId] },
]);
grants.markRemoved(ev.orgRemoved, "org").cascadeInstanceRemoval();
