// Lockout policies read model (ZITADEL lockout_policies3): one row for the instance default (id = instance
// id, is_default) and one per org with its own policy (id = org id). The effective policy of an org is
// its own row, else the default (resolved at query time, as ZITADEL's LockoutPolicyByOrg does).
// Cascades: org policy removed or org removed → the org's row goes; instance removed → everything goes.
import * as ev from "@idp/events";
import { aggregateColumns, col, created, instanceTombstone, type ProjectedEvent, Projection, type RowOf, removeRow, tombstone, touched } from "@idp/runtime";

export const PolicyState = { active: 1, removed: 2 } as const;

export const lockoutPolicies = new Projection("lockout_policies");

export const lockoutPoliciesTable = lockoutPolicies.table({
  name: "lockout_policies",
  key: ["instance_id", "id"],
  columns: {
    ...aggregateColumns,
    state: col.int2,
    is_default: col.bool,
    max_password_attempts: col.int8,
    max_otp_attempts: col.int8,
    show_lockout_failures: col.bool,
  },
});
export type LockoutPolicyRow = RowOf<typeof lockoutPoliciesTable>;

// Multi-topic mode: an instance (or org) removal may be applied before a late "policy added" of another
// topic; the tombstones make that add a no-op, so no stale policy appears.
const orgTombstones = (e: ev.EventEnvelope) => [...instanceTombstone(e), tombstone("org", e.instanceId, e.aggregateId)];

type Added = ProjectedEvent<ev.PayloadOf<typeof ev.orgLockoutPolicyAdded>>;
type Changed = ProjectedEvent<ev.PayloadOf<typeof ev.orgLockoutPolicyChanged>>;

/** The policy's row is its aggregate's: the org, or the instance for the default. */
function added(row: LockoutPolicyRow | undefined, e: Added): LockoutPolicyRow | undefined {
  // A second add for the same owner: ZITADEL's INSERT would fail, so the first one stays.
  if (row) return undefined;
  return {
    ...created(lockoutPoliciesTable, e),
    id: e.aggregateId,
    state: PolicyState.active,
    is_default: e.aggregateType === "instance",
    max_password_attempts: e.payload.maxPasswordAttempts,
    max_otp_attempts: e.payload.maxOTPAttempts ?? 0,
    show_lockout_failures: e.payload.showLockOutFailures,
  };
}

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

lockoutPolicies.onRow(ev.instanceLockoutPolicyAdded, lockoutPoliciesTable, added, { unlessRemoved: instanceTombstone });
lockoutPolicies.onRow(ev.orgLockoutPolicyAdded, lockoutPoliciesTable, added, { unlessRemoved: orgTombstones });
lockoutPolicies.onRow(ev.instanceLockoutPolicyChanged, lockoutPoliciesTable, changed);
lockoutPolicies.onRow(ev.orgLockoutPolicyChanged, lockoutPoliciesTable, changed);
// The org falls back to the instance default.
lockoutPolicies.onRow(ev.orgLockoutPolicyRemoved, lockoutPoliciesTable, removeRow);

// --- cascades ----------------------------------------------------------------------------------------

// ZITADEL deletes WHERE resource_owner = org; the org's only row here is its policy (id = org id, owned
// by the org), so this is a single-row delete that stays in the batch's fold.
lockoutPolicies.onRow(ev.orgRemoved, lockoutPoliciesTable, (row) => (row && !row.is_default ? null : undefined));
lockoutPolicies.markRemoved(ev.orgRemoved, "org").cascadeInstanceRemoval();
