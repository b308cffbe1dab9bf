// User auth methods read model (ZITADEL user_auth_methods5): one row per (user, method type, token) for
// TOTP, U2F, passwordless, OTP SMS, OTP email and recovery codes; never secrets, public keys or codes.
// A small per-user lookup records whether the user has a password, which ZITADEL's
// ListUserAuthMethodTypes derives from the users projection and adds to the types of this table.
import * as ev from "@idp/events";
import {
  type BaseRow,
  type FoldContext,
  Projection,
  type ProjectedEvent,
  type RowRef,
  type RowResult,
  anyRemoved,
  markRemoved,
  tombstone,
  touched,
} from "@idp/runtime";

/** ZITADEL's auth method types (password 4 and IdP 5 are not rows of this table). */
export const MethodType = { totp: 1, u2f: 2, passwordless: 3, otpSms: 6, otpEmail: 7, recoveryCode: 11 } as const;
/** ZITADEL's MFA states; removed methods are deleted, so 3 (removed) never appears. */
export const MethodState = { notReady: 1, ready: 2 } as const;

export interface AuthMethodRow extends BaseRow {
  user_id: string;
  method_type: number;
  /** WebAuthn token id for U2F and passwordless; '' for the methods a user has at most once. */
  token_id: string;
  creation_date: Date;
  state: number;
  /** Token name given at verification; '' until then and for methods without names. */
  name: string;
  /** WebAuthn relying-party id. */
  domain: string | null;
}

export interface AuthMethodUserRow extends BaseRow {
  user_id: string;
  password_set: boolean;
}

export const authMethods = new Projection("auth_methods");

export const authMethodsTable = authMethods.table<AuthMethodRow>({
  name: "user_auth_methods",
  key: ["instance_id", "user_id", "method_type", "token_id"],
  columns: {
    instance_id: "text",
    user_id: "text",
    method_type: "int2",
    token_id: "text",
    resource_owner: "text",
    creation_date: "timestamptz",
    change_date: "timestamptz",
    sequence: "int8",
    state: "int2",
    name: "text",
    domain: "text",
  },
});

export const authMethodUsersTable = authMethods.table<AuthMethodUserRow>({
  name: "auth_method_users",
  key: ["instance_id", "user_id"],
  columns: {
    instance_id: "text",
    user_id: "text",
    resource_owner: "text",
    change_date: "timestamptz",
    sequence: "int8",
    password_set: "bool",
  },
});

// Multi-topic mode: an instance or org removal may be applied before a late event that creates rows in
// it; tombstones make such an event a no-op. (User removal needs none: methods are events of the same
// user aggregate, so they are always ordered with it.)
const ownerRefs = (e: ProjectedEvent): RowRef[] => [tombstone("instance", e.instanceId, e.instanceId), tombstone("org", e.instanceId, e.resourceOwner)];
function unlessOwnerRemoved<Row extends BaseRow, E extends ProjectedEvent>(apply: (row: Row | undefined, e: E) => RowResult<Row>) {
  return (row: Row | undefined, e: E, ctx: FoldContext): RowResult<Row> => (anyRemoved(ctx, ownerRefs(e)) ? undefined : apply(row, e));
}

const tokenOf = (e: ProjectedEvent) => (e.payload as { webAuthNTokenId?: string }).webAuthNTokenId ?? "";
/** Row key of the method `type` of the event's user (token id from the payload, '' if none). */
const methodKey = (type: number) => (e: ProjectedEvent) => [e.instanceId, e.aggregateId, type, tokenOf(e)];

/** Adds (or re-adds) a method: ZITADEL upserts and keeps the original creation date. */
function added(type: number, state: number) {
  return unlessOwnerRemoved<AuthMethodRow, ProjectedEvent>((row, e) => ({
    instance_id: e.instanceId,
    user_id: e.aggregateId,
    method_type: type,
    token_id: tokenOf(e),
    resource_owner: e.resourceOwner,
    creation_date: row?.creation_date ?? e.createdAt,
    change_date: e.createdAt,
    sequence: e.aggregateSequence,
    state,
    name: "",
    domain: (e.payload as { rpID?: string | null }).rpID ?? null,
  }));
}
const verified = (row: AuthMethodRow | undefined, e: ProjectedEvent): AuthMethodRow | undefined =>
  row ? touched(row, e, { state: MethodState.ready, name: (e.payload as { webAuthNTokenName?: string | null }).webAuthNTokenName ?? "" }) : undefined;
const removed = (row: AuthMethodRow | undefined) => (row ? null : undefined);

/** One method type: which events add, verify and remove it. */
function method(type: number, on: { added: ev.EventDefinition[]; addedState: number; verified?: ev.EventDefinition[]; removed: ev.EventDefinition[] }) {
  const key = methodKey(type);
  authMethods.onRow(on.added, authMethodsTable, added(type, on.addedState), { key, reads: ownerRefs });
  if (on.verified) authMethods.onRow(on.verified, authMethodsTable, verified, { key });
  authMethods.onRow(on.removed, authMethodsTable, removed, { key });
}

// WebAuthn tokens and TOTP need a verification; OTP via SMS/email and recovery codes are ready at once.
method(MethodType.passwordless, {
  added: [ev.userHumanPasswordlessTokenAdded],
  addedState: MethodState.notReady,
  verified: [ev.userHumanPasswordlessTokenVerified],
  removed: [ev.userHumanPasswordlessTokenRemoved],
});
method(MethodType.u2f, {
  added: [ev.userHumanU2fTokenAdded],
  addedState: MethodState.notReady,
  verified: [ev.userHumanU2fTokenVerified],
  removed: [ev.userHumanU2fTokenRemoved],
});
method(MethodType.totp, {
  added: [ev.userHumanMfaOtpAdded],
  addedState: MethodState.notReady,
  verified: [ev.userHumanMfaOtpVerified],
  removed: [ev.userHumanMfaOtpRemoved],
});
// Removing the phone removes OTP via SMS (ZITADEL reduces both phone-removed names).
method(MethodType.otpSms, { added: [ev.userHumanMfaOtpSmsAdded], addedState: MethodState.ready, removed: [ev.userHumanMfaOtpSmsRemoved, ev.userHumanPhoneRemoved] });
method(MethodType.otpEmail, { added: [ev.userHumanMfaOtpEmailAdded], addedState: MethodState.ready, removed: [ev.userHumanMfaOtpEmailRemoved] });
method(MethodType.recoveryCode, {
  added: [ev.userHumanMfaRecoveryCodeAdded],
  addedState: MethodState.ready,
  removed: [ev.userHumanMfaRecoveryCodeRemoved],
});

// --- password (lookup per user) ----------------------------------------------------------------------

const userAdded = (passwordSet: (e: ProjectedEvent) => boolean) =>
  unlessOwnerRemoved<AuthMethodUserRow, ProjectedEvent>((_row, e) => ({
    instance_id: e.instanceId,
    user_id: e.aggregateId,
    resource_owner: e.resourceOwner,
    change_date: e.createdAt,
    sequence: e.aggregateSequence,
    password_set: passwordSet(e),
  }));
authMethods.onRow(
  [ev.userHumanAdded, ev.userHumanSelfRegistered],
  authMethodUsersTable,
  userAdded((e) => Boolean((e.payload as { encodedHash?: string | null }).encodedHash)),
  { reads: ownerRefs },
);
authMethods.onRow(ev.userMachineAdded, authMethodUsersTable, userAdded(() => false), { reads: ownerRefs });
authMethods.onRow(ev.userHumanPasswordChanged, authMethodUsersTable, (row, e) => (row ? touched(row, e, { password_set: true }) : undefined));
authMethods.onRow(ev.userRemoved, authMethodUsersTable, (row) => (row ? null : undefined));

// --- cascades ----------------------------------------------------------------------------------------

authMethods.onSql(ev.userRemoved, (e) => [
  {
    text: "DELETE FROM user_auth_methods WHERE instance_id = $1 AND user_id = $2 AND resource_owner = $3",
    values: [e.instanceId, e.aggregateId, e.resourceOwner],
  },
]);
authMethods.onSql(ev.orgRemoved, (e) =>
  ["user_auth_methods", "auth_method_users"].map((t) => ({
    text: `DELETE FROM ${t} WHERE instance_id = $1 AND resource_owner = $2`,
    values: [e.instanceId, e.aggregateId],
  })),
);
markRemoved(authMethods, ev.orgRemoved, "org");
markRemoved(authMethods, ev.instanceRemoved, "instance");
authMethods.onSql(ev.instanceRemoved, (e) =>
  ["user_auth_methods", "auth_method_users"].map((t) => ({ text: `DELETE FROM ${t} WHERE instance_id = $1`, values: [e.instanceId] })),
);
