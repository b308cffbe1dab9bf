// User auth methods read model (ZITADEL user_auth_methods5): one row per (user, method type, token) for
// TOTP, U2F, passwordless, OTP SMS, OTP email and recovery codes; never secrets, public keys or codes.
// A small per-user lookup records whether the user has a password, which ZITADEL's
// ListUserAuthMethodTypes derives from the users projection and adds to the types of this table; the
// users' IdP links (ZITADEL idp_user_links) give the type "IdP".
import * as ev from "@idp/events";
import { baseColumns, col, created, nullIfEmpty, ownerTombstones, type ProjectedEvent, Projection, type RowOf, removeRow, touched } from "@idp/runtime";

/** ZITADEL's auth method types (password 4 and IdP 5 are not rows of this table). */
export const MethodType = { totp: 1, u2f: 2, passwordless: 3, otpSms: 6, otpEmail: 7, recoveryCode: 11 } as const;
/** ZITADEL's MFA states; removed methods are deleted, so 3 (removed) never appears. */
export const MethodState = { notReady: 1, ready: 2 } as const;

export const authMethods = new Projection("auth_methods");

export const authMethodsTable = authMethods.table({
  name: "user_auth_methods",
  key: ["instance_id", "user_id", "method_type", "token_id"],
  columns: {
    ...baseColumns,
    user_id: col.text,
    method_type: col.int2,
    /** WebAuthn token id for U2F and passwordless; '' for the methods a user has at most once. */
    token_id: col.text,
    creation_date: col.timestamptz,
    state: col.int2,
    /** Token name given at verification; '' until then and for methods without names. */
    name: col.text,
    /** WebAuthn relying-party id. */
    domain: col.text.nullable,
  },
});
export type AuthMethodRow = RowOf<typeof authMethodsTable>;

/** Whether the user has a password (ZITADEL derives it from the users projection). */
export const authMethodUsersTable = authMethods.table({
  name: "auth_method_users",
  key: ["instance_id", "user_id"],
  columns: { ...baseColumns, user_id: col.text, password_set: col.bool },
});
export type AuthMethodUserRow = RowOf<typeof authMethodUsersTable>;

/**
 * Links of users to their accounts at external IdPs (ZITADEL idp_user_links): one row per (IdP, user id
 * at that IdP). A user with at least one link has the auth method type "IdP".
 */
export const idpLinksTable = authMethods.table({
  name: "idp_user_links",
  key: ["instance_id", "idp_id", "external_user_id"],
  columns: {
    ...baseColumns,
    idp_id: col.text,
    external_user_id: col.text,
    user_id: col.text,
    creation_date: col.timestamptz,
    display_name: col.text.nullable,
  },
});
export type IdpLinkRow = RowOf<typeof idpLinksTable>;

// Multi-topic mode: an instance or org removal may be applied before a late event that creates rows in
// it; tombstones make such an event a no-op. (User removal needs none: methods are events of the same
// user aggregate, so they are always ordered with it.)
const unlessRemoved = ownerTombstones;

/** A string field that only some of a method's events carry (the WebAuthn ones). */
const optionalText = (e: ProjectedEvent<object>, name: string): string | undefined => {
  const v: unknown = Reflect.get(e.payload, name);
  return typeof v === "string" ? v : undefined;
};
const tokenOf = (e: ProjectedEvent<object>) => optionalText(e, "webAuthNTokenId") ?? "";
/** Row key of the method `type` of the event's user (token id from the payload, '' if none). */
const methodKey = (type: number) => (e: ProjectedEvent<object>) => [e.instanceId, e.aggregateId, type, tokenOf(e)];

/** Adds (or re-adds) a method: ZITADEL upserts and keeps the original creation date. */
const added =
  (type: number, state: number) =>
  (row: AuthMethodRow | undefined, e: ProjectedEvent<object>): AuthMethodRow => ({
    ...created(authMethodsTable, e),
    user_id: e.aggregateId,
    method_type: type,
    token_id: tokenOf(e),
    creation_date: row?.creation_date ?? e.createdAt,
    state,
    name: "",
    domain: optionalText(e, "rpID") ?? null,
  });
const verified = (row: AuthMethodRow | undefined, e: ProjectedEvent<object>): AuthMethodRow | undefined =>
  row ? touched(row, e, { state: MethodState.ready, name: optionalText(e, "webAuthNTokenName") ?? "" }) : undefined;

/** One method type: which events add, verify and remove it. */
function method(type: number, on: { added: ev.EventDefinition[]; addedState: number; verified?: ev.EventDefinition[]; removed: ev.EventDefinition[] }) {
  const key = methodKey(type);
  authMethods.onRow(on.added, authMethodsTable, added(type, on.addedState), { key, unlessRemoved });
  if (on.verified) authMethods.onRow(on.verified, authMethodsTable, verified, { key });
  authMethods.onRow(on.removed, authMethodsTable, removeRow, { key });
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
method(MethodType.otpSms, {
  added: [ev.userHumanMfaOtpSmsAdded],
  addedState: MethodState.ready,
  removed: [ev.userHumanMfaOtpSmsRemoved, ev.userHumanPhoneRemoved],
});
method(MethodType.otpEmail, { added: [ev.userHumanMfaOtpEmailAdded], addedState: MethodState.ready, removed: [ev.userHumanMfaOtpEmailRemoved] });
method(MethodType.recoveryCode, {
  added: [ev.userHumanMfaRecoveryCodeAdded],
  addedState: MethodState.ready,
  removed: [ev.userHumanMfaRecoveryCodeRemoved],
});

// --- password (lookup per user) ----------------------------------------------------------------------

const userAdded = (e: ev.EventEnvelope, passwordSet: boolean): AuthMethodUserRow => ({
  ...created(authMethodUsersTable, e),
  user_id: e.aggregateId,
  password_set: passwordSet,
});
authMethods.onRow([ev.userHumanAdded, ev.userHumanSelfRegistered], authMethodUsersTable, (_row, e) => userAdded(e, Boolean(e.payload.encodedHash)), {
  unlessRemoved,
});
authMethods.onRow(ev.userMachineAdded, authMethodUsersTable, (_row, e) => userAdded(e, false), { unlessRemoved });
authMethods.onRow(ev.userHumanPasswordChanged, authMethodUsersTable, (row, e) => (row ? touched(row, e, { password_set: true }) : undefined));
authMethods.onRow(ev.userRemoved, authMethodUsersTable, removeRow);

// --- IdP links ---------------------------------------------------------------------------------------

const linkKey = (e: ProjectedEvent<{ idpConfigId: string; userId: string }>) => [e.instanceId, e.payload.idpConfigId, e.payload.userId];
/** A link belongs to the user that added it: another user's events never take it over or remove it. */
const ownLink = (row: IdpLinkRow, e: ProjectedEvent) => row.user_id === e.aggregateId && row.resource_owner === e.resourceOwner;
authMethods.onRow(
  ev.userIdpLinkAdded,
  idpLinksTable,
  (row, e) =>
    row && !ownLink(row, e)
      ? undefined
      : {
          ...created(idpLinksTable, e),
          idp_id: e.payload.idpConfigId,
          external_user_id: e.payload.userId,
          user_id: e.aggregateId,
          creation_date: row?.creation_date ?? e.createdAt,
          display_name: nullIfEmpty(e.payload.displayName),
        },
  { key: linkKey, unlessRemoved },
);
authMethods.onRow([ev.userIdpLinkRemoved, ev.userIdpLinkCascadeRemoved], idpLinksTable, (row, e) => (row && ownLink(row, e) ? null : undefined), {
  key: linkKey,
});
// The IdP's id of the user changed: the link moves to the new key, unless that key is already taken.
authMethods.onSql(ev.userIdpLinkIdMigrated, (e) => [
  {
    text: `UPDATE idp_user_links SET external_user_id = $4, change_date = $5, sequence = $6
           WHERE instance_id = $1 AND idp_id = $2 AND external_user_id = $3 AND user_id = $7 AND resource_owner = $8
             AND NOT EXISTS (SELECT 1 FROM idp_user_links o WHERE o.instance_id = $1 AND o.idp_id = $2 AND o.external_user_id = $4)`,
    values: [e.instanceId, e.payload.idpConfigId, e.payload.previousId, e.payload.newId, e.createdAt, e.aggregateSequence, e.aggregateId, e.resourceOwner],
  },
]);

// Removing an org's IdP drops the links of that org's users to it; removing an instance IdP drops every
// link to it in the instance (ZITADEL also emits a cascade removal per link, which then finds nothing).
const orgIdpRemoved = (e: ProjectedEvent, idpId: string) => [
  { text: "DELETE FROM idp_user_links WHERE instance_id = $1 AND idp_id = $2 AND resource_owner = $3", values: [e.instanceId, idpId, e.aggregateId] },
];
const instanceIdpRemoved = (e: ProjectedEvent, idpId: string) => [
  { text: "DELETE FROM idp_user_links WHERE instance_id = $1 AND idp_id = $2", values: [e.instanceId, idpId] },
];
authMethods.onSql(ev.orgIdpConfigRemoved, (e) => orgIdpRemoved(e, e.payload.idpConfigId));
authMethods.onSql(ev.orgIdpRemoved, (e) => orgIdpRemoved(e, e.payload.id));
authMethods.onSql(ev.instanceIdpConfigRemoved, (e) => instanceIdpRemoved(e, e.payload.idpConfigId));
authMethods.onSql(ev.instanceIdpRemoved, (e) => instanceIdpRemoved(e, e.payload.id));

// --- cascades ----------------------------------------------------------------------------------------

authMethods.onSql(ev.userRemoved, (e) => [
  {
    text: "DELETE FROM user_auth_methods WHERE instance_id = $1 AND user_id = $2 AND resource_owner = $3",
    values: [e.instanceId, e.aggregateId, e.resourceOwner],
  },
  { text: "DELETE FROM idp_user_links WHERE instance_id = $1 AND user_id = $2", values: [e.instanceId, e.aggregateId] },
]);
authMethods.onSql(ev.orgRemoved, (e) =>
  ["user_auth_methods", "auth_method_users", "idp_user_links"].map((t) => ({
    text: `DELETE FROM ${t} WHERE instance_id = $1 AND resource_owner = $2`,
    values: [e.instanceId, e.aggregateId],
  })),
);
authMethods.markRemoved(ev.orgRemoved, "org").cascadeInstanceRemoval();
