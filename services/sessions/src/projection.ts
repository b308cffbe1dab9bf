// Sessions read model (ZITADEL sessions8): one row per session with the user check, the time of each
// factor check, the token id, metadata, user agent and expiration; plus a small lookup of the users'
// names (fed by user events) so the API can show who a session belongs to without calling the users
// service. Cascades: user removed / locked / deactivated delete the user's sessions, a password change
// invalidates older password checks, instance removed deletes everything.
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

export const SessionState = { active: 1, terminated: 2 } as const;

export interface SessionRow extends BaseRow {
  id: string;
  creation_date: Date;
  state: number;
  creator: string;
  user_id: string | null;
  user_resource_owner: string | null;
  user_checked_at: Date | null;
  password_checked_at: Date | null;
  intent_checked_at: Date | null;
  webauthn_checked_at: Date | null;
  webauthn_user_verified: boolean | null;
  totp_checked_at: Date | null;
  otp_sms_checked_at: Date | null;
  otp_email_checked_at: Date | null;
  mfa_recovery_code_checked_at: Date | null;
  /** key → base64 value, as ZITADEL serialises the []byte values. */
  metadata: Record<string, string> | null;
  /** Id of the current session token; the token itself is never in the stream nor here. */
  token_id: string | null;
  user_agent_fingerprint_id: string | null;
  user_agent_ip: string | null;
  user_agent_description: string | null;
  user_agent_header: Record<string, string[]> | null;
  expiration: Date | null;
}

/** What sessions show of a user (ZITADEL joins users/humans/login names at query time). */
export interface SessionUserRow extends BaseRow {
  user_id: string;
  username: string;
  display_name: string | null;
}

export const sessions = new Projection("sessions");

export const sessionsTable = sessions.table<SessionRow>({
  name: "sessions",
  key: ["instance_id", "id"],
  columns: {
    instance_id: "text",
    id: "text",
    resource_owner: "text",
    creation_date: "timestamptz",
    change_date: "timestamptz",
    sequence: "int8",
    state: "int2",
    creator: "text",
    user_id: "text",
    user_resource_owner: "text",
    user_checked_at: "timestamptz",
    password_checked_at: "timestamptz",
    intent_checked_at: "timestamptz",
    webauthn_checked_at: "timestamptz",
    webauthn_user_verified: "bool",
    totp_checked_at: "timestamptz",
    otp_sms_checked_at: "timestamptz",
    otp_email_checked_at: "timestamptz",
    mfa_recovery_code_checked_at: "timestamptz",
    metadata: "jsonb",
    token_id: "text",
    user_agent_fingerprint_id: "text",
    user_agent_ip: "text",
    user_agent_description: "text",
    user_agent_header: "jsonb",
    expiration: "timestamptz",
  },
});

export const sessionUsersTable = sessions.table<SessionUserRow>({
  name: "session_users",
  key: ["instance_id", "user_id"],
  columns: {
    instance_id: "text",
    user_id: "text",
    resource_owner: "text",
    change_date: "timestamptz",
    sequence: "int8",
    username: "text",
    display_name: "text",
  },
});

const text = (v: string | null | undefined) => (v ? v : null);

// Multi-topic mode: a removal may be applied before a late event of the removed entity; tombstones turn
// such an event into a no-op (or, for a session's user check, into the deletion the removal implies).
const instanceRef = (e: ProjectedEvent) => [tombstone("instance", e.instanceId, e.instanceId)];
const ownerRefs = (e: ProjectedEvent) => [...instanceRef(e), tombstone("org", e.instanceId, e.resourceOwner)];
function unless<Row extends BaseRow, E extends ProjectedEvent>(
  refs: (e: ProjectedEvent) => RowRef[],
  apply: (row: Row | undefined, e: E) => RowResult<Row>,
) {
  return (row: Row | undefined, e: E, ctx: FoldContext): RowResult<Row> => (anyRemoved(ctx, refs(e)) ? undefined : apply(row, e));
}

// --- sessions ----------------------------------------------------------------------------------------

sessions.onRow(
  ev.sessionAdded,
  sessionsTable,
  unless(instanceRef, (_row, e) => {
    const ua = e.payload.user_agent;
    return {
      instance_id: e.instanceId,
      id: e.aggregateId,
      resource_owner: e.resourceOwner,
      creation_date: e.createdAt,
      change_date: e.createdAt,
      sequence: e.aggregateSequence,
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
      user_agent_fingerprint_id: text(ua?.fingerprint_id),
      user_agent_ip: text(ua?.ip),
      user_agent_description: text(ua?.description),
      user_agent_header: ua?.header ?? null,
      expiration: null,
    };
  }),
  { reads: instanceRef },
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

const factor = (column: keyof SessionRow) => update<ProjectedEvent>((_r, e) => ({ [column]: at((e.payload as { checkedAt: number }).checkedAt) }));
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

sessions.onRow(ev.sessionTokenSet, sessionsTable, update((_r, e) => ({ token_id: e.payload.tokenID })));
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
sessions.onRow(ev.sessionTerminated, sessionsTable, (row) => (row ? null : undefined));

// --- cascades from the user aggregate ---------------------------------------------------------------

sessions.onSql([ev.userRemoved, ev.userLocked, ev.userDeactivated], (e) => [
  { text: "DELETE FROM sessions WHERE instance_id = $1 AND user_id = $2", values: [e.instanceId, e.aggregateId] },
]);
markRemoved(sessions, ev.userRemoved, "user");

// Password checks made before the change no longer prove the current password. Only that column
// changes: change_date and sequence belong to the session aggregate.
sessions.onSql(ev.userHumanPasswordChanged, (e) => [
  {
    text: "UPDATE sessions SET password_checked_at = NULL WHERE instance_id = $1 AND user_id = $2 AND password_checked_at < $3",
    values: [e.instanceId, e.aggregateId, e.createdAt],
  },
]);

// --- user lookup -------------------------------------------------------------------------------------

const newUser = (e: ProjectedEvent, username: string, displayName: string | null): SessionUserRow => ({
  instance_id: e.instanceId,
  user_id: e.aggregateId,
  resource_owner: e.resourceOwner,
  change_date: e.createdAt,
  sequence: e.aggregateSequence,
  username,
  display_name: displayName,
});

sessions.onRow(
  [ev.userHumanAdded, ev.userHumanSelfRegistered],
  sessionUsersTable,
  unless(ownerRefs, (_row, e) => {
    const p = e.payload as ev.PayloadOf<typeof ev.userHumanAdded>;
    return newUser(e, p.userName, text(p.displayName));
  }),
  { reads: ownerRefs },
);
// ZITADEL shows a display name for humans only (sessions join the humans table).
sessions.onRow(ev.userMachineAdded, sessionUsersTable, unless(ownerRefs, (_row, e) => newUser(e, e.payload.userName, null)), { reads: ownerRefs });
sessions.onRow(
  [ev.userUsernameChanged, ev.userDomainClaimed],
  sessionUsersTable,
  (row, e) => (row ? touched(row, e, { username: (e.payload as { userName: string }).userName }) : undefined),
);
sessions.onRow(
  ev.userHumanProfileChanged,
  sessionUsersTable,
  (row, e) => (row && e.payload.displayName != null ? touched(row, e, { display_name: text(e.payload.displayName) }) : undefined),
);
sessions.onRow(ev.userRemoved, sessionUsersTable, (row) => (row ? null : undefined));

// --- org and instance removal ------------------------------------------------------------------------

// Sessions belong to the instance and stay (ZITADEL's sessions8 ignores org.removed); the org's users
// leave the lookup as they leave the users read model.
sessions.onSql(ev.orgRemoved, (e) => [
  { text: "DELETE FROM session_users WHERE instance_id = $1 AND resource_owner = $2", values: [e.instanceId, e.aggregateId] },
]);
markRemoved(sessions, ev.orgRemoved, "org");
markRemoved(sessions, ev.instanceRemoved, "instance");
sessions.onSql(ev.instanceRemoved, (e) =>
  ["sessions", "session_users"].map((t) => ({ text: `DELETE FROM ${t} WHERE instance_id = $1`, values: [e.instanceId] })),
);
