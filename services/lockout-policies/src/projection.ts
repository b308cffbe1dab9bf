// Lockout policies read model (ZITADEL lockout_policies3): one row for the instance default (id = instance
// id, is_default) and one per org with its own policy (id = org id). The effective policy of an org is
// its own row, else the default (resolved at query time, as ZITADEL's LockoutPolicyByOrg does).
// Cascades: org policy removed or org removed → the org's row goes; instance removed → everything goes.
import * as ev from "@idp/events";
import { type BaseRow, type FoldContext, Projection, type ProjectedEvent, anyRemoved, markRemoved, tombstone, touched } from "@idp/runtime";

export const PolicyState = { active: 1, removed: 2 } as const;

export interface LockoutPolicyRow extends BaseRow {
  id: string;
  creation_date: Date;
  state: number;
  is_default: boolean;
  max_password_attempts: number;
  max_otp_attempts: number;
  show_lockout_failures: boolean;
}

export const lockoutPolicies = new Projection("lockout_policies");

export const lockoutPoliciesTable = lockoutPolicies.table<LockoutPolicyRow>({
  name: "lockout_policies",
  key: ["instance_id", "id"],
  columns: {
    instance_id: "text",
    id: "text",
    resource_owner: "text",
    creation_date: "timestamptz",
    change_date: "timestamptz",
    sequence: "int8",
    state: "int2",
    is_default: "bool",
    max_password_attempts: "int8",
    max_otp_attempts: "int8",
    show_lockout_failures: "bool",
  },
});

// Multi-topic mode: an instance (or org) removal may be applied before a late "policy added" of another
// topic; the tombstones make that add a no-op, so no stale policy appears.
const instanceRef = (e: ProjectedEvent) => [tombstone("instance", e.instanceId, e.instanceId)];
const orgRefs = (e: ProjectedEvent) => [...instanceRef(e), tombstone("org", e.instanceId, e.aggregateId)];

type Added = ProjectedEvent<ev.PayloadOf<typeof ev.orgLockoutPolicyAdded>>;
type Changed = ProjectedEvent<ev.PayloadOf<typeof ev.orgLockoutPolicyChanged>>;

/** The policy's row is its aggregate's: the org, or the instance for the default. */
const added =
  (refs: (e: ProjectedEvent) => ReturnType<typeof instanceRef>) =>
  (row: LockoutPolicyRow | undefined, e: Added, ctx: FoldContext): LockoutPolicyRow | undefined => {
    // A second add for the same owner: ZITADEL's INSERT would fail, so the first one stays.
    if (row || anyRemoved(ctx, refs(e))) return undefined;
    return {
      instance_id: e.instanceId,
      id: e.aggregateId,
      resource_owner: e.resourceOwner,
      creation_date: e.createdAt,
      change_date: e.createdAt,
      sequence: e.aggregateSequence,
      state: PolicyState.active,
      is_default: e.aggregateType === "instance",
      max_password_attempts: e.payload.maxPasswordAttempts,
      max_otp_attempts: e.payload.maxOTPAttempts ?? 0,
      show_lockout_failures: e.payload.showLockOutFailures,
    };
  };

/** Only the fields present change; change date and sequence are stamped as in ZITADEL's UPDATE. */
function changed(row: LockoutPolicyRow | undefined, e: Changed): LockoutPolicyRow | undefined {
  if (!row) return undefined;
  const p = e.payload;
  const patch: Partial<LockoutPolicyRow> = {};
  if (p.maxPasswordAttempts != null) patch.max_password_attempts = p.maxPasswordAttempts;
  if (p.maxOTPAttempts != null) patch.max_otp_attempts = p.maxOTPAttempts;
  if (p.showLockOutFailures != null) patch.show_lockout_failures = p.showLockOutFailures;
  return touched(row, e, patch);
}

lockoutPolicies.onRow(ev.instanceLockoutPolicyAdded, lockoutPoliciesTable, added(instanceRef), { reads: instanceRef });
lockoutPolicies.onRow(ev.orgLockoutPolicyAdded, lockoutPoliciesTable, added(orgRefs), { reads: orgRefs });
lockoutPolicies.onRow(ev.instanceLockoutPolicyChanged, lockoutPoliciesTable, changed);
lockoutPolicies.onRow(ev.orgLockoutPolicyChanged, lockoutPoliciesTable, changed);
// The org falls back to the instance default.
lockoutPolicies.onRow(ev.orgLockoutPolicyRemoved, lockoutPoliciesTable, (row) => (row ? null : undefined));

// --- cascades ----------------------------------------------------------------------------------------

// ZITADEL deletes WHERE resource_owner = org; the org's only row here is its policy (id = org id, owned
// by the org), so this is a single-row delete that stays in the batch's fold.
lockoutPolicies.onRow(ev.orgRemoved, lockoutPoliciesTable, (row) => (row && !row.is_default ? null : undefined));
markRemoved(lockoutPolicies, ev.orgRemoved, "org");
markRemoved(lockoutPolicies, ev.instanceRemoved, "instance");
lockoutPolicies.onSql(ev.instanceRemoved, (e) => [{ text: "DELETE FROM lockout_policies WHERE instance_id = $1", values: [e.instanceId] }]);
