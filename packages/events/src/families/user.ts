// User aggregate events (aggregate type `user`), fields as in ZITADEL's internal/repository/user.
import { field, optional } from "../avro.ts";
import { defineEvent } from "../define.ts";

const humanProfileV1 = [
  field("userName", "string"),
  field("firstName", "string"),
  field("lastName", "string"),
  optional("nickName", "string"),
  optional("displayName", "string"),
  optional("preferredLanguage", "string"),
  optional("gender", "int"),
  field("email", "string"),
  optional("phone", "string"),
  optional("country", "string"),
  optional("locality", "string"),
  optional("postalCode", "string"),
  optional("region", "string"),
  optional("streetAddress", "string"),
  field("changeRequired", "boolean"),
] as const;
// v2 appended the password hash (ZITADEL's `encodedHash`): a user created with a password.
const humanProfileV2 = [...humanProfileV1, optional("encodedHash", "string")] as const;

export const userHumanAdded = defineEvent({
  type: "user.human.added",
  aliases: ["user.added"],
  aggregateType: "user",
  previousVersions: [humanProfileV1],
  fields: humanProfileV2,
});
export const userHumanSelfRegistered = defineEvent({
  type: "user.human.selfregistered",
  aliases: ["user.selfregistered"],
  aggregateType: "user",
  previousVersions: [humanProfileV1],
  fields: [...humanProfileV2, optional("userAgentID", "string")],
});
export const userHumanInitCodeAdded = defineEvent({
  type: "user.human.initialization.code.added",
  aliases: ["user.initialization.code.added"],
  aggregateType: "user",
  fields: [optional("expiry", "long"), optional("triggerOrigin", "string"), optional("authRequestID", "string")],
});
export const userHumanInitCheckSucceeded = defineEvent({
  type: "user.human.initialization.check.succeeded",
  aliases: ["user.initialization.check.succeeded"],
  aggregateType: "user",
  fields: [],
});

const noPayload = <const T extends string>(type: T, aliases: string[] = []) => defineEvent({ type, aliases, aggregateType: "user", fields: [] });

export const userLocked = noPayload("user.locked");
export const userUnlocked = noPayload("user.unlocked");
export const userDeactivated = noPayload("user.deactivated");
export const userReactivated = noPayload("user.reactivated");
export const userRemoved = noPayload("user.removed");

export const userUsernameChanged = defineEvent({
  type: "user.username.changed",
  aggregateType: "user",
  fields: [field("userName", "string")],
});
export const userDomainClaimed = defineEvent({
  type: "user.domain.claimed",
  aggregateType: "user",
  fields: [field("userName", "string"), optional("triggerOrigin", "string")],
});
export const userHumanProfileChanged = defineEvent({
  type: "user.human.profile.changed",
  aliases: ["user.profile.changed"],
  aggregateType: "user",
  // All optional: absent means "unchanged" (ZITADEL uses pointer fields for the last four).
  fields: [
    optional("firstName", "string"),
    optional("lastName", "string"),
    optional("nickName", "string"),
    optional("displayName", "string"),
    optional("preferredLanguage", "string"),
    optional("gender", "int"),
  ],
});
export const userHumanEmailChanged = defineEvent({
  type: "user.human.email.changed",
  aliases: ["user.email.changed"],
  aggregateType: "user",
  fields: [field("email", "string")],
});
export const userHumanEmailVerified = noPayload("user.human.email.verified", ["user.email.verified"]);
export const userHumanPhoneChanged = defineEvent({
  type: "user.human.phone.changed",
  aliases: ["user.phone.changed"],
  aggregateType: "user",
  fields: [field("phone", "string")],
});
export const userHumanPhoneRemoved = noPayload("user.human.phone.removed", ["user.phone.removed"]);
export const userHumanPhoneVerified = noPayload("user.human.phone.verified", ["user.phone.verified"]);
export const userHumanAvatarAdded = defineEvent({
  type: "user.human.avatar.added",
  aggregateType: "user",
  fields: [field("storeKey", "string")],
});
export const userHumanAvatarRemoved = noPayload("user.human.avatar.removed");
export const userHumanPasswordChanged = defineEvent({
  type: "user.human.password.changed",
  aggregateType: "user",
  fields: [optional("encodedHash", "string"), field("changeRequired", "boolean"), optional("userAgentID", "string"), optional("triggerOrigin", "string")],
});

export const userMachineAdded = defineEvent({
  type: "user.machine.added",
  aggregateType: "user",
  fields: [field("userName", "string"), field("name", "string"), optional("description", "string"), optional("accessTokenType", "int")],
});
export const userMachineChanged = defineEvent({
  type: "user.machine.changed",
  aggregateType: "user",
  fields: [optional("name", "string"), optional("description", "string"), optional("accessTokenType", "int")],
});
export const userMachineSecretSet = defineEvent({
  type: "user.machine.secret.set",
  aggregateType: "user",
  fields: [optional("hashedSecret", "string")],
});
export const userMachineSecretUpdated = defineEvent({
  type: "user.machine.secret.updated",
  aggregateType: "user",
  fields: [field("hashedSecret", "string")],
});
export const userMachineSecretRemoved = noPayload("user.machine.secret.removed");

// MFA events the users read model reacts to (mfa_init_skipped). Auth-method payloads that other
// projections need are declared with those projections' families.
export const userHumanMfaOtpVerified = defineEvent({
  type: "user.human.mfa.otp.verified",
  aliases: ["user.mfa.otp.verified"],
  aggregateType: "user",
  fields: [optional("userAgentID", "string")],
});
export const userHumanMfaOtpSmsAdded = noPayload("user.human.mfa.otp.sms.added");
export const userHumanMfaOtpEmailAdded = noPayload("user.human.mfa.otp.email.added");
const webAuthnVerifiedFields = [
  field("webAuthNTokenId", "string"),
  optional("keyId", "bytes"),
  optional("publicKey", "bytes"),
  optional("attestationType", "string"),
  optional("aaguid", "bytes"),
  optional("signCount", "long"),
  optional("webAuthNTokenName", "string"),
  optional("userAgentID", "string"),
] as const;
export const userHumanU2fTokenVerified = defineEvent({
  type: "user.human.mfa.u2f.token.verified",
  aggregateType: "user",
  fields: webAuthnVerifiedFields,
});
export const userHumanPasswordlessTokenVerified = defineEvent({
  type: "user.human.passwordless.token.verified",
  aggregateType: "user",
  fields: webAuthnVerifiedFields,
});
export const userHumanMfaInitSkipped = noPayload("user.human.mfa.init.skipped", ["user.mfa.otp.init.skipped"]);

export const userEvents = [
  userHumanAdded,
  userHumanSelfRegistered,
  userHumanInitCodeAdded,
  userHumanInitCheckSucceeded,
  userLocked,
  userUnlocked,
  userDeactivated,
  userReactivated,
  userRemoved,
  userUsernameChanged,
  userDomainClaimed,
  userHumanProfileChanged,
  userHumanEmailChanged,
  userHumanEmailVerified,
  userHumanPhoneChanged,
  userHumanPhoneRemoved,
  userHumanPhoneVerified,
  userHumanAvatarAdded,
  userHumanAvatarRemoved,
  userHumanPasswordChanged,
  userMachineAdded,
  userMachineChanged,
  userMachineSecretSet,
  userMachineSecretUpdated,
  userMachineSecretRemoved,
  userHumanMfaOtpVerified,
  userHumanMfaOtpSmsAdded,
  userHumanMfaOtpEmailAdded,
  userHumanU2fTokenVerified,
  userHumanPasswordlessTokenVerified,
  userHumanMfaInitSkipped,
] as const;
