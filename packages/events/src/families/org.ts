// Org and instance events that several read models react to (removal cascades, login-name inputs).
import { field, optional } from "../avro.ts";
import { defineEvent } from "../define.ts";

export const orgRemoved = defineEvent({ type: "org.removed", aggregateType: "org", fields: [] });
export const instanceRemoved = defineEvent({ type: "instance.removed", aggregateType: "instance", fields: [] });

export const orgDomainVerified = defineEvent({
  type: "org.domain.verified",
  aggregateType: "org",
  fields: [field("domain", "string")],
});
export const orgDomainPrimarySet = defineEvent({
  type: "org.domain.primary.set",
  aggregateType: "org",
  fields: [field("domain", "string")],
});
export const orgDomainRemoved = defineEvent({
  type: "org.domain.removed",
  aggregateType: "org",
  fields: [field("domain", "string")],
});

// Domain policy: whether login names must be `user@verified-org-domain`.
const domainPolicyAdded = [
  field("userLoginMustBeDomain", "boolean"),
  optional("validateOrgDomains", "boolean"),
  optional("smtpSenderAddressMatchesInstanceDomain", "boolean"),
] as const;
const domainPolicyChanged = [
  optional("userLoginMustBeDomain", "boolean"),
  optional("validateOrgDomains", "boolean"),
  optional("smtpSenderAddressMatchesInstanceDomain", "boolean"),
] as const;

export const orgDomainPolicyAdded = defineEvent({
  type: "org.policy.domain.added",
  aggregateType: "org",
  fields: domainPolicyAdded,
});
export const orgDomainPolicyChanged = defineEvent({
  type: "org.policy.domain.changed",
  aggregateType: "org",
  fields: domainPolicyChanged,
});
export const orgDomainPolicyRemoved = defineEvent({
  type: "org.policy.domain.removed",
  aggregateType: "org",
  fields: [],
});
export const instanceDomainPolicyAdded = defineEvent({
  type: "instance.policy.domain.added",
  aggregateType: "instance",
  fields: domainPolicyAdded,
});
export const instanceDomainPolicyChanged = defineEvent({
  type: "instance.policy.domain.changed",
  aggregateType: "instance",
  fields: domainPolicyChanged,
});

export const orgEvents = [
  orgRemoved,
  instanceRemoved,
  orgDomainVerified,
  orgDomainPrimarySet,
  orgDomainRemoved,
  orgDomainPolicyAdded,
  orgDomainPolicyChanged,
  orgDomainPolicyRemoved,
  instanceDomainPolicyAdded,
  instanceDomainPolicyChanged,
] as const;
