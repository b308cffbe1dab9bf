// Users read model: reducers for every user event of ZITADEL's users projection, plus the org-domain and
// domain-policy events that login names need, user metadata, and the user/org/instance removal cascades.
import * as ev from "@idp/events";
import {
  aggregateColumns,
  baseColumns,
  col,
  created,
  nullIfEmpty,
  ownerTombstones,
  type ProjectedEvent,
  Projection,
  type RowOf,
  removeRow,
  touched,
} from "@idp/runtime";

export const UserState = { active: 1, inactive: 2, locked: 4, initial: 6 } as const;
export const UserType = { human: 1, machine: 2 } as const;

export const users = new Projection("users");

export const usersTable = users.table({
  name: "users",
  key: ["instance_id", "id"],
  columns: {
    ...aggregateColumns,
    state: col.int2,
    type: col.int2,
    username: col.text,
    first_name: col.text.nullable,
    last_name: col.text.nullable,
    nick_name: col.text.nullable,
    display_name: col.text.nullable,
    preferred_language: col.text.nullable,
    gender: col.int2.nullable,
    avatar_key: col.text.nullable,
    email: col.text.nullable,
    is_email_verified: col.bool.nullable,
    verified_email: col.text.nullable,
    phone: col.text.nullable,
    is_phone_verified: col.bool.nullable,
    verified_phone: col.text.nullable,
    password_set: col.bool.nullable,
    password_change_required: col.bool.nullable,
    password_changed: col.timestamptz.nullable,
    mfa_init_skipped: col.timestamptz.nullable,
    machine_name: col.text.nullable,
    machine_description: col.text.nullable,
    access_token_type: col.int2.nullable,
    has_secret: col.bool.nullable,
  },
});
export type UserRow = RowOf<typeof usersTable>;

/** Verified domains of an org and which one is primary. */
export const orgDomainsTable = users.table({
  name: "org_domains",
  key: ["instance_id", "org_id"],
  columns: { ...baseColumns, org_id: col.text, domains: col.textArray, primary_domain: col.text.nullable },
});
export type OrgDomainsRow = RowOf<typeof orgDomainsTable>;

/** Domain policy of an org (owner_id = org id) or the instance default (owner_id = instance id). */
export const domainPoliciesTable = users.table({
  name: "domain_policies",
  key: ["instance_id", "owner_id"],
  columns: { ...baseColumns, owner_id: col.text, must_be_domain: col.bool, is_default: col.bool },
});
export type DomainPolicyRow = RowOf<typeof domainPoliciesTable>;

/** Metadata of a user (ZITADEL user_metadata5): one opaque value per key. */
export const userMetadataTable = users.table({
  name: "user_metadata",
  key: ["instance_id", "user_id", "key"],
  columns: { ...baseColumns, user_id: col.text, key: col.text, creation_date: col.timestamptz, value: col.bytea },
});
export type UserMetadataRow = RowOf<typeof userMetadataTable>;

/** ZITADEL's "unset" language is stored as NULL, as empty strings are (nullIfEmpty). */
const language = (v: string | null | undefined) => (v && v !== "und" ? v : null);

function newUser(e: ProjectedEvent, type: number, username: string, existing: UserRow | undefined): UserRow {
  return {
    ...created(usersTable, e, existing),
    id: e.aggregateId,
    state: UserState.active,
    type,
    username,
    first_name: null,
    last_name: null,
    nick_name: null,
    display_name: null,
    preferred_language: null,
    gender: null,
    avatar_key: null,
    email: null,
    is_email_verified: null,
    verified_email: null,
    phone: null,
    is_phone_verified: null,
    verified_phone: null,
    password_set: null,
    password_change_required: null,
    password_changed: null,
    mfa_init_skipped: null,
    machine_name: null,
    machine_description: null,
    access_token_type: null,
    has_secret: null,
  };
}

/** Applies `change` to an existing user (of `type`, when given) and stamps change date and sequence. */
type Change<E> = (row: UserRow, e: E) => Partial<UserRow> | undefined;
function update<E extends ProjectedEvent<object>>(change: Change<E>, type?: number) {
  return (row: UserRow | undefined, e: E): UserRow | undefined => {
    if (!row || (type !== undefined && row.type !== type)) return undefined;
    const patch = change(row, e);
    return patch ? touched(row, e, patch) : undefined;
  };
}
const human = <E extends ProjectedEvent<object>>(change: Change<E>) => update(change, UserType.human);
const machine = <E extends ProjectedEvent<object>>(change: Change<E>) => update(change, UserType.machine);

// --- users -------------------------------------------------------------------------------------------

// Multi-topic mode: an instance or org removal may be applied before a late event that creates rows in
// it; tombstones make such an event a no-op, so no stale row appears (single-topic order needs none).
const unlessRemoved = ownerTombstones;

function humanAdded(row: UserRow | undefined, e: ProjectedEvent<ev.PayloadOf<typeof ev.userHumanAdded>>): UserRow {
  const p = e.payload;
  const hasPassword = Boolean(p.encodedHash);
  return {
    ...newUser(e, UserType.human, p.userName, row),
    first_name: p.firstName,
    last_name: p.lastName,
    nick_name: nullIfEmpty(p.nickName),
    display_name: nullIfEmpty(p.displayName),
    preferred_language: language(p.preferredLanguage),
    gender: nullIfEmpty(p.gender),
    email: p.email,
    is_email_verified: false,
    phone: nullIfEmpty(p.phone),
    is_phone_verified: p.phone ? false : null,
    password_set: hasPassword,
    password_change_required: p.changeRequired,
    password_changed: hasPassword ? e.createdAt : null,
  };
}
users.onRow(ev.userHumanAdded, usersTable, humanAdded, { unlessRemoved });
users.onRow(ev.userHumanSelfRegistered, usersTable, humanAdded, { unlessRemoved });

users.onRow(
  ev.userMachineAdded,
  usersTable,
  (row, e) => ({
    ...newUser(e, UserType.machine, e.payload.userName, row),
    machine_name: e.payload.name,
    machine_description: nullIfEmpty(e.payload.description),
    access_token_type: e.payload.accessTokenType ?? 0,
    has_secret: false,
  }),
  { unlessRemoved },
);

users.onRow(
  ev.userHumanInitCodeAdded,
  usersTable,
  update(() => ({ state: UserState.initial })),
);
users.onRow(
  ev.userHumanInitCheckSucceeded,
  usersTable,
  update(() => ({ state: UserState.active })),
);
users.onRow(
  ev.userLocked,
  usersTable,
  update(() => ({ state: UserState.locked })),
);
users.onRow(
  ev.userUnlocked,
  usersTable,
  update(() => ({ state: UserState.active })),
);
users.onRow(
  ev.userDeactivated,
  usersTable,
  update(() => ({ state: UserState.inactive })),
);
users.onRow(
  ev.userReactivated,
  usersTable,
  update(() => ({ state: UserState.active })),
);
users.onRow(ev.userRemoved, usersTable, removeRow);
users.onRow(
  [ev.userUsernameChanged, ev.userDomainClaimed],
  usersTable,
  update((_r, e) => ({ username: e.payload.userName })),
);

users.onRow(
  ev.userHumanProfileChanged,
  usersTable,
  human((_r, e) => {
    const p = e.payload;
    const patch: Partial<UserRow> = {};
    if (p.firstName) patch.first_name = p.firstName;
    if (p.lastName) patch.last_name = p.lastName;
    if (p.nickName != null) patch.nick_name = nullIfEmpty(p.nickName);
    if (p.displayName != null) patch.display_name = nullIfEmpty(p.displayName);
    if (p.preferredLanguage != null) patch.preferred_language = language(p.preferredLanguage);
    if (p.gender != null) patch.gender = nullIfEmpty(p.gender);
    return patch;
  }),
);

users.onRow(
  ev.userHumanEmailChanged,
  usersTable,
  human((_r, e) => ({ email: e.payload.email, is_email_verified: false })),
);
users.onRow(
  ev.userHumanEmailVerified,
  usersTable,
  human((r) => ({ is_email_verified: true, verified_email: r.email })),
);
users.onRow(
  ev.userHumanPhoneChanged,
  usersTable,
  human((_r, e) => ({ phone: e.payload.phone, is_phone_verified: false })),
);
users.onRow(
  ev.userHumanPhoneRemoved,
  usersTable,
  human(() => ({ phone: null, is_phone_verified: null, verified_phone: null })),
);
users.onRow(
  ev.userHumanPhoneVerified,
  usersTable,
  human((r) => ({ is_phone_verified: true, verified_phone: r.phone })),
);
users.onRow(
  ev.userHumanAvatarAdded,
  usersTable,
  human((_r, e) => ({ avatar_key: e.payload.storeKey })),
);
users.onRow(
  ev.userHumanAvatarRemoved,
  usersTable,
  human(() => ({ avatar_key: null })),
);
users.onRow(
  ev.userHumanPasswordChanged,
  usersTable,
  human((_r, e) => ({
    password_set: true,
    password_change_required: e.payload.changeRequired,
    password_changed: e.createdAt,
  })),
);

users.onRow(
  ev.userMachineChanged,
  usersTable,
  machine((_r, e) => {
    const p = e.payload;
    const patch: Partial<UserRow> = {};
    if (p.name != null) patch.machine_name = p.name;
    if (p.description != null) patch.machine_description = nullIfEmpty(p.description);
    if (p.accessTokenType != null) patch.access_token_type = p.accessTokenType;
    return Object.keys(patch).length ? patch : undefined; // nothing present: no-op, as in ZITADEL
  }),
);
users.onRow(
  [ev.userMachineSecretSet, ev.userMachineSecretUpdated],
  usersTable,
  machine(() => ({ has_secret: true })),
);
users.onRow(
  ev.userMachineSecretRemoved,
  usersTable,
  machine(() => ({ has_secret: false })),
);

// The user now has a second factor, so "MFA setup skipped" no longer applies.
users.onRow(
  [ev.userHumanMfaOtpVerified, ev.userHumanMfaOtpSmsAdded, ev.userHumanMfaOtpEmailAdded, ev.userHumanU2fTokenVerified, ev.userHumanPasswordlessTokenVerified],
  usersTable,
  human(() => ({ mfa_init_skipped: null })),
);
users.onRow(
  ev.userHumanMfaInitSkipped,
  usersTable,
  human((_r, e) => ({ mfa_init_skipped: e.createdAt })),
);

// --- login-name inputs -------------------------------------------------------------------------------

const orgDomains =
  (change: (row: OrgDomainsRow, domain: string) => Pick<OrgDomainsRow, "domains" | "primary_domain"> | undefined) =>
  (row: OrgDomainsRow | undefined, e: ProjectedEvent<{ domain: string }>): OrgDomainsRow | undefined => {
    const base: OrgDomainsRow = row ?? { ...created(orgDomainsTable, e), org_id: e.aggregateId, domains: [], primary_domain: null };
    const next = change(base, e.payload.domain);
    return next ? touched(base, e, next) : undefined;
  };

users.onRow(
  ev.orgDomainVerified,
  orgDomainsTable,
  orgDomains((r, d) => (r.domains.includes(d) ? undefined : { domains: [...r.domains, d], primary_domain: r.primary_domain })),
  { unlessRemoved },
);
users.onRow(
  ev.orgDomainPrimarySet,
  orgDomainsTable,
  orgDomains((r, d) => ({ domains: r.domains, primary_domain: d })),
);
users.onRow(
  ev.orgDomainRemoved,
  orgDomainsTable,
  orgDomains((r, d) => ({ domains: r.domains.filter((x) => x !== d), primary_domain: r.primary_domain === d ? null : r.primary_domain })),
);

// Policies are keyed by their aggregate: the org, or the instance for the instance default.
type PolicyAdded = ProjectedEvent<ev.PayloadOf<typeof ev.orgDomainPolicyAdded>>;
type PolicyChanged = ProjectedEvent<ev.PayloadOf<typeof ev.orgDomainPolicyChanged>>;
const policyAdded = (_row: DomainPolicyRow | undefined, e: PolicyAdded): DomainPolicyRow => ({
  ...created(domainPoliciesTable, e),
  owner_id: e.aggregateId,
  must_be_domain: e.payload.userLoginMustBeDomain,
  is_default: e.aggregateType === "instance",
});
const policyChanged = (row: DomainPolicyRow | undefined, e: PolicyChanged): DomainPolicyRow | undefined => {
  const must = e.payload.userLoginMustBeDomain;
  return row && must != null ? touched(row, e, { must_be_domain: must }) : undefined;
};
users.onRow(ev.orgDomainPolicyAdded, domainPoliciesTable, policyAdded, { unlessRemoved });
users.onRow(ev.instanceDomainPolicyAdded, domainPoliciesTable, policyAdded, { unlessRemoved });
users.onRow(ev.orgDomainPolicyChanged, domainPoliciesTable, policyChanged);
users.onRow(ev.instanceDomainPolicyChanged, domainPoliciesTable, policyChanged);
users.onRow(ev.orgDomainPolicyRemoved, domainPoliciesTable, removeRow);

// --- metadata ----------------------------------------------------------------------------------------

const metadataKey = (e: ProjectedEvent<{ key: string }>) => [e.instanceId, e.aggregateId, e.payload.key];
// Setting a key again replaces its value and keeps its creation date (an upsert, as in ZITADEL).
users.onRow(
  ev.userMetadataSet,
  userMetadataTable,
  (row, e) => ({
    ...created(userMetadataTable, e),
    user_id: e.aggregateId,
    key: e.payload.key,
    creation_date: row?.creation_date ?? e.createdAt,
    value: e.payload.value,
  }),
  { key: metadataKey, unlessRemoved },
);
users.onRow(ev.userMetadataRemoved, userMetadataTable, removeRow, { key: metadataKey });
const userMetadataDeleted = (e: ProjectedEvent) => [
  { text: "DELETE FROM user_metadata WHERE instance_id = $1 AND user_id = $2", values: [e.instanceId, e.aggregateId] },
];
// Touches user_metadata only: inside a batch without metadata rows it does not end the fold segment.
users.onSql(ev.userMetadataRemovedAll, userMetadataDeleted, { touches: [userMetadataTable] });

// --- cascades ----------------------------------------------------------------------------------------

users.onSql(ev.userRemoved, userMetadataDeleted, { touches: [userMetadataTable] });
users.onSql(ev.orgRemoved, (e) => [
  { text: "DELETE FROM user_metadata WHERE instance_id = $1 AND resource_owner = $2", values: [e.instanceId, e.aggregateId] },
  { text: "DELETE FROM users WHERE instance_id = $1 AND resource_owner = $2", values: [e.instanceId, e.aggregateId] },
  { text: "DELETE FROM org_domains WHERE instance_id = $1 AND org_id = $2", values: [e.instanceId, e.aggregateId] },
  { text: "DELETE FROM domain_policies WHERE instance_id = $1 AND owner_id = $2", values: [e.instanceId, e.aggregateId] },
]);
users.markRemoved(ev.orgRemoved, "org").cascadeInstanceRemoval();
