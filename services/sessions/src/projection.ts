// Sessions read model (ZITADEL sessions8): one row per session with the user check, the time of each
// factor check, the token id, metadata, user agent and expiration; plus a small lookup of the users'
// names (fed by user events) and of the org domains and domain policies their login names depend on, so
// the API can show who a session belongs to without calling the users service. Cascades: user removed / locked / deactivated delete the user's sessions, a password change
// invalidates older password checks, instance removed deletes everything.
import * as ev from "@idp/events";
import {
  aggregateColumns,
  anyRemoved,
  baseColumns,
  col,
  created,
  declareLoginNameInputs,
  instanceTombstone,
  nullIfEmpty,
  ownerTombstones,
  type ProjectedEvent,
  Projection,
  type RowOf,
  removeRow,
  tombstone,
  touched,
} from "@idp/runtime";

export const SessionState = { active: 1, terminated: 2 } as const;

export const sessions = new Projection("sessions");

export const sessionsTable = sessions.table({
  name: "sessions",
  key: ["instance_id", "id"],
  columns: {
    ...aggregateColumns,
    state: col.int2,
    creator: col.text,
    user_id: col.text.nullable,
    user_resource_owner: col.text.nullable,
    user_checked_at: col.timestamptz.nullable,
    password_checked_at: col.timestamptz.nullable,
    intent_checked_at: col.timestamptz.nullable,
    webauthn_checked_at: col.timestamptz.nullable,
    webauthn_user_verified: col.bool.nullable,
    totp_checked_at: col.timestamptz.nullable,
    otp_sms_checked_at: col.timestamptz.nullable,
    otp_email_checked_at: col.timestamptz.nullable,
    mfa_recovery_code_checked_at: col.timestamptz.nullable,
    /** key → base64 value, as ZITADEL serialises the []byte values. */
    metadata: col.jsonb<Record<string, string>>().nullable,
    /** Id of the current session token; the token itself is never in the stream nor here. */
    token_id: col.text.nullable,
    user_agent_fingerprint_id: col.text.nullable,
    user_agent_ip: col.text.nullable,
    user_agent_description: col.text.nullable,
    user_agent_header: col.jsonb<Record<string, string[]>>().nullable,
    expiration: col.timestamptz.nullable,
  },
});
export type SessionRow = RowOf<typeof sessionsTable>;

/** What sessions show of a user (ZITADEL joins users/humans/login names at query time). */
export const sessionUsersTable = sessions.table({
  name: "session_users",
  key: ["instance_id", "user_id"],
  columns: { ...baseColumns, user_id: col.text, username: col.text, display_name: col.text.nullable },
});
export type SessionUserRow = RowOf<typeof sessionUsersTable>;

// Multi-topic mode: a removal may be applied before a late event of the removed entity; tombstones turn
// such an event into a no-op (or, for a session's user check, into the deletion the removal implies).

// --- sessions ----------------------------------------------------------------------------------------

sessions.onRow(
  ev.sessionAdded,
  sessionsTable,
  (row, e) => {
    const ua = e.payload.user_agent;
    return {
      ...created(sessionsTable, e, row),
      id: e.aggregateId,
      state: SessionState.active,
      creator: e.creator,
      user_id: null,
      user_resource_owner: null,
      user_checked_at: null,
      password_checked_at: null,
      intent_checked_at: null,
      webauthn_checked_at: null,
      webauthn_user_verified: null,
      totp_checked_at: null,
      otp_sms_checked_at: null,
      otp_email_checked_at: null,
      mfa_recovery_code_checked_at: null,
      metadata: null,
      token_id: null,
      user_agent_fingerprint_id: nullIfEmpty(ua?.fingerprint_id),
      user_agent_ip: nullIfEmpty(ua?.ip),
      user_agent_description: nullIfEmpty(ua?.description),
      user_agent_header: ua?.header ?? null,
      expiration: null,
    };
  },
  { unlessRemoved: instanceTombstone },
);

/** Applies `change` to an existing session and stamps change date and sequence. */
function update<E extends ProjectedEvent>(change: (row: SessionRow, e: E) => Partial<SessionRow>) {
  return (row: SessionRow | undefined, e: E): SessionRow | undefined => (row ? touched(row, e, change(row, e)) : undefined);
}

const at = (ms: number) => new Date(ms);

// A user removed before this (late) check would have deleted the session: converge to that.
const checkedUserRef = (e: ProjectedEvent<ev.PayloadOf<typeof ev.sessionUserChecked>>) => [tombstone("user", e.instanceId, e.payload.userID)];
sessions.onRow(
  ev.sessionUserChecked,
  sessionsTable,
  (row, e, ctx) => {
    if (!row) return undefined;
    if (anyRemoved(ctx, checkedUserRef(e))) return null;
    return touched(row, e, { user_id: e.payload.userID, user_resource_owner: e.payload.userResourceOwner, user_checked_at: at(e.payload.checkedAt) });
  },
  { reads: checkedUserRef },
);

const factor = (column: keyof SessionRow) => update<ProjectedEvent<{ checkedAt: number }>>((_r, e) => ({ [column]: at(e.payload.checkedAt) }));
sessions.onRow(ev.sessionPasswordChecked, sessionsTable, factor("password_checked_at"));
sessions.onRow(ev.sessionIntentChecked, sessionsTable, factor("intent_checked_at"));
sessions.onRow(ev.sessionTotpChecked, sessionsTable, factor("totp_checked_at"));
sessions.onRow(ev.sessionOtpSmsChecked, sessionsTable, factor("otp_sms_checked_at"));
sessions.onRow(ev.sessionOtpEmailChecked, sessionsTable, factor("otp_email_checked_at"));
sessions.onRow(ev.sessionRecoveryCodeChecked, sessionsTable, factor("mfa_recovery_code_checked_at"));
sessions.onRow(
  ev.sessionWebAuthNChecked,
  sessionsTable,
  update((_r, e) => ({ webauthn_checked_at: at(e.payload.checkedAt), webauthn_user_verified: e.payload.userVerified ?? false })),
);

sessions.onRow(
  ev.sessionTokenSet,
  sessionsTable,
  update((_r, e) => ({ token_id: e.payload.tokenID })),
);
sessions.onRow(
  ev.sessionMetadataSet,
  sessionsTable,
  update((_r, e) => {
    const m = e.payload.metadata;
    return { metadata: m ? Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.toString("base64")])) : null };
  }),
);
// Lifetime is a Go duration in nanoseconds; the expiration is counted from the event's time.
sessions.onRow(
  ev.sessionLifetimeSet,
  sessionsTable,
  update((_r, e) => ({ expiration: new Date(e.createdAt.getTime() + Math.floor(e.payload.lifetime / 1e6)) })),
);
// As in ZITADEL, a terminated session is deleted, not kept with state 2.
sessions.onRow(ev.sessionTerminated, sessionsTable, removeRow);

// --- cascades from the user aggregate ---------------------------------------------------------------

sessions.onSql([ev.userRemoved, ev.userLocked, ev.userDeactivated], (e) => [
  { text: "DELETE FROM sessions WHERE instance_id = $1 AND user_id = $2", values: [e.instanceId, e.aggregateId] },
]);
sessions.markRemoved(ev.userRemoved, "user");

// Password checks made before the change no longer prove the current password. Only that column
// changes: change_date and sequence belong to the session aggregate.
sessions.onSql(ev.userHumanPasswordChanged, (e) => [
  {
    text: "UPDATE sessions SET password_checked_at = NULL WHERE instance_id = $1 AND user_id = $2 AND password_checked_at < $3",
    values: [e.instanceId, e.aggregateId, e.createdAt],
  },
]);

// --- user lookup -------------------------------------------------------------------------------------

const newUser = (e: ev.EventEnvelope, username: string, displayName: string | null): SessionUserRow => ({
  ...created(sessionUsersTable, e),
  user_id: e.aggregateId,
  username,
  display_name: displayName,
});

sessions.onRow(
  [ev.userHumanAdded, ev.userHumanSelfRegistered],
  sessionUsersTable,
  (_row, e) => newUser(e, e.payload.userName, nullIfEmpty(e.payload.displayName)),
  { unlessRemoved: ownerTombstones },
);
// ZITADEL shows a display name for humans only (sessions join the humans table).
sessions.onRow(ev.userMachineAdded, sessionUsersTable, (_row, e) => newUser(e, e.payload.userName, null), { unlessRemoved: ownerTombstones });
sessions.onRow([ev.userUsernameChanged, ev.userDomainClaimed], sessionUsersTable, (row, e) =>
  row ? touched(row, e, { username: e.payload.userName }) : undefined,
);
sessions.onRow(ev.userHumanProfileChanged, sessionUsersTable, (row, e) =>
  row && e.payload.displayName != null ? touched(row, e, { display_name: nullIfEmpty(e.payload.displayName) }) : undefined,
);
sessions.onRow(ev.userRemoved, sessionUsersTable, removeRow);

// --- login-name inputs ------------------------------------------------------------------------------

// The preferred login name is computed at query time from these and session_users (as the users service
// does): a domain or policy change rewrites one lookup row, not every session of the org's users.
const loginNameInputs = declareLoginNameInputs(sessions, ownerTombstones);
export const sessionOrgDomainsTable = loginNameInputs.orgDomains;
export const sessionDomainPoliciesTable = loginNameInputs.domainPolicies;

// --- org and instance removal ------------------------------------------------------------------------

// Sessions belong to the instance and stay (ZITADEL's sessions8 ignores org.removed); the org's users
// leave the lookup as they leave the users read model.
sessions.onSql(ev.orgRemoved, (e) => [
  { text: "DELETE FROM session_users WHERE instance_id = $1 AND resource_owner = $2", values: [e.instanceId, e.aggregateId] },
  ...loginNameInputs.orgRemovedStatements(e),
]);
sessions.markRemoved(ev.orgRemoved, "org").cascadeInstanceRemoval();
