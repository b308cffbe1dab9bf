// Users read model: reducers for every user event of ZITADEL's users projection, plus the org-domain and
// domain-policy events that login names need, and the org/instance removal cascades.
import * as ev from "@idp/events";
import {
  type BaseRow,
  type FoldContext,
  Projection,
  type ProjectedEvent,
  type RowResult,
  anyRemoved,
  markRemoved,
  tombstone,
  touched,
} from "@idp/runtime";

export const UserState = { active: 1, inactive: 2, locked: 4, initial: 6 } as const;
export const UserType = { human: 1, machine: 2 } as const;

export interface UserRow extends BaseRow {
  id: string;
  creation_date: Date;
  state: number;
  type: number;
  username: string;
  first_name: string | null;
  last_name: string | null;
  nick_name: string | null;
  display_name: string | null;
  preferred_language: string | null;
  gender: number | null;
  avatar_key: string | null;
  email: string | null;
  is_email_verified: boolean | null;
  verified_email: string | null;
  phone: string | null;
  is_phone_verified: boolean | null;
  verified_phone: string | null;
  password_set: boolean | null;
  password_change_required: boolean | null;
  password_changed: Date | null;
  mfa_init_skipped: Date | null;
  machine_name: string | null;
  machine_description: string | null;
  access_token_type: number | null;
  has_secret: boolean | null;
}

export interface OrgDomainsRow extends BaseRow {
  org_id: string;
  domains: string[];
  primary_domain: string | null;
}

export interface DomainPolicyRow extends BaseRow {
  owner_id: string;
  must_be_domain: boolean;
  is_default: boolean;
}

export const users = new Projection("users");

export const usersTable = users.table<UserRow>({
  name: "users",
  key: ["instance_id", "id"],
  columns: {
    instance_id: "text",
    id: "text",
    resource_owner: "text",
    creation_date: "timestamptz",
    change_date: "timestamptz",
    sequence: "int8",
    state: "int2",
    type: "int2",
    username: "text",
    first_name: "text",
    last_name: "text",
    nick_name: "text",
    display_name: "text",
    preferred_language: "text",
    gender: "int2",
    avatar_key: "text",
    email: "text",
    is_email_verified: "bool",
    verified_email: "text",
    phone: "text",
    is_phone_verified: "bool",
    verified_phone: "text",
    password_set: "bool",
    password_change_required: "bool",
    password_changed: "timestamptz",
    mfa_init_skipped: "timestamptz",
    machine_name: "text",
    machine_description: "text",
    access_token_type: "int2",
    has_secret: "bool",
  },
});

export const orgDomainsTable = users.table<OrgDomainsRow>({
  name: "org_domains",
  key: ["instance_id", "org_id"],
  columns: {
    instance_id: "text",
    org_id: "text",
    resource_owner: "text",
    change_date: "timestamptz",
    sequence: "int8",
    domains: "text[]",
    primary_domain: "text",
  },
});

export const domainPoliciesTable = users.table<DomainPolicyRow>({
  name: "domain_policies",
  key: ["instance_id", "owner_id"],
  columns: {
    instance_id: "text",
    owner_id: "text",
    resource_owner: "text",
    change_date: "timestamptz",
    sequence: "int8",
    must_be_domain: "bool",
    is_default: "bool",
  },
});

/** Empty strings and ZITADEL's "unset" markers are stored as NULL. */
const text = (v: string | null | undefined) => (v ? v : null);
const language = (v: string | null | undefined) => (v && v !== "und" ? v : null);
const gender = (v: number | null | undefined) => (v ? v : null);

function newUser(e: ProjectedEvent, type: number, username: string): UserRow {
  return {
    instance_id: e.instanceId,
    id: e.aggregateId,
    resource_owner: e.resourceOwner,
    creation_date: e.createdAt,
    change_date: e.createdAt,
    sequence: e.aggregateSequence,
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
function update(change: (row: UserRow, e: ProjectedEvent) => Partial<UserRow> | undefined, type?: number) {
  return (row: UserRow | undefined, e: ProjectedEvent): UserRow | undefined => {
    if (!row || (type !== undefined && row.type !== type)) return undefined;
    const patch = change(row, e);
    return patch ? touched(row, e, patch) : undefined;
  };
}
const human = (change: (row: UserRow, e: ProjectedEvent) => Partial<UserRow> | undefined) => update(change, UserType.human);
const machine = (change: (row: UserRow, e: ProjectedEvent) => Partial<UserRow> | undefined) => update(change, UserType.machine);

// --- users -------------------------------------------------------------------------------------------

// Multi-topic mode: an instance or org removal may be applied before a late event that creates rows in
// it; tombstones make such an event a no-op, so no stale row appears (single-topic order needs none).
const ownerRefs = (e: ProjectedEvent) => [tombstone("instance", e.instanceId, e.instanceId), tombstone("org", e.instanceId, e.resourceOwner)];
function unlessOwnerRemoved<Row extends BaseRow, E extends ProjectedEvent>(apply: (row: Row | undefined, e: E) => RowResult<Row>) {
  return (row: Row | undefined, e: E, ctx: FoldContext): RowResult<Row> => (anyRemoved(ctx, ownerRefs(e)) ? undefined : apply(row, e));
}

function humanAdded(_row: UserRow | undefined, e: ProjectedEvent<ev.PayloadOf<typeof ev.userHumanAdded>>): UserRow {
  const p = e.payload;
  const hasPassword = Boolean(p.encodedHash);
  return {
    ...newUser(e, UserType.human, p.userName),
    first_name: p.firstName,
    last_name: p.lastName,
    nick_name: text(p.nickName),
    display_name: text(p.displayName),
    preferred_language: language(p.preferredLanguage),
    gender: gender(p.gender),
    email: p.email,
    is_email_verified: false,
    phone: text(p.phone),
    is_phone_verified: p.phone ? false : null,
    password_set: hasPassword,
    password_change_required: p.changeRequired,
    password_changed: hasPassword ? e.createdAt : null,
  };
}
users.onRow(ev.userHumanAdded, usersTable, unlessOwnerRemoved(humanAdded), { reads: ownerRefs });
users.onRow(ev.userHumanSelfRegistered, usersTable, unlessOwnerRemoved(humanAdded), { reads: ownerRefs });

users.onRow(
  ev.userMachineAdded,
  usersTable,
  unlessOwnerRemoved((_row, e) => ({
    ...newUser(e, UserType.machine, e.payload.userName),
    machine_name: e.payload.name,
    machine_description: text(e.payload.description),
    access_token_type: e.payload.accessTokenType ?? 0,
    has_secret: false,
  })),
  { reads: ownerRefs },
);

users.onRow(ev.userHumanInitCodeAdded, usersTable, update(() => ({ state: UserState.initial })));
users.onRow(ev.userHumanInitCheckSucceeded, usersTable, update(() => ({ state: UserState.active })));
users.onRow(ev.userLocked, usersTable, update(() => ({ state: UserState.locked })));
users.onRow(ev.userUnlocked, usersTable, update(() => ({ state: UserState.active })));
users.onRow(ev.userDeactivated, usersTable, update(() => ({ state: UserState.inactive })));
users.onRow(ev.userReactivated, usersTable, update(() => ({ state: UserState.active })));
users.onRow(ev.userRemoved, usersTable, (row) => (row ? null : undefined));
users.onRow([ev.userUsernameChanged, ev.userDomainClaimed], usersTable, update((_r, e) => ({ username: (e.payload as { userName: string }).userName })));

users.onRow(
  ev.userHumanProfileChanged,
  usersTable,
  human((_r, e) => {
    const p = (e as ProjectedEvent<ev.PayloadOf<typeof ev.userHumanProfileChanged>>).payload;
    const patch: Partial<UserRow> = {};
    if (p.firstName) patch.first_name = p.firstName;
    if (p.lastName) patch.last_name = p.lastName;
    if (p.nickName != null) patch.nick_name = text(p.nickName);
    if (p.displayName != null) patch.display_name = text(p.displayName);
    if (p.preferredLanguage != null) patch.preferred_language = language(p.preferredLanguage);
    if (p.gender != null) patch.gender = gender(p.gender);
    return patch;
  }),
);

users.onRow(ev.userHumanEmailChanged, usersTable, human((_r, e) => ({ email: (e.payload as { email: string }).email, is_email_verified: false })));
users.onRow(ev.userHumanEmailVerified, usersTable, human((r) => ({ is_email_verified: true, verified_email: r.email })));
users.onRow(ev.userHumanPhoneChanged, usersTable, human((_r, e) => ({ phone: (e.payload as { phone: string }).phone, is_phone_verified: false })));
users.onRow(ev.userHumanPhoneRemoved, usersTable, human(() => ({ phone: null, is_phone_verified: null, verified_phone: null })));
users.onRow(ev.userHumanPhoneVerified, usersTable, human((r) => ({ is_phone_verified: true, verified_phone: r.phone })));
users.onRow(ev.userHumanAvatarAdded, usersTable, human((_r, e) => ({ avatar_key: (e.payload as { storeKey: string }).storeKey })));
users.onRow(ev.userHumanAvatarRemoved, usersTable, human(() => ({ avatar_key: null })));
users.onRow(
  ev.userHumanPasswordChanged,
  usersTable,
  human((_r, e) => ({
    password_set: true,
    password_change_required: (e.payload as { changeRequired: boolean }).changeRequired,
    password_changed: e.createdAt,
  })),
);

users.onRow(
  ev.userMachineChanged,
  usersTable,
  machine((_r, e) => {
    const p = (e as ProjectedEvent<ev.PayloadOf<typeof ev.userMachineChanged>>).payload;
    const patch: Partial<UserRow> = {};
    if (p.name != null) patch.machine_name = p.name;
    if (p.description != null) patch.machine_description = text(p.description);
    if (p.accessTokenType != null) patch.access_token_type = p.accessTokenType;
    return Object.keys(patch).length ? patch : undefined; // nothing present: no-op, as in ZITADEL
  }),
);
users.onRow([ev.userMachineSecretSet, ev.userMachineSecretUpdated], usersTable, machine(() => ({ has_secret: true })));
users.onRow(ev.userMachineSecretRemoved, usersTable, machine(() => ({ has_secret: false })));

// The user now has a second factor, so "MFA setup skipped" no longer applies.
users.onRow(
  [ev.userHumanMfaOtpVerified, ev.userHumanMfaOtpSmsAdded, ev.userHumanMfaOtpEmailAdded, ev.userHumanU2fTokenVerified, ev.userHumanPasswordlessTokenVerified],
  usersTable,
  human(() => ({ mfa_init_skipped: null })),
);
users.onRow(ev.userHumanMfaInitSkipped, usersTable, human((_r, e) => ({ mfa_init_skipped: e.createdAt })));

// --- login-name inputs -------------------------------------------------------------------------------

const orgDomains = (
  change: (row: OrgDomainsRow, domain: string) => Pick<OrgDomainsRow, "domains" | "primary_domain"> | undefined,
) =>
  (row: OrgDomainsRow | undefined, e: ProjectedEvent<{ domain: string }>): OrgDomainsRow | undefined => {
    const base: OrgDomainsRow = row ?? {
      instance_id: e.instanceId,
      org_id: e.aggregateId,
      resource_owner: e.resourceOwner,
      change_date: e.createdAt,
      sequence: e.aggregateSequence,
      domains: [],
      primary_domain: null,
    };
    const next = change(base, e.payload.domain);
    return next ? touched(base, e, next) : undefined;
  };

users.onRow(ev.orgDomainVerified, orgDomainsTable, unlessOwnerRemoved(orgDomains((r, d) => (r.domains.includes(d) ? undefined : { domains: [...r.domains, d], primary_domain: r.primary_domain }))), { reads: ownerRefs });
users.onRow(ev.orgDomainPrimarySet, orgDomainsTable, orgDomains((r, d) => ({ domains: r.domains, primary_domain: d })));
users.onRow(
  ev.orgDomainRemoved,
  orgDomainsTable,
  orgDomains((r, d) => ({ domains: r.domains.filter((x) => x !== d), primary_domain: r.primary_domain === d ? null : r.primary_domain })),
);

// Policies are keyed by their aggregate: the org, or the instance for the instance default.
type PolicyAdded = ProjectedEvent<ev.PayloadOf<typeof ev.orgDomainPolicyAdded>>;
type PolicyChanged = ProjectedEvent<ev.PayloadOf<typeof ev.orgDomainPolicyChanged>>;
const policyAdded = (_row: DomainPolicyRow | undefined, e: PolicyAdded): DomainPolicyRow => ({
  instance_id: e.instanceId,
  owner_id: e.aggregateId,
  resource_owner: e.resourceOwner,
  change_date: e.createdAt,
  sequence: e.aggregateSequence,
  must_be_domain: e.payload.userLoginMustBeDomain,
  is_default: e.aggregateType === "instance",
});
const policyChanged = (row: DomainPolicyRow | undefined, e: PolicyChanged): DomainPolicyRow | undefined => {
  const must = e.payload.userLoginMustBeDomain;
  return row && must != null ? touched(row, e, { must_be_domain: must }) : undefined;
};
users.onRow(ev.orgDomainPolicyAdded, domainPoliciesTable, unlessOwnerRemoved(policyAdded), { reads: ownerRefs });
users.onRow(ev.instanceDomainPolicyAdded, domainPoliciesTable, unlessOwnerRemoved(policyAdded), { reads: ownerRefs });
users.onRow(ev.orgDomainPolicyChanged, domainPoliciesTable, policyChanged);
users.onRow(ev.instanceDomainPolicyChanged, domainPoliciesTable, policyChanged);
users.onRow(ev.orgDomainPolicyRemoved, domainPoliciesTable, (row) => (row ? null : undefined));

// --- cascades ----------------------------------------------------------------------------------------

users.onSql(ev.orgRemoved, (e) => [
  { text: "DELETE FROM users WHERE instance_id = $1 AND resource_owner = $2", values: [e.instanceId, e.aggregateId] },
  { text: "DELETE FROM org_domains WHERE instance_id = $1 AND org_id = $2", values: [e.instanceId, e.aggregateId] },
  { text: "DELETE FROM domain_policies WHERE instance_id = $1 AND owner_id = $2", values: [e.instanceId, e.aggregateId] },
]);
markRemoved(users, ev.orgRemoved, "org");
markRemoved(users, ev.instanceRemoved, "instance");
users.onSql(ev.instanceRemoved, (e) =>
  ["users", "org_domains", "domain_policies"].map((t) => ({ text: `DELETE FROM ${t} WHERE instance_id = $1`, values: [e.instanceId] })),
);
