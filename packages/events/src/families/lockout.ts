// Lockout policy events: the instance default (aggregate `instance`, owner = instance id) and org
// overrides (aggregate `org`), fields as in ZITADEL's internal/repository/policy (LockoutPolicy*Event).
// There is no instance-level "removed" event. The attempt counts are Go uint64 (Avro long).
import { field, optional } from "../avro.ts";
import { defineEvent } from "../define.ts";

const lockoutPolicyAdded = [
  field("maxPasswordAttempts", "long"),
  // Added to ZITADEL with OTP lockout; events written before that lack it (read as 0).
  optional("maxOTPAttempts", "long"),
  field("showLockOutFailures", "boolean"),
] as const;
// Changed events carry only what changed.
const lockoutPolicyChanged = [optional("maxPasswordAttempts", "long"), optional("maxOTPAttempts", "long"), optional("showLockOutFailures", "boolean")] as const;

export const orgLockoutPolicyAdded = defineEvent({
  type: "org.policy.lockout.added",
  aggregateType: "org",
  fields: lockoutPolicyAdded,
});
export const orgLockoutPolicyChanged = defineEvent({
  type: "org.policy.lockout.changed",
  aggregateType: "org",
  fields: lockoutPolicyChanged,
});
export const orgLockoutPolicyRemoved = defineEvent({
  type: "org.policy.lockout.removed",
  aggregateType: "org",
  fields: [],
});
export const instanceLockoutPolicyAdded = defineEvent({
  type: "instance.policy.lockout.added",
  aggregateType: "instance",
  fields: lockoutPolicyAdded,
});
export const instanceLockoutPolicyChanged = defineEvent({
  type: "instance.policy.lockout.changed",
  aggregateType: "instance",
  fields: lockoutPolicyChanged,
});

export const lockoutEvents = [
  orgLockoutPolicyAdded,
  orgLockoutPolicyChanged,
  orgLockoutPolicyRemoved,
  instanceLockoutPolicyAdded,
  instanceLockoutPolicyChanged,
] as const;
